package lambdazip

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aixgo-dev/agentship/pipeline"
)

const agentMain = `package main

var Version = "dev"

func main() { println("agent", Version) }
`

// agentRepo writes a small agent module with a config tree that has a
// nested directory and an executable script, and returns its plan.
func agentRepo(t *testing.T, arch string) *pipeline.Plan {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":             "module example.com/zipagent\n\ngo 1.26\n",
		"main.go":            agentMain,
		"config/agent.json":  `{"name":"zipper"}` + "\n",
		"config/sub/x.txt":   "nested\n",
		"config/run.sh":      "#!/bin/sh\necho hi\n",
		"config/.hidden.txt": "kept\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	r, err := pipeline.Resolve(pipeline.Agent{Dir: dir, Version: "v1.2.3", Commit: "abc123", LambdaArch: arch})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.MakePlan(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var bootstraps sync.Map // arch -> path, built once per test binary

// bootstrapFor builds the plan's Lambda build (its env, flags and package)
// once per architecture, into a directory shared by the tests.
func bootstrapFor(t *testing.T, p *pipeline.Plan) string {
	t.Helper()
	if v, ok := bootstraps.Load(p.Lambda.Arch); ok {
		return v.(string)
	}
	out := filepath.Join(sharedDir(t), "bootstrap-"+p.Lambda.Arch)
	argv := p.Lambda.Build.Argv(out)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), p.Lambda.Build.Env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, b)
	}
	bootstraps.Store(p.Lambda.Arch, out)
	return out
}

var (
	shared     string
	sharedOnce sync.Once
)

func sharedDir(t *testing.T) string {
	sharedOnce.Do(func() {
		d, err := os.MkdirTemp("", "lambdazip-test-")
		if err != nil {
			t.Fatal(err)
		}
		shared = d
	})
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != "" {
		os.RemoveAll(shared)
	}
	os.Exit(code)
}

func build(t *testing.T, p *pipeline.Plan) Info {
	t.Helper()
	info, err := Build("", p, bootstrapFor(t, p))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func openZip(t *testing.T, path string) *zip.ReadCloser {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zr.Close() })
	return zr
}

func TestBootstrapIsExecutableInExternalAttributes(t *testing.T) {
	p := agentRepo(t, "amd64")
	info := build(t, p)
	if want := filepath.Join(p.Dir, "dist", "zipagent-lambda-amd64.zip"); info.Path != want {
		t.Fatalf("path %s, want %s", info.Path, want)
	}
	zr := openZip(t, info.Path)
	var found bool
	for _, f := range zr.File {
		if f.Name != "bootstrap" {
			continue
		}
		found = true
		if got := f.CreatorVersion >> 8; got != 3 {
			t.Errorf("bootstrap creator %d, want 3 (Unix): Lambda ignores the mode otherwise", got)
		}
		if got := f.ExternalAttrs >> 16; got != 0o100755 {
			t.Errorf("bootstrap external attributes %o, want 100755 (S_IFREG|0755)", got)
		}
	}
	if !found {
		t.Fatal("no bootstrap in the zip")
	}
	if err := Verify(info.Path); err != nil {
		t.Fatal(err)
	}

	// An independent reader: Info-ZIP's zipinfo shows what unzip will do.
	zipinfo, err := exec.LookPath("zipinfo")
	if err != nil {
		t.Log("zipinfo not installed; external attributes checked with archive/zip only")
		return
	}
	out, err := exec.Command(zipinfo, info.Path).CombinedOutput()
	if err != nil {
		t.Fatalf("zipinfo: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(line, " bootstrap") {
			if !strings.HasPrefix(line, "-rwxr-xr-x") || !strings.Contains(line, " unx ") {
				t.Fatalf("zipinfo shows bootstrap as %q, want -rwxr-xr-x ... unx", line)
			}
			return
		}
	}
	t.Fatalf("zipinfo does not list bootstrap:\n%s", out)
}

