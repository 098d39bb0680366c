package localengine

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/aixgo-dev/agentship/internal/distdir"
	"github.com/aixgo-dev/agentship/pipeline"
)

// OCILayoutScheme marks a base image read from a local OCI image layout.
const OCILayoutScheme = "oci-layout://"

// base is a pulled base image: an index, or one image for one platform.
type base struct {
	ref   string
	index v1.ImageIndex
	image v1.Image
}

// pullBase resolves a registry reference (with the default keychain: docker
// config and credential helpers) or oci-layout://PATH[:tag].
func pullBase(ctx context.Context, ref string) (*base, error) {
	fail := func(err error) error {
		return fmt.Errorf("debug base %q cannot be pulled (%s): set DebugBase to a reachable image or to oci-layout://PATH[:tag]", ref, oneLine(err.Error()))
	}
	if path, ok := strings.CutPrefix(ref, OCILayoutScheme); ok {
		b, err := layoutBase(path)
		if err != nil {
			return nil, fail(err)
		}
		b.ref = ref
		return b, nil
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fail(err)
	}
	desc, err := remote.Get(r, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return nil, fail(err)
	}
	b := &base{ref: ref}
	if desc.MediaType.IsIndex() {
		b.index, err = desc.ImageIndex()
	} else {
		b.image, err = desc.Image()
	}
	if err != nil {
		return nil, fail(err)
	}
	return b, nil
}

// layoutBase picks the manifest named tag in the layout at path; with no
// tag, the layout must hold exactly one.
func layoutBase(spec string) (*base, error) {
	path, tag := spec, ""
	if i := strings.LastIndex(spec, ":"); i > strings.LastIndex(spec, "/") {
		path, tag = spec[:i], spec[i+1:]
	}
	lp, err := layout.FromPath(path)
	if err != nil {
		return nil, err
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var found []v1.Descriptor
	for _, d := range im.Manifests {
		rn := d.Annotations[distdir.RefName]
		if tag == "" || rn == tag || strings.HasSuffix(rn, ":"+tag) {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 0 && tag != "":
		return nil, fmt.Errorf("no image tagged %q in the layout", tag)
	case len(found) == 0:
		return nil, fmt.Errorf("the layout is empty")
	case len(found) > 1:
		return nil, fmt.Errorf("the layout holds %d images: name one as oci-layout://%s:TAG", len(found), path)
	}
	d := found[0]
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		return &base{index: child}, err
	}
	img, err := idx.Image(d.Digest)
	return &base{image: img}, err
}

// forPlatform returns the base's image for plat.
func (b *base) forPlatform(plat pipeline.Platform) (v1.Image, error) {
	want := v1.Platform{OS: plat.OS, Architecture: plat.Arch, Variant: plat.Variant}
	if b.image != nil {
		cf, err := b.image.ConfigFile()
		if err != nil {
			return nil, err
		}
		if cf.OS == plat.OS && cf.Architecture == plat.Arch {
			return b.image, nil
		}
		return nil, fmt.Errorf("debug base %q is a %s/%s image and has no %s variant: use a multi-platform base or set AGENTSHIP_PLATFORMS", b.ref, cf.OS, cf.Architecture, plat)
	}
	im, err := b.index.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range im.Manifests {
		if d.Platform == nil {
			continue
		}
		have = append(have, d.Platform.String())
		if d.Platform.Satisfies(want) {
			return b.index.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("debug base %q has no %s image (it has %s): use a multi-platform base or set AGENTSHIP_PLATFORMS", b.ref, plat, strings.Join(have, ", "))
}
