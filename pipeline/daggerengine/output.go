package daggerengine

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/aixgo-dev/agentship/internal/distdir"
	"github.com/aixgo-dev/agentship/pipeline"
)

// layoutImage reads the OCI tarball Dagger exported for one image target,
// records each platform's image, writes the host platform's image as a
// docker-loadable tarball, and keeps the index for dist/oci.
func (r *run) layoutImage(img pipeline.Image, raw, tarRel string) error {
	idx, err := readExport(raw, filepath.Join(r.scratch, img.Target+"-layout"))
	if err != nil {
		return fmt.Errorf("%s image: reading Dagger's export: %w", img.Target, err)
	}
	plats, err := platformImages(idx)
	if err != nil {
		return fmt.Errorf("%s image: %w", img.Target, err)
	}
	for _, pi := range plats {
		a, err := describeImage(pi.image)
		if err != nil {
			return err
		}
		a.Kind, a.Name, a.Platform = "image", img.Target, pi.platform.String()
		r.addArtifact(a)
	}
	entry, indexArtifact, err := distdir.Entry(r.p, img, idx, plats[0].image)
	if err != nil {
		return err
	}
	r.tagged[img.Tag] = entry
	if indexArtifact != nil {
		r.addArtifact(*indexArtifact)
	} else {
		r.mu.Lock()
		r.result.Artifacts[len(r.result.Artifacts)-1].Path = distdir.LayoutRef(r.p, img)
		r.mu.Unlock()
	}

	host := distdir.HostPlatform(img.Platforms)
	for _, pi := range plats {
		if pi.platform.OS != host.OS || pi.platform.Architecture != host.Arch || pi.platform.Variant != host.Variant {
			continue
		}
		size, err := distdir.WriteDockerTarball(r.stage.Path(tarRel), r.p, img, pi.image)
		if err != nil {
			return fmt.Errorf("write %s: %w", tarRel, err)
		}
		r.addArtifact(pipeline.Artifact{Kind: "image-tar", Name: img.Target, Platform: host.String(), Path: tarRel, Size: size})
		return nil
	}
	return fmt.Errorf("%s image: Dagger's export has no %s image", img.Target, host)
}

// readExport unpacks an OCI tarball and returns its image as an index: the
// index Dagger made for a multi-platform export (kept as is, so its digest
// is the one Publish pushes), or a one-platform index around a lone
// manifest, as the local engine writes every target.
func readExport(tarPath, dir string) (v1.ImageIndex, error) {
	if err := untar(tarPath, dir); err != nil {
		return nil, err
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	top, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(im.Manifests) == 1 && im.Manifests[0].MediaType.IsIndex() {
		return top.ImageIndex(im.Manifests[0].Digest)
	}
	var adds []mutate.IndexAddendum
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			return nil, fmt.Errorf("unexpected %s in index.json", d.MediaType)
		}
		img, err := top.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		plat := d.Platform
		if plat == nil {
			cf, err := img.ConfigFile()
			if err != nil {
				return nil, err
			}
			plat = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	if len(adds) == 0 {
		return nil, fmt.Errorf("the export holds no image")
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...), nil
}

type platformImage struct {
	platform v1.Platform
	image    v1.Image
}

func platformImages(idx v1.ImageIndex) ([]platformImage, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []platformImage
	for _, d := range im.Manifests {
		if d.Platform == nil || d.Platform.OS == "unknown" {
			continue // attestations
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		out = append(out, platformImage{platform: *d.Platform, image: img})
	}
	return out, nil
}

// describeImage gives the summary line of one platform's image, sized as
// the local engine sizes it; the uncompressed size is read from the layers,
// which Dagger made.
func describeImage(img v1.Image) (pipeline.Artifact, error) {
	a, err := distdir.DescribeImage(img)
	if err != nil {
		return a, err
	}
	layers, err := img.Layers()
	if err != nil {
		return a, err
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return a, err
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return a, err
		}
		a.UncompressedSize += n
	}
	return a, nil
}

// writeLayout writes dist/oci afresh with this run's images, keeping the
// other tags the previous layout held, as the local engine does.
func (r *run) writeLayout() error {
	err := distdir.WriteLayout(r.stage.Path(r.p.Dist.OCILayout), filepath.Join(r.p.Dir, filepath.FromSlash(r.p.Dist.OCILayout)), r.tagged,
		func(tag string, err error) {
			r.e.log.WithError(err).WithField("tag", tag).Warn("could not carry an image over from the previous layout")
		})
	if err != nil {
		return fmt.Errorf("write %s: %w", r.p.Dist.OCILayout, err)
	}
	return nil
}

func fileArtifact(p string) (pipeline.Artifact, error) {
	f, err := os.Open(p)
	if err != nil {
		return pipeline.Artifact{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return pipeline.Artifact{}, err
	}
	return pipeline.Artifact{Size: n, Digest: "sha256:" + hex.EncodeToString(h.Sum(nil))}, nil
}

// untar unpacks an image export, refusing any entry that would land
// outside dir.
func untar(tarPath, dir string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		clean := filepath.Clean(filepath.FromSlash(hdr.Name))
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			return fmt.Errorf("the export holds an entry outside the layout: %q", hdr.Name)
		}
		target := filepath.Join(dir, clean)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// tarDir writes dir as a tar stream (regular files and directories,
// sorted, fixed times): how an OCI layout directory becomes the tarball
// Container.Import reads.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: time.Unix(0, 0)}
		switch {
		case d.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
			return tw.WriteHeader(hdr)
		case info.Mode().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