func TestEntriesSortedWithModes(t *testing.T) {
	p := agentRepo(t, "amd64")
	info := build(t, p)
	entries, err := Inspect(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	type nm struct {
		Name string
		Mode fs.FileMode
	}
	var got []nm
	for _, e := range entries {
		got = append(got, nm{e.Name, e.Mode})
		if e.ExtraLen != 0 {
			t.Errorf("%s has %d bytes of extra fields", e.Name, e.ExtraLen)
		}
		wantMethod := zip.Deflate
		if e.Mode.IsDir() {
			wantMethod = zip.Store
		}
		if e.Method != wantMethod {
			t.Errorf("%s method %d, want %d", e.Name, e.Method, wantMethod)
		}
	}
	want := []nm{
		{"bootstrap", 0o755},
		{"config/", fs.ModeDir | 0o755},
		{"config/.hidden.txt", 0o644},
		{"config/agent.json", 0o644},
		{"config/run.sh", 0o755}, // executable on the host, so kept executable
		{"config/sub/", fs.ModeDir | 0o755},
		{"config/sub/x.txt", 0o644},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("entries\n got %v\nwant %v", got, want)
	}
}

func TestConfigFilesIncluded(t *testing.T) {
	p := agentRepo(t, "amd64")
	info := build(t, p)
	dir := t.TempDir()
	if err := Extract(info.Path, dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config/agent.json", "config/sub/x.txt", "config/run.sh", "config/.hidden.txt"} {
		want, err := os.ReadFile(filepath.Join(p.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s not extracted: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o755 {
		t.Fatalf("extracted bootstrap mode %v, want 0755", st.Mode())
	}
	want, _ := os.ReadFile(bootstrapFor(t, p))
	got, _ := os.ReadFile(filepath.Join(dir, "bootstrap"))
	if !bytes.Equal(got, want) {
		t.Fatal("extracted bootstrap differs from the built one")
	}
}

func TestNoConfigDir(t *testing.T) {
	p := agentRepo(t, "amd64")
	p.Lambda.ZipFiles = p.Lambda.ZipFiles[:1]
	info := build(t, p)
	entries, err := Inspect(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name != "bootstrap" {
		t.Fatalf("entries %+v, want only bootstrap", entries)
	}
}

func TestTwoBuildsByteIdentical(t *testing.T) {
	p := agentRepo(t, "amd64")
	first := build(t, p)
	firstBytes, err := os.ReadFile(first.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(firstBytes)
	if first.SHA256 != hex.EncodeToString(sum[:]) || first.Size != int64(len(firstBytes)) {
		t.Fatalf("info %+v does not describe the file (sha256 %x, size %d)", first, sum, len(firstBytes))
	}

	// Host mtimes, a second output path and the clock must not matter.
	later := time.Now().Add(time.Hour)
	filepath.WalkDir(filepath.Join(p.Dir, "config"), func(path string, d fs.DirEntry, err error) error {
		return os.Chtimes(path, later, later)
	})
	os.Chtimes(bootstrapFor(t, p), later, later)
	second, err := Build(filepath.Join(t.TempDir(), "again.zip"), p, bootstrapFor(t, p))
	if err != nil {
		t.Fatal(err)
	}
	secondBytes, _ := os.ReadFile(second.Path)
	if second.SHA256 != first.SHA256 || !bytes.Equal(firstBytes, secondBytes) {
		t.Fatalf("two builds differ: %s and %s", first.SHA256, second.SHA256)
	}
	t.Logf("zip %d bytes, sha256 %s (twice)", first.Size, first.SHA256)

	if got, want := first.CodeSHA256(), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Fatalf("CodeSHA256 %s, want %s", got, want)
	}
	if first.Digest() != "sha256:"+first.SHA256 {
		t.Fatalf("Digest %s", first.Digest())
	}
}

func TestTimestamps(t *testing.T) {
	for _, tc := range []struct {
		created, want time.Time
	}{
		// The Unix epoch (no git, no SOURCE_DATE_EPOCH) is below the
		// format's minimum.
		{time.Unix(0, 0), time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2024, 5, 6, 7, 8, 9, 500, time.UTC), time.Date(2024, 5, 6, 7, 8, 8, 0, time.UTC)},
		{time.Date(2024, 5, 6, 9, 8, 10, 0, time.FixedZone("CEST", 2*3600)), time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)},
		{time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)},
	} {
		if got := DOSTime(tc.created); !got.Equal(tc.want) {
			t.Errorf("DOSTime(%s) = %s, want %s", tc.created, got, tc.want)
		}
	}

	p := agentRepo(t, "amd64")
	for _, created := range []time.Time{time.Unix(0, 0).UTC(), time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)} {
		p.Created = created
		info := build(t, p)
		entries, err := Inspect(info.Path)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.Modified.Equal(DOSTime(created)) {
				t.Errorf("created %s: %s modified %s, want %s", created, e.Name, e.Modified, DOSTime(created))
			}
		}
	}
}

