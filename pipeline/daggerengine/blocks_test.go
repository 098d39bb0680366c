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

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/aixgo-dev/agentship/pipeline"
	"github.com/aixgo-dev/agentship/pipeline/daggerengine"
)

// connect opens an SDK client on the stand-in session, as user code would.
func connect(t *testing.T) (*session, *dagger.Client) {
	t.Helper()
	s := newSession(t)
	client, err := dagger.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return s, client
}

// evalContainer asks the SDK for the container's ID, the way Dagger
// resolves an object passed to another call, and returns what the model
// makes of it.
func evalContainer(t *testing.T, s *session, c *dagger.Container) *ctrObj {
	t.Helper()
	id, err := c.ID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.m.object(string(id))
	if err != nil {
		t.Fatal(err)
	}
	return o.(*ctrObj)
}

func TestContractZoneinfo(t *testing.T) {
	t.Setenv("GOPRIVATE", "")
	t.Setenv("NETRC", "none-such")
	s, client := connect(t)
	a := fixtureAgent(writeAgent(t))
	a.Zoneinfo = true
	p := makePlan(t, a)
	bins, err := daggerengine.Builder(client, p, daggerengine.BuilderOptions{Netrc: "none"})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := daggerengine.Production(client, p, bins)
	if err != nil {
		t.Fatal(err)
	}
	c := evalContainer(t, s, prod[0])
	want := map[string]entry{
		"/usr":                             dir(0o755),
		"/usr/share":                       dir(0o755),
		"/usr/share/zoneinfo":              dir(0o755),
		"/usr/share/zoneinfo/UTC":          file(0o644),
		"/usr/share/zoneinfo/Europe":       dir(0o755),
		"/usr/share/zoneinfo/Europe/Paris": file(0o644),
	}
	got := fsEntries(c)
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s is %s, want %s (tzdata from the builder image)", p, got[p], w)
		}
	}
	if v, _ := c.env("TZ"); v != "UTC" {
		t.Errorf("TZ=%q, want UTC", v)
	}
	for _, o := range c.Ops {
		if o.Exec != nil {
			t.Errorf("Production runs %q", o.Exec.Args)
		}
	}
	bld := c.FS["/agent"].Src.Exec
	if _, ok := bld.Mounts["/root/.netrc"]; ok || bld.Env["GOPRIVATE"] != "" {
		t.Errorf("no .netrc or GOPRIVATE was asked for, yet the builder has %v %v", bld.Mounts, bld.Env)
	}
}

// The example agent replaces the agentship module with ../..: the builder
// must lay out both modules as they are on the host.
func TestContractExampleAgentReplace(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	example := filepath.Join(root, "examples", "agent")
	if _, err := os.Stat(filepath.Join(example, "go.mod")); err != nil {
		t.Skip("examples/agent is not in this tree")
	}
	t.Setenv("GOPRIVATE", "")
	s, client := connect(t)
	p := makePlan(t, pipeline.Agent{Dir: example, Version: "0.1.0", Commit: "0123456789abcdef0123456789abcdef01234567", HealthCheck: []string{"/agent", "--health-check"}})
	bins, err := daggerengine.Builder(client, p, daggerengine.BuilderOptions{Netrc: "none"})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := daggerengine.Production(client, p, bins)
	if err != nil {
		t.Fatal(err)
	}
	c := evalContainer(t, s, prod[0])
	e := c.FS["/agent"].Src.Exec
	if e == nil {
		t.Fatal("/agent is not a build output")
	}
	if e.Workdir != "/src/examples/agent" {
		t.Errorf("build workdir %q, want /src/examples/agent", e.Workdir)
	}
	if want := p.Builder.Builds[0].Argv("/out/agent"); !reflect.DeepEqual(e.Args, want) {
		t.Errorf("go build %q, want %q", e.Args, want)
	}
	var steps []string
	for _, o := range e.Ctr.Ops {
		switch {
		case o.Field == "withDirectory" && o.Dir != nil && o.Dir.Host != "":
			rel, _ := filepath.Rel(root, o.Dir.Host)
			s := "copy " + filepath.ToSlash(rel) + " to " + o.Args["path"].(string)
			if o.Dir.Include != nil {
				s += " include " + strings.Join(o.Dir.Include, ",")
			}
			if contains(o.Dir.Exclude, "examples/agent") {
				s += " without examples/agent"
			}
			steps = append(steps, s)
		case o.Exec != nil:
			steps = append(steps, "run "+strings.Join(o.Exec.Args, " "))
		}
	}
	want := []string{
		"copy examples/agent to /src/examples/agent include go.mod,go.sum",
		"copy . to /src include go.mod,go.sum",
		"run go mod download",
		"copy . to /src without examples/agent",
		"copy examples/agent to /src/examples/agent",
	}
	if !reflect.DeepEqual(steps, want) {
		t.Errorf("builder steps\n got %q\nwant %q", steps, want)
	}
}

