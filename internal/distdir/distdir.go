// Package distdir writes an agent's dist/ the way both engines must: every
// output staged inside dist/ and renamed into place, so a failed run leaves
// the previous outputs (or nothing) and never half of them; the OCI layout
// written afresh while keeping the tags other targets put there; the host
// platform's image as a docker-loadable tarball.
package distdir

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/aixgo-dev/agentship/pipeline"
)

// RefName is the annotation by which an OCI layout names its images.
const RefName = "org.opencontainers.image.ref.name"

// Staging is a directory inside dist/ that a run writes into; Commit moves
// what it holds into dist/.
type Staging struct {
	Dir     string // the staging directory
	root    string // the agent repo: outputs are named relative to it
	dist    string
	created bool // dist/ did not exist before this run
}

// Begin creates dist/ (distRel, relative to the agent repo root) if needed,
// and a staging directory inside it, on the same file system so that the
// final renames are atomic.
func Begin(root, distRel string) (*Staging, error) {
	dist := filepath.Join(root, filepath.FromSlash(distRel))
	_, statErr := os.Stat(dist)
	s := &Staging{root: root, dist: dist, created: os.IsNotExist(statErr)}
	if err := os.MkdirAll(dist, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", dist, err)
	}
	dir, err := os.MkdirTemp(dist, ".agentship-tmp-")
	if err != nil {
		return nil, fmt.Errorf("cannot write in %s: %w", dist, err)
	}
	s.Dir = dir
	return s, nil
}

// Path is where the output named rel (relative to the repo, e.g.
// "dist/agent-image.tar") is written before the rename; its parent exists.
func (s *Staging) Path(rel string) string {
	inDist, err := filepath.Rel(s.dist, filepath.Join(s.root, filepath.FromSlash(rel)))
	if err != nil || strings.HasPrefix(inDist, "..") {
		inDist = filepath.Base(rel)
	}
	p := filepath.Join(s.Dir, inDist)
	os.MkdirAll(filepath.Dir(p), 0o755)
	return p
}

// Commit moves every staged top-level entry over its counterpart in dist/.
// A directory is swapped with two renames, so readers see the old one or
// the new one, never a mix.
func (s *Staging) Commit() error {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return err
	}
	for _, ent := range entries {
		src := filepath.Join(s.Dir, ent.Name())
		dst := filepath.Join(s.dist, ent.Name())
		if ent.IsDir() {
			if _, err := os.Stat(dst); err == nil {
				if err := os.Rename(dst, filepath.Join(s.Dir, ".old-"+ent.Name())); err != nil {
					return fmt.Errorf("replace %s: %w", dst, err)
				}
			}
		}
		if err := os.Rename(src, dst); err != nil {
			return fmt.Errorf("write %s: %w", dst, err)
		}
	}
	return nil
}

// Close removes the staging directory (and what Commit replaced); after a
// failed run it also removes dist/ if this run created it and it is empty.
func (s *Staging) Close(failed bool) {
	os.RemoveAll(s.Dir)
	if failed && s.created {
		os.Remove(s.dist) // only if empty: never remove what others put there
	}
}

// Tagged is what one image target puts in the layout under its tag: a
// multi-platform index, or (for Lambda, which refuses indexes) one image.
type Tagged struct {
	Index v1.ImageIndex
	Image v1.Image
}

// Entry is how img goes into the layout: its multi-platform index, or the
// first platform's image when the plan asks for a single manifest. The
// artifact describes the index for the summary; it is nil for a single
// manifest, whose per-platform artifact already names it.
func Entry(p *pipeline.Plan, img pipeline.Image, idx v1.ImageIndex, first v1.Image) (Tagged, *pipeline.Artifact, error) {
	if img.SingleManifest {
		return Tagged{Image: first}, nil, nil
	}
	d, err := idx.Digest()
	if err != nil {
		return Tagged{}, nil, err
	}
	return Tagged{Index: idx}, &pipeline.Artifact{
		Kind: "index", Name: img.Target, Path: LayoutRef(p, img), Digest: d.String(),
	}, nil
}

// LayoutRef names img in the summary: the layout and its tag there.
func LayoutRef(p *pipeline.Plan, img pipeline.Image) string {
	return p.Dist.OCILayout + " " + img.Tag
}

// WriteLayout writes a fresh OCI layout at dir holding tagged, plus every
// other tag the previous layout (if any) held, so that a lambda:image run
// keeps the Production image that build made earlier. warn is told of an
// image that could not be carried over.
func WriteLayout(dir, previous string, tagged map[string]Tagged, warn func(tag string, err error)) error {
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	tags := make([]string, 0, len(tagged))
	for t := range tagged {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	for _, t := range tags {
		named := layout.WithAnnotations(map[string]string{RefName: t})
		if out := tagged[t]; out.Image != nil {
			err = lp.AppendImage(out.Image, named)
		} else {
			err = lp.AppendIndex(out.Index, named)
		}
		if err != nil {
			return err
		}
	}
	old, err := layout.FromPath(previous)
	if err != nil {
		return nil // no previous layout
	}
	oldIdx, err := old.ImageIndex()
	if err != nil {
		return nil
	}
	im, err := oldIdx.IndexManifest()
	if err != nil {
		return nil
	}
	for _, d := range im.Manifests {
		t := d.Annotations[RefName]
		if _, ok := tagged[t]; ok || t == "" {
			continue
		}
		named := layout.WithAnnotations(map[string]string{RefName: t})
		switch {
		case d.MediaType.IsIndex():
			var child v1.ImageIndex
			if child, err = oldIdx.ImageIndex(d.Digest); err == nil {
				err = lp.AppendIndex(child, named)
			}
		case d.MediaType.IsImage():
			var img v1.Image
			if img, err = oldIdx.Image(d.Digest); err == nil {
				err = lp.AppendImage(img, named)
			}
		}
		if err != nil && warn != nil {
			warn(t, err)
		}
	}
	return nil
}

// HostPlatform is the platform a docker-loadable tarball holds: the host's
// when the image has it, else the first.
func HostPlatform(plats []pipeline.Platform) pipeline.Platform {
	for _, p := range plats {
		if p.Arch == runtime.GOARCH {
			return p
		}
	}
	return plats[0]
}

// WriteDockerTarball writes image as `docker save` would, tagged
// <name>:<version as a tag>[-debug|-lambda], and returns the file's size.
func WriteDockerTarball(path string, p *pipeline.Plan, target pipeline.Image, image v1.Image) (int64, error) {
	suffix := strings.TrimPrefix(target.Tag, p.Name+":"+p.Version)
	tag, err := name.NewTag(p.Name+":"+pipeline.TagFor(p.Version)+suffix, name.WeakValidation)
	if err != nil {
		return 0, fmt.Errorf("image tag for %s: %w", target.Target, err)
	}
	if err := tarball.WriteToFile(path, tag, image); err != nil {
		return 0, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// DescribeImage gives one platform's image for the summary: its manifest
// digest and compressed size (manifest, config and layers, what a registry
// stores and a pull downloads).
func DescribeImage(img v1.Image) (pipeline.Artifact, error) {
	m, err := img.Manifest()
	if err != nil {
		return pipeline.Artifact{}, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return pipeline.Artifact{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return pipeline.Artifact{}, err
	}
	size := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	return pipeline.Artifact{Kind: "image", Size: size, Digest: d.String()}, nil
}