func TestMissingBootstrap(t *testing.T) {
	p := agentRepo(t, "amd64")
	_, err := Build("", p, filepath.Join(p.Dir, p.Lambda.Build.Output))
	if err == nil {
		t.Fatal("no error for a missing bootstrap")
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "bootstrap") || !strings.Contains(msg, "missing") {
		t.Fatalf("error %q is not one line saying the bootstrap is missing", msg)
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "dist")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dist/ exists after a failed build (%v)", err)
	}
}

func TestWrongOrUnknownArch(t *testing.T) {
	p := agentRepo(t, "arm64")
	arm := bootstrapFor(t, p)
	p.Lambda.Arch = "amd64"
	_, err := Build("", p, arm)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "not amd64") {
		t.Fatalf("an arm64 bootstrap in an amd64 zip: err = %v", err)
	}
	p.Lambda.Arch = "riscv64"
	_, err = Build("", p, arm)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "unknown Lambda architecture") {
		t.Fatalf("unknown arch: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "dist")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dist/ exists after failed builds (%v)", err)
	}
}

func TestSpecialFileInConfigRefused(t *testing.T) {
	p := agentRepo(t, "amd64")
	info := build(t, p)
	before, _ := os.ReadFile(info.Path)
	if err := syscall.Mkfifo(filepath.Join(p.Dir, "config", "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := Build("", p, bootstrapFor(t, p))
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v, want a FIFO refused", err)
	}
	after, _ := os.ReadFile(info.Path)
	if !bytes.Equal(before, after) {
		t.Fatal("a failed build changed the previous zip")
	}
}

func TestWriteIsAtomic(t *testing.T) {
	base := t.TempDir()
	out := filepath.Join(base, "dist", "sub", "x.zip")
	fail := errors.New("disk on fire")
	_, err := writeAtomic(out, func(w io.Writer) error {
		w.Write([]byte("half a zip"))
		return fail
	})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v", err)
	}
	if left, _ := os.ReadDir(base); len(left) != 0 {
		t.Fatalf("a failed write left %v behind", left)
	}

	// An existing zip stays whole until the new one is complete.
	if _, err := writeAtomic(out, func(w io.Writer) error { _, err := w.Write([]byte("old")); return err }); err != nil {
		t.Fatal(err)
	}
	_, err = writeAtomic(out, func(w io.Writer) error {
		w.Write([]byte("new but broken"))
		if b, _ := os.ReadFile(out); string(b) != "old" {
			t.Errorf("during the write the zip reads %q, want the old one", b)
		}
		return fail
	})
	if err == nil {
		t.Fatal("no error")
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Fatalf("after a failed write the zip reads %q, want the old one", b)
	}
	left, _ := os.ReadDir(filepath.Dir(out))
	if len(left) != 1 || left[0].Name() != "x.zip" {
		t.Fatalf("temp files left: %v", left)
	}
	st, _ := os.Stat(out)
	if st.Mode().Perm() != 0o644 {
		t.Fatalf("zip mode %v, want 0644", st.Mode())
	}
}

func TestVerifyCatchesAZipWithoutUnixModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain.zip")
	f, _ := os.Create(path)
	zw := zip.NewWriter(f)
	w, _ := zw.Create("bootstrap") // what many zip tools do on Windows
	w.Write([]byte("x"))
	zw.Close()
	f.Close()
	err := Verify(path)
	if err == nil || !strings.Contains(err.Error(), "no Unix mode") {
		t.Fatalf("err = %v", err)
	}
}

func TestExtractRefusesEscapingNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evil.zip")
	f, _ := os.Create(path)
	zw := zip.NewWriter(f)
	w, _ := zw.Create("../evil")
	w.Write([]byte("x"))
	zw.Close()
	f.Close()
	dir := t.TempDir()
	if err := Extract(path, filepath.Join(dir, "in")); err == nil {
		t.Fatal("extracted ../evil")
	}
	if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
		t.Fatal("../evil was written")
	}
}
