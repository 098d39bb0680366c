package localengine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/aixgo-dev/agentship/internal/distdir"
	"github.com/aixgo-dev/agentship/pipeline"
)

// image builds one image target for each of its platforms, records the
// per-platform sizes, and writes the host platform's image as a
// docker-loadable tarball.
func (r *run) image(ctx context.Context, img pipeline.Image, b *base, tarRel string, tagged map[string]distdir.Tagged) error {
	var built []builtImage
	for _, plat := range img.Platforms {
		if err := ctx.Err(); err != nil {
			return err
		}
		var baseImg v1.Image
		if b != nil {
			var err error
			if baseImg, err = b.forPlatform(plat); err != nil {
				return err
			}
		}
		bi, err := buildImage(r.layers, r.host, img, plat, baseImg, r.p.Created)
		if err != nil {
			return fmt.Errorf("%s image %s: %w", img.Target, plat, err)
		}
		a, err := distdir.DescribeImage(bi.image)
		if err != nil {
			return fmt.Errorf("%s image %s: %w", img.Target, plat, err)
		}
		a.Name, a.Platform, a.UncompressedSize = img.Target, plat.String(), bi.uncompressed
		r.result.Artifacts = append(r.result.Artifacts, a)
		built = append(built, bi)
	}
	var idx v1.ImageIndex
	if !img.SingleManifest {
		idx = buildIndex(built)
	}
	entry, indexArtifact, err := distdir.Entry(r.p, img, idx, built[0].image)
	if err != nil {
		return err
	}
	tagged[img.Tag] = entry
	if indexArtifact != nil {
		r.result.Artifacts = append(r.result.Artifacts, *indexArtifact)
	} else {
		r.result.Artifacts[len(r.result.Artifacts)-1].Path = distdir.LayoutRef(r.p, img)
	}

	host := distdir.HostPlatform(img.Platforms)
	for _, bi := range built {
		if bi.platform != host {
			continue
		}
		size, err := distdir.WriteDockerTarball(r.stage.Path(tarRel), r.p, img, bi.image)
		if err != nil {
			return fmt.Errorf("write %s: %w", tarRel, err)
		}
		r.result.Artifacts = append(r.result.Artifacts, pipeline.Artifact{
			Kind: "image-tar", Name: img.Target, Platform: host.String(), Path: tarRel, Size: size,
		})
	}
	return nil
}

// writeLayout writes dist/oci afresh with this run's images, keeping the
// other tags the previous layout held.
func (r *run) writeLayout(tagged map[string]distdir.Tagged) error {
	err := distdir.WriteLayout(r.stage.Path(r.p.Dist.OCILayout), filepath.Join(r.p.Dir, filepath.FromSlash(r.p.Dist.OCILayout)), tagged,
		func(tag string, err error) {
			r.e.log.WithError(err).WithField("tag", tag).Warn("could not carry an image over from the previous layout")
		})
	if err != nil {
		return fmt.Errorf("write %s: %w", r.p.Dist.OCILayout, err)
	}
	return nil
}

// formatVersion changes whenever the outputs' format changes, so that an
// upgrade of agentship rebuilds instead of reusing.
const formatVersion = "agentship-local-1"

// inputsKey hashes everything the outputs depend on: the plan, the steps,
// the built binaries, and the host files and base the images take.
func (r *run) inputsKey(steps []pipeline.Step) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%v\n", formatVersion, steps)
	if err := json.NewEncoder(h).Encode(r.p); err != nil {
		return "", err
	}
	var files []string
	for _, b := range r.p.Builder.Builds {
		if bin := r.host.binaries[b.Platform.String()]; bin != "" {
			files = append(files, bin)
		}
	}
	for _, tb := range r.host.toolbox {
		files = append(files, tb)
	}
	sort.Strings(files)
	files = append(files, r.host.bootstrap, r.host.caCerts)
	for _, f := range files {
		if f == "" {
			continue
		}
		if err := hashFile(h, f); err != nil {
			return "", err
		}
	}
	trees := []string{r.host.zoneinfo}
	if r.p.Production.Files != nil {
		for _, f := range r.p.Production.Files {
			if f.From == pipeline.FromDir {
				trees = append(trees, filepath.Join(r.p.Dir, filepath.FromSlash(f.Source)))
			}
		}
	}
	for _, t := range trees {
		if t == "" {
			continue
		}
		if err := hashTree(h, t); err != nil {
			return "", err
		}
	}
	if r.want[pipeline.StepDebug] {
		fmt.Fprintln(h, r.p.Debug.Base)
		if path, ok := strings.CutPrefix(r.p.Debug.Base, OCILayoutScheme); ok {
			if i := strings.LastIndex(path, ":"); i > strings.LastIndex(path, "/") {
				path = path[:i]
			}
			hashFile(h, filepath.Join(path, "index.json"))
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintln(h, path)
	_, err = io.Copy(h, f)
	return err
}

func hashTree(h io.Writer, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v\n", p, info.Mode())
		if d.Type().IsRegular() {
			return hashFile(h, p)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			fmt.Fprintln(h, l)
		}
		return nil
	})
}

// state is what a run leaves in the cache for the next one: its key, the
// outputs it wrote (to notice that someone changed or removed them), and its
// result.
type state struct {
	Key     string             `json:"key"`
	Outputs map[string]fileSig `json:"outputs"`
	Result  *pipeline.Result   `json:"result"`
}

type fileSig struct {
	Size    int64 `json:"size"`
	ModTime int64 `json:"modTime"`
}

func (r *run) statePath() string {
	var steps []string
	for s := range r.want {
		steps = append(steps, string(s))
	}
	sort.Strings(steps)
	return filepath.Join(r.stateDir, "state-"+strings.Join(steps, "+")+".json")
}

// outputFiles are the files whose presence and signature say that the
// outputs of a previous run are still there.
func (r *run) outputFiles() []string {
	var out []string
	for _, a := range r.result.Artifacts {
		if a.Kind != "index" && a.Kind != "image" && a.Path != "" {
			out = append(out, a.Path)
		}
	}
	for _, a := range r.result.Artifacts {
		if a.Kind == "index" {
			return append(out, r.p.Dist.OCILayout+"/index.json")
		}
	}
	return out
}

func sig(path string) (fileSig, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return fileSig{}, false
	}
	return fileSig{Size: st.Size(), ModTime: st.ModTime().UnixNano()}, true
}

func (r *run) saveState(key string) error {
	s := state{Key: key, Outputs: map[string]fileSig{}, Result: r.result}
	for _, f := range r.outputFiles() {
		if fs, ok := sig(filepath.Join(r.p.Dir, filepath.FromSlash(f))); ok {
			s.Outputs[f] = fs
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.stateDir, 0o755); err != nil {
		return err
	}
	tmp := r.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, r.statePath())
}

// previous returns the last run's result when its key matches and all its
// outputs are still in dist/ as it left them.
func (r *run) previous(key string) (*pipeline.Result, bool) {
	b, err := os.ReadFile(r.statePath())
	if err != nil {
		return nil, false
	}
	var s state
	if json.Unmarshal(b, &s) != nil || s.Key != key || s.Result == nil || len(s.Outputs) == 0 {
		return nil, false
	}
	for f, want := range s.Outputs {
		if got, ok := sig(filepath.Join(r.p.Dir, filepath.FromSlash(f))); !ok || got != want {
			return nil, false
		}
	}
	return s.Result, true
}
