package localengine

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/aixgo-dev/agentship/internal/ocilayer"
	"github.com/aixgo-dev/agentship/pipeline"
)

// hostFiles are where the local engine finds the bytes of a plan's files.
type hostFiles struct {
	dir       string            // the agent repo
	binaries  map[string]string // platform -> built binary
	bootstrap string            // the Lambda build
	toolbox   map[string]string // platform -> the builtin Debug base's shell
	caCerts   string            // the host's CA bundle
	zoneinfo  string            // the host's zoneinfo tree
}

// caBundles are where Linux distributions keep the CA bundle (the list Go's
// crypto/x509 searches).
var caBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

func findCACerts() (string, error) {
	if f := os.Getenv("AGENTSHIP_CA_BUNDLE"); f != "" {
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("AGENTSHIP_CA_BUNDLE=%s cannot be read: point it at a PEM bundle", f)
		}
		return f, nil
	}
	for _, f := range caBundles {
		if st, err := os.Stat(f); err == nil && st.Size() > 0 {
			return f, nil
		}
	}
	return "", fmt.Errorf("no CA certificate bundle on this host (looked in %s): install one (apt-get install ca-certificates), set AGENTSHIP_CA_BUNDLE, or set Agent.NoCACerts", caBundles[0])
}

func findZoneinfo() (string, error) {
	for _, d := range []string{os.Getenv("ZONEINFO_DIR"), "/usr/share/zoneinfo"} {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "Europe", "Paris")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no zoneinfo on this host (/usr/share/zoneinfo/Europe/Paris is missing): install tzdata (apt-get install tzdata) or turn Agent.Zoneinfo off")
}

// layer kinds, in the order they are stacked: what changes least goes
// first, so a new commit re-uploads only the binary layer.
const (
	layerSystem = iota
	layerConfig
	layerApp
	layerKinds
)

var layerNames = [layerKinds]string{"system files", "config", "binary"}

