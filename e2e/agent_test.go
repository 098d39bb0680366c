package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/aixgo-dev/agentship/internal/testenv"
	"github.com/aixgo-dev/agentship/pipeline"
)

const (
	e2eVersion = "v1.2.3-e2e"
	e2eCommit  = "0123456789abcdef0123456789abcdef01234567"
)

func exampleAgent(t *testing.T, debugBase string) pipeline.Agent {
	return pipeline.Agent{
		Dir:         CopyExample(t, "agent"),
		Version:     e2eVersion,
		Commit:      e2eCommit,
		Platforms:   []string{"linux/amd64", "linux/arm64"},
		HealthCheck: []string{"/agent", "--health-check"},
		DebugBase:   debugBase,
	}
}

// TestExampleAgent builds the example agent once (two platforms, Production
// and Debug) and checks what came out by running it.
func TestExampleAgent(t *testing.T) {
	base := testenv.BusyboxBase(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	eng := Engine(t)
	p := Plan(t, exampleAgent(t, base))
	res := Run(t, eng, p)
	host := "linux/" + runtime.GOARCH
	layoutDir := filepath.Join(p.Dir, p.Dist.OCILayout)
	prod := testenv.LayoutImage(t, layoutDir, p.Production.Tag, host)
	debug := testenv.LayoutImage(t, layoutDir, p.Debug.Tag, host)

	t.Run("outputs", func(t *testing.T) {
		for _, rel := range []string{
			"dist/agent_linux_amd64/agent", "dist/agent_linux_arm64/agent",
			p.Dist.ImageTar, p.Dist.DebugImageTar, p.Dist.OCILayout + "/index.json",
		} {
			if _, err := os.Stat(filepath.Join(p.Dir, rel)); err != nil {
				t.Errorf("missing output %s: %v", rel, err)
			}
		}
		entries, _ := os.ReadDir(filepath.Join(p.Dir, "dist"))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("staging left behind in dist/: %s", e.Name())
			}
		}
		summary := res.Summary()
		for _, want := range []string{"binary", "production linux/amd64", "debug linux/arm64", "uncompressed", "builder", "sha256:"} {
			if !strings.Contains(summary, want) {
				t.Errorf("summary lacks %q:\n%s", want, summary)
			}
		}
	})

	t.Run("production config", func(t *testing.T) {
		cf, err := prod.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cf.Config
		if c.User != "65534:65534" {
			t.Errorf("user %q", c.User)
		}
		if strings.Join(c.Entrypoint, " ") != "/agent" || len(c.Cmd) != 0 {
			t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
		}
		if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
			t.Errorf("exposed ports %v", c.ExposedPorts)
		}
		if c.Labels[pipeline.LabelVersion] != e2eVersion || c.Labels[pipeline.LabelRevision] != e2eCommit ||
			c.Labels[pipeline.LabelCreated] != "2023-11-14T22:13:20Z" || c.Labels[pipeline.LabelTitle] != "agent" {
			t.Errorf("labels %v", c.Labels)
		}
		if c.Healthcheck == nil || strings.Join(c.Healthcheck.Test, " ") != "CMD /agent --health-check" {
			t.Errorf("healthcheck %+v", c.Healthcheck)
		}
		if cf.Created.Unix() != 1700000000 {
			t.Errorf("created %v, want SOURCE_DATE_EPOCH", cf.Created)
		}
		if cf.Architecture != runtime.GOARCH || cf.OS != "linux" {
			t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
		}
	})

	t.Run("production files, no shell", func(t *testing.T) {
		files := imageFiles(t, prod)
		want := map[string]string{
			"agent":                             "-rwxr-xr-x 0:0",
			"config/agents.yaml":                "-rw-r--r-- 0:0",
			"etc/group":                         "-rw-r--r-- 0:0",
			"etc/passwd":                        "-rw-r--r-- 0:0",
			"etc/ssl/certs/ca-certificates.crt": "-rw-r--r-- 0:0",
		}
		for path, mode := range want {
			if files[path] != mode {
				t.Errorf("%s: got %q, want %q", path, files[path], mode)
			}
		}
		for path := range files {
			if _, ok := want[path]; !ok && !strings.HasPrefix(files[path], "d") {
				t.Errorf("unexpected file %s (%s) in the Production image", path, files[path])
			}
		}
		for _, sh := range []string{"bin/sh", "bin/busybox", "usr/bin/env"} {
			if _, ok := files[sh]; ok {
				t.Errorf("Production image has %s", sh)
			}
		}
	})

	t.Run("production size", func(t *testing.T) {
		m, err := prod.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := prod.RawManifest()
		size := int64(len(raw)) + m.Config.Size
		for _, l := range m.Layers {
			size += l.Size
		}
		bin, err := os.ReadFile(filepath.Join(p.Dir, "dist", "agent_linux_"+runtime.GOARCH, "agent"))
		if err != nil {
			t.Fatal(err)
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(bin)
		zw.Close()
		limit := int64(gz.Len()) + 300<<10
		t.Logf("compressed image %d B, gzipped binary %d B, overhead %d B", size, gz.Len(), size-int64(gz.Len()))
		if size > limit {
			t.Errorf("compressed Production image is %d B, more than the gzipped binary (%d B) + 300 KiB", size, gz.Len())
		}
	})

	t.Run("production runs under runc", func(t *testing.T) {
		port := freePort(t)
		env := []string{"PORT=" + strconv.Itoa(port)}
		c := testenv.Start(t, prod, testenv.RunOptions{Env: env})
		url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
		waitHTTP(t, c, url)

		_, _, code := testenv.Run(t, prod, testenv.RunOptions{Args: []string{"/agent", "--health-check"}, Env: env}, 30*time.Second)
		if code != 0 {
			t.Errorf("--health-check exited %d with the agent up", code)
		}

		out, stderr, code := testenv.Run(t, prod, testenv.RunOptions{Args: []string{"/agent", "--selftest"}}, 30*time.Second)
		if code != 0 {
			t.Errorf("--selftest exited %d: %s %s", code, out, stderr)
		}
		if m := regexp.MustCompile(`certificates: (\d+) from /etc/ssl/certs/ca-certificates.crt`).FindStringSubmatch(out); m == nil || m[1] == "0" {
			t.Errorf("--selftest found no certificates:\n%s", out)
		}
		if !strings.Contains(out, "uid: 65534") {
			t.Errorf("--selftest does not run as 65534:\n%s", out)
		}
		if !strings.Contains(out, "config: /config/agents.yaml agents=2") {
			t.Errorf("--selftest did not read the config:\n%s", out)
		}

		// The logs are JSON lines and the start line carries the version.
		var sawStart bool
		for _, line := range strings.Split(strings.TrimSpace(c.Stdout.String()), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("log line is not JSON: %q", line)
				continue
			}
			if rec["msg"] == "starting" && rec["version"] == e2eVersion && rec["commit"] == e2eCommit {
				sawStart = true
			}
		}
		if !sawStart {
			t.Errorf("no JSON start line with version %s in:\n%s", e2eVersion, c.Stdout)
		}
	})

	t.Run("health check fails with the agent down", func(t *testing.T) {
		env := []string{"PORT=" + strconv.Itoa(freePort(t))}
		_, _, code := testenv.Run(t, prod, testenv.RunOptions{Args: []string{"/agent", "--health-check"}, Env: env}, 30*time.Second)
		if code == 0 {
			t.Error("--health-check exited 0 with nothing listening")
		}
	})

	t.Run("debug image runs a shell", func(t *testing.T) {
		cf, err := debug.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(cf.Config.Cmd, " ") != "/bin/sh" || len(cf.Config.Entrypoint) != 0 {
			t.Errorf("debug entrypoint %q cmd %q", cf.Config.Entrypoint, cf.Config.Cmd)
		}
		out, stderr, code := testenv.Run(t, debug, testenv.RunOptions{Args: []string{"/bin/sh", "-c", "test -x /agent && test -f /config/agents.yaml && /agent --version"}}, 30*time.Second)
		if code != 0 {
			t.Fatalf("sh -c 'test -x /agent' exited %d: %s %s", code, out, stderr)
		}
		if !strings.Contains(out, e2eVersion) {
			t.Errorf("the debug image's agent reports %q", out)
		}
	})

	t.Run("docker-loadable tarball", func(t *testing.T) {
		img, err := tarball.ImageFromPath(filepath.Join(p.Dir, p.Dist.ImageTar), nil)
		if err != nil {
			t.Fatal(err)
		}
		// docker save format rebuilds the manifest with Docker media types,
		// so the config (which names every layer's DiffID) is what must match.
		got, _ := img.ConfigName()
		want, _ := prod.ConfigName()
		if got != want {
			t.Errorf("image tar config %s, layout's %s image config %s", got, host, want)
		}
		manifest := tarManifest(t, filepath.Join(p.Dir, p.Dist.ImageTar))
		if !strings.Contains(manifest, `"agent:v1.2.3-e2e"`) {
			t.Errorf("the tarball's manifest.json does not tag agent:%s: %s", e2eVersion, manifest)
		}
	})

	t.Run("no change reuses the outputs", func(t *testing.T) {
		again := Run(t, eng, p)
		if !again.Reused {
			t.Error("a run with nothing changed rebuilt the images")
		}
		if indexDigest(res, "production") != indexDigest(again, "production") {
			t.Error("the reused run reports another digest")
		}
	})

	t.Run("same commit, same digests", func(t *testing.T) {
		// A fresh copy and a fresh cache: nothing is shared but the inputs.
		p2 := Plan(t, exampleAgent(t, base))
		res2 := Run(t, Engine(t), p2)
		for _, target := range []string{"production", "debug"} {
			a, b := indexDigest(res, target), indexDigest(res2, target)
			if a == "" || a != b {
				t.Errorf("%s index: %s then %s", target, a, b)
			}
		}
	})
}

func indexDigest(r *pipeline.Result, target string) string {
	for _, a := range r.Artifacts {
		if a.Kind == "index" && a.Name == target {
			return a.Digest
		}
	}
	return ""
}

// imageFiles lists the flattened image as path -> "mode uid:gid".
func imageFiles(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]string{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(hdr.Name, "/")] = fmt.Sprintf("%s %d:%d", hdr.FileInfo().Mode(), hdr.Uid, hdr.Gid)
	}
	return files
}

func tarManifest(t *testing.T, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no manifest.json in %s", path)
		}
		if hdr.Name == "manifest.json" {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitHTTP polls url until it answers 200, the container exits, or 20s pass.
func waitHTTP(t *testing.T, c *testenv.Container, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c.Exited() {
			t.Fatalf("the agent exited: stdout %s stderr %s", c.Stdout, c.Stderr)
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 in 20s; stdout %s stderr %s", url, c.Stdout, c.Stderr)
}