func TestBuilderImagePinnedByDigest(t *testing.T) {
	t.Setenv("GOPRIVATE", "")
	s, client := connect(t)
	p := makePlan(t, fixtureAgent(writeAgent(t)))
	pinned := "golang:1.26.1-alpine@sha256:" + strings.Repeat("ab", 32)
	bins, err := daggerengine.Builder(client, p, daggerengine.BuilderOptions{Image: pinned, Netrc: "none"})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := daggerengine.Production(client, p, bins)
	if err != nil {
		t.Fatal(err)
	}
	c := evalContainer(t, s, prod[0])
	if got := c.FS["/agent"].Src.Exec.Ctr.From; got != pinned {
		t.Errorf("builder image %q, want %q", got, pinned)
	}
	if got := c.FS[pipeline.CACertsPath].Src.Base; got != pinned {
		t.Errorf("CA certificates from %q, want the pinned builder %q", got, pinned)
	}
}

func TestDebugBaseFromOCILayout(t *testing.T) {
	t.Setenv("GOPRIVATE", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	s, client := connect(t)
	layoutDir := filepath.Join(t.TempDir(), "base")
	lp, err := layout.Write(layoutDir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "busybox:1"})); err != nil {
		t.Fatal(err)
	}
	a := fixtureAgent(writeAgent(t))
	a.DebugBase = "oci-layout://" + layoutDir + ":1"
	a.Platforms = []string{"linux/amd64"}
	p := makePlan(t, a)
	bins, err := daggerengine.Builder(client, p, daggerengine.BuilderOptions{Netrc: "none"})
	if err != nil {
		t.Fatal(err)
	}
	dbg, err := daggerengine.Debug(client, p, bins)
	if err != nil {
		t.Fatal(err)
	}
	c := evalContainer(t, s, dbg[0])
	imp := c.Ops[0]
	if imp.Field != "import" || imp.Args["tag"] != "busybox:1" || imp.File == nil || imp.File.Host == "" {
		t.Fatalf("the debug base is not imported from the layout: %v", opNames(c.Ops))
	}
	// The tarball Import reads holds the layout.
	f, err := os.Open(imp.File.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if !contains(names, "index.json") || !contains(names, "oci-layout") {
		t.Errorf("the import tarball holds %v, want an OCI layout", names)
	}
}

func TestRunRefusesUnknownStep(t *testing.T) {
	log, _ := testLogger()
	_, err := daggerengine.New(log).Run(context.Background(), &pipeline.Plan{}, "sbom")
	if err == nil || !strings.Contains(err.Error(), "unknown step") {
		t.Fatalf("err %v", err)
	}
}

// With the builtin Debug base the Debug image is scratch plus agentship's
// own shell, built for each platform like the agent.
func TestContractDebugToolbox(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOPRIVATE", "")
	s, client := connect(t)
	agentDir := writeAgent(t)
	gomod := "module " + fixtureModule + "\n\ngo 1.26.1\n\nrequire github.com/aixgo-dev/agentship v0.0.0\n\nreplace github.com/aixgo-dev/agentship => " + root + "\n"
	if err := os.WriteFile(filepath.Join(agentDir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	a := fixtureAgent(agentDir)
	a.DebugBase = pipeline.DebugToolbox
	p := makePlan(t, a)
	if p.Debug.Toolbox == nil || p.Debug.Toolbox.Dir != root {
		t.Fatalf("plan toolbox %+v, want built from %s", p.Debug.Toolbox, root)
	}
	bins, err := daggerengine.Builder(client, p, daggerengine.BuilderOptions{Netrc: "none"})
	if err != nil {
		t.Fatal(err)
	}
	dbg, err := daggerengine.Debug(client, p, bins)
	if err != nil {
		t.Fatal(err)
	}
	for i, plat := range p.Debug.Platforms {
		c := evalContainer(t, s, dbg[i])
		if c.From != "" {
			t.Errorf("%s: Debug on %q, want scratch plus the toolbox", plat, c.From)
		}
		want := withEntries(configEntries, map[string]entry{"/bin": dir(0o755), "/bin/sh": file(0o755), "/agent": file(0o755)})
		diffEntries(t, "Debug files", fsEntries(c), want)
		sh := c.FS["/bin/sh"].Src.Exec
		if sh == nil {
			t.Fatalf("%s: /bin/sh is not a build output", plat)
		}
		if want := p.Debug.Toolbox.Builds[i].Argv("/out/sh"); !reflect.DeepEqual(sh.Args, want) || sh.Env["GOARCH"] != plat.Arch {
			t.Errorf("%s: toolbox build %q GOARCH=%s, want %q", plat, sh.Args, sh.Env["GOARCH"], want)
		}
		srcOp := sh.Ctr.opIndex(func(o op) bool { return o.Dir != nil && o.Dir.Host == root })
		if srcOp < 0 || sh.Workdir != "/src" {
			t.Errorf("%s: the toolbox is not built from %s in /src: %v", plat, root, opNames(sh.Ctr.Ops))
		}
		if !reflect.DeepEqual(c.Cmd, []string{"/bin/sh"}) || c.Entrypoint != nil {
			t.Errorf("%s: entrypoint %q cmd %q", plat, c.Entrypoint, c.Cmd)
		}
		if v, _ := c.env("PATH"); v != "/bin" {
			t.Errorf("%s: PATH=%q, want /bin", plat, v)
		}
	}
}
