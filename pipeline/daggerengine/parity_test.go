package daggerengine_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/aixgo-dev/agentship/internal/testenv"
	"github.com/aixgo-dev/agentship/pipeline"
	"github.com/aixgo-dev/agentship/pipeline/daggerengine"
	"github.com/aixgo-dev/agentship/pipeline/localengine"
)

// Engine parity: for one plan, the image the local engine writes to
// dist/oci and the image the Dagger engine asks Dagger for have the same
// config (user, entrypoint, cmd, env, ports, labels, healthcheck, workdir)
// and the same files with the same modes and owners. The Dagger side is
// what the recorded queries define (no engine runs here); the local side
// is a real run of the local engine. Production on linux/amd64, and the
// Debug image on the builtin toolbox base (the one base that needs no
// registry, so both sides can be built here).
func TestParityLocalAndDagger(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGENTSHIP_CACHE_DIR", t.TempDir())
	t.Setenv("GOPRIVATE", "")
	dir := writeAgent(t)
	gomod := "module " + fixtureModule + "\n\ngo 1.26.1\n\nrequire github.com/aixgo-dev/agentship v0.0.0\n\nreplace github.com/aixgo-dev/agentship => " + root + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	a := fixtureAgent(dir)
	a.Platforms = []string{"linux/amd64"}
	a.DebugBase = pipeline.DebugToolbox
	p := makePlan(t, a)

	log, logs := testLogger()
	ctx := context.Background()
	if _, err := localengine.New(log).Run(ctx, p, pipeline.StepBinaries, pipeline.StepProduction, pipeline.StepDebug); err != nil {
		t.Fatalf("local engine: %v\n%s", err, logs)
	}
	local := map[string]layoutImage{}
	for _, img := range []pipeline.Image{p.Production, p.Debug} {
		local[img.Target] = readLayoutImage(t, filepath.Join(p.Dir, p.Dist.OCILayout), img.Tag, "amd64")
	}

	s := newSession(t)
	if _, err := daggerengine.New(log).Run(ctx, p, pipeline.StepBinaries, pipeline.StepProduction, pipeline.StepDebug); err != nil {
		t.Fatalf("dagger engine: %v\n%s", err, logs)
	}
	for _, target := range []string{"production", "debug"} {
		t.Run(target, func(t *testing.T) {
			ctr := exportBySuffix(t, s.m, "/"+target+".tar").Ctrs[0]
			l := local[target]
			d := imageConfig(ctr)
			field := func(name string, local, dagger any) {
				t.Helper()
				if !reflect.DeepEqual(local, dagger) {
					t.Errorf("%s differs:\n local  %#v\n dagger %#v", name, local, dagger)
				}
			}
			field("user", l.config.User, d.User)
			field("entrypoint", l.config.Entrypoint, d.Entrypoint)
			field("cmd", l.config.Cmd, d.Cmd)
			field("env", l.config.Env, d.Env)
			field("exposed ports", l.config.ExposedPorts, d.ExposedPorts)
			field("labels", l.config.Labels, d.Labels)
			field("healthcheck", l.config.Healthcheck, d.Healthcheck)
			field("working dir", l.config.WorkingDir, d.WorkingDir)
			diffEntries(t, "files (local engine vs Dagger)", fsEntries(ctr), l.files)
			if !t.Failed() {
				t.Logf("%s: config and %d files with modes and owners are equal on both engines", target, len(l.files))
			}
		})
	}
}

type layoutImage struct {
	config v1.Config
	files  map[string]entry
}

// readLayoutImage reads one platform's image named tag from an OCI layout:
// its config, and every layer's tar headers as the file list.
func readLayoutImage(t *testing.T, dir, tag, arch string) layoutImage {
	t.Helper()
	img := testenv.LayoutImage(t, dir, tag, "linux/"+arch)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return layoutImage{config: cf.Config, files: layerEntries(t, img)}
}

func layerEntries(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]entry{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			e := entry{Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid}
			switch h.Typeflag {
			case tar.TypeDir:
				e.Kind = "dir"
			case tar.TypeSymlink:
				e.Kind, e.Link = "symlink", h.Linkname
			case tar.TypeReg:
				e.Kind = "file"
			default:
				e.Kind = string(h.Typeflag)
			}
			out["/"+strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = e
		}
		rc.Close()
	}
	return out
}
