package ocilayer

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestTarIsSortedWithParentsAndFixedTimes(t *testing.T) {
	b, err := Tar([]Entry{
		{Path: "/usr/share/x", Mode: 0o644, Data: []byte("x")},
		{Path: "/agent", Mode: 0o755, Data: []byte("bin")},
		{Path: "/etc/passwd", Mode: 0o644, UID: 0, GID: 0, Data: []byte("p")},
		{Path: "/bin/sh", Link: "busybox", Mode: 0o777},
		{Path: "/config", Dir: true, Mode: 0o755, UID: 65534, GID: 65534},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(b))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %v", h.Name, h.ModTime)
		}
		switch h.Name {
		case "agent":
			if h.Mode != 0o755 || h.Uid != 0 {
				t.Errorf("agent: mode %o uid %d", h.Mode, h.Uid)
			}
		case "config/":
			if h.Uid != 65534 || h.Typeflag != tar.TypeDir {
				t.Errorf("config: %+v", h)
			}
		case "usr/", "usr/share/", "bin/", "etc/":
			if h.Mode != 0o755 || h.Uid != 0 || h.Typeflag != tar.TypeDir {
				t.Errorf("parent %s: %+v", h.Name, h)
			}
		case "bin/sh":
			if h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
				t.Errorf("bin/sh: %+v", h)
			}
		}
	}
	want := []string{"agent", "bin/", "bin/sh", "config/", "etc/", "etc/passwd", "usr/", "usr/share/", "usr/share/x"}
	if len(names) != len(want) {
		t.Fatalf("entries %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("entries %v, want %v", names, want)
		}
	}
}

func TestTarIsDeterministic(t *testing.T) {
	a := []Entry{{Path: "/b", Mode: 0o644, Data: []byte("b")}, {Path: "/a/x", Mode: 0o600, Data: []byte("a")}}
	b := []Entry{a[1], a[0]}
	ta, _ := Tar(a)
	tb, _ := Tar(b)
	if !bytes.Equal(ta, tb) {
		t.Fatal("the same entries in another order gave another tar")
	}
}

func TestCacheCompressesOnce(t *testing.T) {
	dir := t.TempDir()
	c := Cache{Dir: dir}
	tarball, _ := Tar([]Entry{{Path: "/agent", Mode: 0o755, Data: bytes.Repeat([]byte("agent"), 1000)}})
	l1, err := c.Layer(tarball)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 1 {
		t.Fatalf("cache holds %d files, want 1", len(files))
	}
	d1, _ := l1.Digest()
	diff, _ := l1.DiffID()
	// Replace the cached bytes with a marker gzip of other content: a
	// second Layer must read the cache instead of compressing again.
	cached := filepath.Join(dir, files[0].Name())
	if files[0].Name() != diff.Hex+".tar.gz" {
		t.Fatalf("cache file %s is not named by the DiffID %s", files[0].Name(), diff.Hex)
	}
	st1, _ := os.Stat(cached)
	l2, err := c.Layer(tarball)
	if err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(cached)
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Error("the cached layer was rewritten")
	}
	d2, _ := l2.Digest()
	if d1 != d2 {
		t.Errorf("digests %s and %s", d1, d2)
	}
	rc, _ := l2.Uncompressed()
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, tarball) {
		t.Error("uncompressed layer differs from the tar")
	}
	if UncompressedSize(l2) != int64(len(tarball)) {
		t.Errorf("UncompressedSize %d", UncompressedSize(l2))
	}
}

func TestTreeKeepsExecBitAndLinks(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o700)
	os.WriteFile(filepath.Join(dir, "sub", "a.yaml"), []byte("a"), 0o600)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!"), 0o700)
	os.Symlink("sub/a.yaml", filepath.Join(dir, "link"))
	es, err := Tree(dir, "/config", 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Entry{}
	for _, e := range es {
		got[e.Path] = e
	}
	if e := got["/config/sub/a.yaml"]; e.Mode != 0o644 || string(e.Data) != "a" {
		t.Errorf("a.yaml: %+v", e)
	}
	if e := got["/config/run.sh"]; e.Mode != 0o755 {
		t.Errorf("run.sh mode %o", e.Mode)
	}
	if e := got["/config/sub"]; !e.Dir || e.Mode != 0o755 {
		t.Errorf("sub: %+v", e)
	}
	if e := got["/config/link"]; e.Link != "sub/a.yaml" {
		t.Errorf("link: %+v", e)
	}
}

// The compressed bytes must not depend on how many cores compressed them.
func TestCompressIsReproducibleAcrossCores(t *testing.T) {
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i*7 + i/1000)
	}
	one, err := compress(data)
	if err != nil {
		t.Fatal(err)
	}
	prev := runtime.GOMAXPROCS(1)
	single, err := compress(data)
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one, single) {
		t.Fatal("compression output depends on GOMAXPROCS")
	}
}
