package distdir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

func TestCommitReplacesAndFailureCleansUp(t *testing.T) {
	root := t.TempDir()
	s, err := Begin(root, "dist")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(s.Path("dist/a.tar"), []byte("new"), 0o644)
	os.WriteFile(s.Path("dist/agent_linux_amd64/agent"), []byte("bin"), 0o755)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close(false)
	if b, _ := os.ReadFile(filepath.Join(root, "dist", "agent_linux_amd64", "agent")); string(b) != "bin" {
		t.Fatalf("committed binary %q", b)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "dist"))
	if len(entries) != 2 {
		t.Fatalf("dist holds %d entries after commit, want 2 (staging must be gone)", len(entries))
	}

	// A second run replaces the directory whole.
	s2, _ := Begin(root, "dist")
	os.WriteFile(s2.Path("dist/agent_linux_amd64/other"), []byte("x"), 0o644)
	if err := s2.Commit(); err != nil {
		t.Fatal(err)
	}
	s2.Close(false)
	if _, err := os.Stat(filepath.Join(root, "dist", "agent_linux_amd64", "agent")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a replaced directory kept an old file")
	}

	// A failed run that created dist/ leaves no dist/.
	fresh := t.TempDir()
	s3, _ := Begin(fresh, "dist")
	os.WriteFile(s3.Path("dist/half.tar"), []byte("half"), 0o644)
	s3.Close(true)
	if _, err := os.Stat(filepath.Join(fresh, "dist")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a failed first run left dist/")
	}
}

func TestWriteLayoutKeepsOtherTags(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "first")
	idx, _ := random.Index(64, 1, 2)
	img, _ := random.Image(64, 1)
	if err := WriteLayout(first, "", map[string]Tagged{"a:1": {Index: idx}, "a:1-lambda": {Image: img}}, nil); err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(dir, "second")
	idx2, _ := random.Index(64, 1, 2)
	if err := WriteLayout(second, first, map[string]Tagged{"a:1": {Index: idx2}}, nil); err != nil {
		t.Fatal(err)
	}
	lp, _ := layout.FromPath(second)
	root, _ := lp.ImageIndex()
	im, _ := root.IndexManifest()
	got := map[string]v1.Descriptor{}
	for _, d := range im.Manifests {
		got[d.Annotations[RefName]] = d
	}
	d2, _ := idx2.Digest()
	di, _ := img.Digest()
	if got["a:1"].Digest != d2 {
		t.Errorf("a:1 is %s, want the new index %s", got["a:1"].Digest, d2)
	}
	if got["a:1-lambda"].Digest != di || !got["a:1-lambda"].MediaType.IsImage() {
		t.Errorf("a:1-lambda was not carried over as an image: %+v", got["a:1-lambda"])
	}
}