// entries reads the bytes of an image's files for one platform, grouped by
// layer kind.
func (h hostFiles) entries(files []pipeline.File, plat pipeline.Platform) ([layerKinds][]ocilayer.Entry, error) {
	var out [layerKinds][]ocilayer.Entry
	readFile := func(kind int, f pipeline.File, src string) error {
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("%s for %s: %w", f.From, f.Path, err)
		}
		out[kind] = append(out[kind], ocilayer.Entry{Path: f.Path, Mode: int64(f.Mode), UID: f.UID, GID: f.GID, Data: data})
		return nil
	}
	for _, f := range files {
		var err error
		switch f.From {
		case pipeline.FromInline:
			out[layerSystem] = append(out[layerSystem], ocilayer.Entry{Path: f.Path, Mode: int64(f.Mode), UID: f.UID, GID: f.GID, Data: []byte(f.Content)})
		case pipeline.FromCACerts:
			err = readFile(layerSystem, f, h.caCerts)
		case pipeline.FromZoneinfo:
			var es []ocilayer.Entry
			es, err = ocilayer.Tree(h.zoneinfo, f.Path, int64(f.Mode), f.UID, f.GID)
			out[layerSystem] = append(out[layerSystem], es...)
		case pipeline.FromDir:
			var es []ocilayer.Entry
			es, err = ocilayer.Tree(filepath.Join(h.dir, filepath.FromSlash(f.Source)), f.Path, int64(f.Mode), f.UID, f.GID)
			out[layerConfig] = append(out[layerConfig], es...)
		case pipeline.FromToolbox:
			err = readFile(layerSystem, f, h.toolbox[plat.String()])
		case pipeline.FromBinary:
			err = readFile(layerApp, f, h.binaries[plat.String()])
		case pipeline.FromLambda:
			err = readFile(layerApp, f, h.bootstrap)
		default:
			err = fmt.Errorf("file %s comes from %q, which the local engine does not know", f.Path, f.From)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// builtImage is one platform's image with its sizes for the summary.
type builtImage struct {
	platform     pipeline.Platform
	image        v1.Image
	uncompressed int64
}

// buildImage stacks the image's layers for one platform on base (nil means
// scratch) and sets the config the plan decides.
func buildImage(cache ocilayer.Cache, h hostFiles, img pipeline.Image, plat pipeline.Platform, base v1.Image, created time.Time) (builtImage, error) {
	groups, err := h.entries(img.Files, plat)
	if err != nil {
		return builtImage{}, err
	}
	var cf *v1.ConfigFile
	if base == nil {
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		cf = &v1.ConfigFile{
			Architecture: plat.Arch,
			OS:           plat.OS,
			Variant:      plat.Variant,
			RootFS:       v1.RootFS{Type: "layers"},
			Config:       ociConfig(img.Config, v1.Config{}),
		}
	} else {
		base = mutate.ConfigMediaType(mutate.MediaType(base, types.OCIManifestSchema1), types.OCIConfigJSON)
		bcf, err := base.ConfigFile()
		if err != nil {
			return builtImage{}, fmt.Errorf("base image config: %w", err)
		}
		cf = bcf.DeepCopy()
		cf.Config = ociConfig(img.Config, cf.Config)
	}
	cf.Created = v1.Time{Time: created}
	out, err := mutate.ConfigFile(base, cf)
	if err != nil {
		return builtImage{}, err
	}
	var size int64
	for kind, entries := range groups {
		if len(entries) == 0 {
			continue
		}
		tarball, err := ocilayer.Tar(entries)
		if err != nil {
			return builtImage{}, err
		}
		l, err := cache.Layer(tarball)
		if err != nil {
			return builtImage{}, err
		}
		size += int64(len(tarball))
		out, err = mutate.Append(out, mutate.Addendum{
			Layer:     l,
			MediaType: types.OCILayer,
			History: v1.History{
				Created:   v1.Time{Time: created},
				CreatedBy: "agentship: " + img.Target + " " + layerNames[kind],
			},
		})
		if err != nil {
			return builtImage{}, err
		}
	}
	return builtImage{platform: plat, image: out, uncompressed: size}, nil
}

// ociConfig applies the plan's config over a base config: the plan's env
// wins per variable, labels merge, ports add up, and entrypoint, cmd, user
// and healthcheck are the plan's when it sets them.
func ociConfig(c pipeline.ImageConfig, base v1.Config) v1.Config {
	out := base
	out.Env = mergeEnv(base.Env, c.Env)
	if c.User != "" {
		out.User = c.User
	}
	out.Entrypoint = nilIfEmpty(c.Entrypoint)
	out.Cmd = nilIfEmpty(c.Cmd)
	if c.WorkingDir != "" {
		out.WorkingDir = c.WorkingDir
	}
	if len(c.ExposedPorts) > 0 {
		ports := map[string]struct{}{}
		for p := range base.ExposedPorts {
			ports[p] = struct{}{}
		}
		for _, p := range c.ExposedPorts {
			ports[p] = struct{}{}
		}
		out.ExposedPorts = ports
	}
	labels := map[string]string{}
	for k, v := range base.Labels {
		labels[k] = v
	}
	for k, v := range c.Labels {
		labels[k] = v
	}
	out.Labels = labels
	out.Healthcheck = nil
	if hc := c.Healthcheck; hc != nil {
		out.Healthcheck = &v1.HealthConfig{
			Test:        hc.Test,
			Interval:    hc.Interval,
			Timeout:     hc.Timeout,
			StartPeriod: hc.StartPeriod,
			Retries:     hc.Retries,
		}
	}
	return out
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// mergeEnv keeps base's order and replaces a variable the plan also sets.
func mergeEnv(base, plan []string) []string {
	key := func(kv string) string {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				return kv[:i]
			}
		}
		return kv
	}
	set := map[string]string{}
	for _, kv := range plan {
		set[key(kv)] = kv
	}
	var out []string
	for _, kv := range base {
		if v, ok := set[key(kv)]; ok {
			out = append(out, v)
			delete(set, key(kv))
			continue
		}
		out = append(out, kv)
	}
	for _, kv := range plan {
		if _, ok := set[key(kv)]; ok {
			out = append(out, kv)
		}
	}
	return out
}

// buildIndex puts the per-platform images in one OCI index.
func buildIndex(images []builtImage) v1.ImageIndex {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var adds []mutate.IndexAddendum
	for _, bi := range images {
		adds = append(adds, mutate.IndexAddendum{
			Add: bi.image,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{
				OS: bi.platform.OS, Architecture: bi.platform.Arch, Variant: bi.platform.Variant,
			}},
		})
	}
	return mutate.AppendManifests(idx, adds...)
}
