package daggerengine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/aixgo-dev/agentship/internal/distdir"
	"github.com/aixgo-dev/agentship/internal/lambdazip"
	"github.com/aixgo-dev/agentship/pipeline"
	"github.com/aixgo-dev/agentship/pipeline/daggerengine"
)

// runAll runs every step of the fixture agent's plan on the Dagger engine
// against the stand-in session.
func runAll(t *testing.T) (*session, *pipeline.Plan, *pipeline.Result, string) {
	t.Helper()
	netrc := secretEnv(t)
	s := newSession(t)
	p := makePlan(t, fixtureAgent(writeAgent(t)))
	log, logs := testLogger()
	res, err := daggerengine.New(log).Run(context.Background(), p,
		pipeline.StepBinaries, pipeline.StepProduction, pipeline.StepDebug, pipeline.StepLambdaZip, pipeline.StepLambdaImage)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, logs)
	}
	t.Logf("the SDK sent %d GraphQL queries for binaries, production, debug, lambda-zip and lambda-image: %d ask for an ID (objects passed as arguments), %d export",
		s.queryCount(), s.countQueries("id}"), s.countQueries("export("))
	if n := s.countQueries("export("); n != 6 {
		t.Errorf("%d export queries, want 6: two binaries, the bootstrap, and one per image target (platforms go as variants)", n)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	})
	checkNoSecrets(t, s, logs.String())
	return s, p, res, netrc
}

func exportBySuffix(t *testing.T, m *model, suffix string) *exportRec {
	t.Helper()
	var found []*exportRec
	for _, e := range m.exports {
		if strings.HasSuffix(filepath.ToSlash(e.Path), suffix) {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		var all []string
		for _, e := range m.exports {
			all = append(all, e.Path)
		}
		t.Fatalf("want one export to *%s, got %d (exports: %v)", suffix, len(found), all)
	}
	return found[0]
}

// entry is what a layer's tar header says of one path.
type entry struct {
	Kind     string
	Mode     int64
	UID, GID int
	Link     string
}

func (e entry) String() string {
	s := fmt.Sprintf("%s %04o %d:%d", e.Kind, e.Mode, e.UID, e.GID)
	if e.Link != "" {
		s += " -> " + e.Link
	}
	return s
}

func fsEntries(c *ctrObj) map[string]entry {
	out := map[string]entry{}
	for p, n := range c.FS {
		out[p] = entry{Kind: n.Kind, Mode: n.Mode, UID: n.UID, GID: n.GID, Link: n.Link}
	}
	return out
}

func diffEntries(t *testing.T, what string, got, want map[string]entry) {
	t.Helper()
	var paths []string
	seen := map[string]bool{}
	for p := range got {
		paths, seen[p] = append(paths, p), true
	}
	for p := range want {
		if !seen[p] {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		g, gok := got[p]
		w, wok := want[p]
		switch {
		case !gok:
			t.Errorf("%s: %s missing (want %s)", what, p, w)
		case !wok:
			t.Errorf("%s: unexpected %s (%s)", what, p, g)
		case g != w:
			t.Errorf("%s: %s is %s, want %s", what, p, g, w)
		}
	}
}

func dir(mode int64) entry  { return entry{Kind: "dir", Mode: mode} }
func file(mode int64) entry { return entry{Kind: "file", Mode: mode} }

// configEntries are the fixture's config tree in an image.
var configEntries = map[string]entry{
	"/config":                    dir(0o755),
	"/config/agents.yaml":        file(0o644),
	"/config/hooks":              dir(0o755),
	"/config/hooks/warmup.sh":    file(0o755), // executable on the host
	"/config/prompts":            dir(0o755),
	"/config/prompts/system.txt": file(0o644), // 0600 on the host
}

func withEntries(base map[string]entry, more map[string]entry) map[string]entry {
	out := map[string]entry{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func TestContractBuilder(t *testing.T) {
	s, p, _, netrc := runAll(t)
	modVol, buildVol := daggerengine.CacheVolumeNames(fixtureModule)
	if modVol != "agentship-gomodcache-example.com_acme_support-agent" || buildVol != "agentship-gocache-example.com_acme_support-agent" {
		t.Errorf("cache volumes %q, %q: want them named after the module", modVol, buildVol)
	}
	for _, b := range p.Builder.Builds {
		t.Run(b.Platform.Slug(), func(t *testing.T) {
			exp := exportBySuffix(t, s.m, b.Output[len("dist/"):])
			e := exp.File.Exec
			if e == nil {
				t.Fatalf("the binary exported to %s is not a go build output: %+v", exp.Path, exp.File)
			}
			builder := e.Ctr
			if builder.From != "golang:1.26.1-alpine" {
				t.Errorf("builder image %q, want golang:1.26.1-alpine (go.mod's go line)", builder.From)
			}
			if want := b.Argv("/out/support-agent"); !reflect.DeepEqual(e.Args, want) {
				t.Errorf("go build args\n got %q\nwant %q", e.Args, want)
			}
			wantEnv := map[string]string{
				"CGO_ENABLED": "0", "GOOS": b.Platform.OS, "GOARCH": b.Platform.Arch,
				"GOMODCACHE": "/go/pkg/mod", "GOCACHE": "/root/.cache/go-build",
				"GOPRIVATE": "git.example.com/acme",
			}
			for k, v := range wantEnv {
				if e.Env[k] != v {
					t.Errorf("build env %s=%q, want %q", k, e.Env[k], v)
				}
			}
			for k := range e.Env {
				if strings.Contains(k, "PASSWORD") || k == "NETRC" || k == "GOAUTH" {
					t.Errorf("build env has %s as a plain variable", k)
				}
			}
			wantMounts := map[string]string{
				"/go/pkg/mod":           "cache:" + modVol,
				"/root/.cache/go-build": "cache:" + buildVol,
				"/root/.netrc":          "secret:file://" + filepath.ToSlash(netrc),
			}
			if !reflect.DeepEqual(e.Mounts, wantMounts) {
				t.Errorf("mounts\n got %v\nwant %v", e.Mounts, wantMounts)
			}
			if !reflect.DeepEqual(e.SecretEnv, map[string]string{"GOAUTH": "env://GOAUTH"}) {
				t.Errorf("secret variables %v, want GOAUTH from env://GOAUTH", e.SecretEnv)
			}
			if e.Workdir != "/src" {
				t.Errorf("build workdir %q, want /src", e.Workdir)
			}

			ops := builder.Ops
			modFiles := builder.opIndex(func(o op) bool {
				return o.Field == "withDirectory" && o.Dir != nil && o.Dir.Host == p.Dir &&
					reflect.DeepEqual(o.Dir.Include, []string{"go.mod", "go.sum"}) && o.Args["path"] == "/src"
			})
			git := builder.opIndex(func(o op) bool {
				return o.Exec != nil && strings.Join(o.Exec.Args, " ") == "apk add --no-cache git"
			})
			download := builder.opIndex(func(o op) bool {
				return o.Exec != nil && strings.Join(o.Exec.Args, " ") == "go mod download"
			})
			source := builder.opIndex(func(o op) bool {
				return o.Field == "withDirectory" && o.Dir != nil && o.Dir.Host == p.Dir && o.Dir.Include == nil
			})
			if modFiles < 0 || download < 0 || source < 0 || git < 0 {
				t.Fatalf("builder ops lack go.mod/go.sum (%d), git for GOPRIVATE (%d), go mod download (%d) or the source (%d): %v", modFiles, git, download, source, opNames(ops))
			}
			if !(git < download && modFiles < download && download < source) {
				t.Errorf("want go.mod/go.sum and git before go mod download before the source; got positions %d, %d, %d, %d in %v", modFiles, git, download, source, opNames(ops))
			}
			if mounts := ops[download].Exec.Mounts; mounts["/go/pkg/mod"] == "" || mounts["/root/.netrc"] == "" {
				t.Errorf("go mod download ran without the module cache or the .netrc: %v", mounts)
			}
			src := ops[source].Dir
			for _, x := range []string{".git", "dist", "*.md", "secrets/"} {
				if !contains(src.Exclude, x) {
					t.Errorf("source excludes %v: want %q (dist, .git, .dockerignore)", src.Exclude, x)
				}
			}
			if !src.Gitignore {
				t.Error("source does not apply .gitignore")
			}
			for _, o := range ops[source+1:] {
				if o.Exec != nil {
					t.Errorf("an exec runs between the source and go build: %q", o.Exec.Args)
				}
			}
		})
	}
	if n := s.countQueries("setSecret"); n != 0 {
		t.Errorf("%d queries use setSecret: secrets must come from provider URIs", n)
	}
}

func opNames(ops []op) []string {
	var out []string
	for _, o := range ops {
		s := o.Field
		if o.Exec != nil {
			s += fmt.Sprintf("%q", o.Exec.Args)
		}
		if p, ok := o.Args["path"].(string); ok {
			s += "(" + p + ")"
		}
		out = append(out, s)
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestContractProduction(t *testing.T) {
	s, p, _, _ := runAll(t)
	exp := exportBySuffix(t, s.m, "/production.tar")
	if exp.ForcedCompression != "Gzip" || exp.MediaTypes != "OCIMediaTypes" {
		t.Errorf("export compression %q, media types %q: want Gzip and OCIMediaTypes", exp.ForcedCompression, exp.MediaTypes)
	}
	if len(exp.Ctrs) != len(p.Production.Platforms) {
		t.Fatalf("export has %d platform containers, want %d (one plus platformVariants)", len(exp.Ctrs), len(p.Production.Platforms))
	}
	want := withEntries(configEntries, map[string]entry{
		"/etc":                               dir(0o755),
		"/etc/ssl":                           dir(0o755),
		"/etc/ssl/certs":                     dir(0o755),
		"/etc/ssl/certs/ca-certificates.crt": file(0o644),
		"/etc/passwd":                        file(0o644),
		"/etc/group":                         file(0o644),
		"/agent":                             file(0o755),
	})
	for i, plat := range p.Production.Platforms {
		c := exp.Ctrs[i]
		t.Run(plat.Slug(), func(t *testing.T) {
			if c.Platform != plat.String() {
				t.Errorf("container platform %q, want %q", c.Platform, plat)
			}
			if c.From != "" {
				t.Errorf("Production is based on %q: want scratch", c.From)
			}
			for _, o := range c.Ops {
				if o.Exec != nil {
					t.Errorf("Production runs %q: nothing may run in it (it has no shell)", o.Exec.Args)
				}
			}
			diffEntries(t, "Production files", fsEntries(c), want)
			for path, n := range c.FS {
				if n.Implicit {
					t.Errorf("%s was created implicitly: every parent must be made explicitly, root 0755", path)
				}
				if n.MTime == nil || *n.MTime != 0 {
					t.Errorf("%s has no fixed timestamp: want 0 (WithTimestamps)", path)
				}
			}
			ca := c.FS["/etc/ssl/certs/ca-certificates.crt"].Src
			if ca.Base != "golang:1.26.1-alpine" || ca.Path != pipeline.CACertsPath {
				t.Errorf("CA certificates from %q:%s, want the builder image's %s", ca.Base, ca.Path, pipeline.CACertsPath)
			}
			for _, f := range p.Production.Files {
				if f.From == pipeline.FromInline {
					if got := c.FS[f.Path].Src.Content; got == nil || *got != f.Content {
						t.Errorf("%s content differs from the plan's", f.Path)
					}
				}
			}
			bin := c.FS["/agent"].Src.Exec
			if bin == nil || bin.Env["GOARCH"] != plat.Arch || bin.Env["GOOS"] != "linux" {
				t.Errorf("/agent is not the %s build: %+v", plat, bin)
			}
			if h := c.FS["/config/prompts/system.txt"].Src.Host; h != filepath.Join(p.Dir, "config", "prompts", "system.txt") {
				t.Errorf("/config/prompts/system.txt comes from %q", h)
			}
			if _, ok := c.FS["/bin/sh"]; ok {
				t.Error("Production has /bin/sh")
			}

			cfg := p.Production.Config
			if c.User != "65534:65534" || c.User != cfg.User {
				t.Errorf("user %q, want %q", c.User, cfg.User)
			}
			if !reflect.DeepEqual(c.Entrypoint, []string{"/agent"}) {
				t.Errorf("entrypoint %q, want [/agent]", c.Entrypoint)
			}
			if c.Cmd != nil {
				t.Errorf("cmd %q, want none", c.Cmd)
			}
			if !reflect.DeepEqual(c.Env, []string{"PORT=8080"}) {
				t.Errorf("env %q, want [PORT=8080]", c.Env)
			}
			if !reflect.DeepEqual(c.Ports, []string{"8080/tcp"}) {
				t.Errorf("exposed ports %q, want [8080/tcp]", c.Ports)
			}
			wantLabels := map[string]string{
				pipeline.LabelVersion:  "1.4.2",
				pipeline.LabelRevision: "0123456789abcdef0123456789abcdef01234567",
				pipeline.LabelCreated:  "2023-11-14T22:13:20Z",
				pipeline.LabelTitle:    "support-agent",
				"com.example.team":     "support",
			}
			if !reflect.DeepEqual(c.Labels, wantLabels) {
				t.Errorf("labels\n got %v\nwant %v", c.Labels, wantLabels)
			}
			wantHealth := &health{Args: []string{"/agent", "--health-check"}, Interval: "30s", Timeout: "5s", StartPeriod: "5s", Retries: 3}
			if !reflect.DeepEqual(c.Health, wantHealth) {
				t.Errorf("healthcheck %+v, want %+v", c.Health, wantHealth)
			}
			if c.Workdir != "" || len(c.Mounts) != 0 || len(c.SecretEnv) != 0 {
				t.Errorf("Production has a workdir %q, mounts %v or secret variables %v", c.Workdir, c.Mounts, c.SecretEnv)
			}
		})
	}
}

func TestContractDebug(t *testing.T) {
	s, p, _, _ := runAll(t)
	exp := exportBySuffix(t, s.m, "/debug.tar")
	if len(exp.Ctrs) != len(p.Debug.Platforms) {
		t.Fatalf("debug export has %d containers, want %d", len(exp.Ctrs), len(p.Debug.Platforms))
	}
	for i, plat := range p.Debug.Platforms {
		c := exp.Ctrs[i]
		t.Run(plat.Slug(), func(t *testing.T) {
			if c.From != "alpine:3.22" || c.Platform != plat.String() {
				t.Errorf("Debug base %q on %q, want alpine:3.22 on %s", c.From, c.Platform, plat)
			}
			want := withEntries(configEntries, map[string]entry{
				"/bin": dir(0o755), "/bin/sh": file(0o755), // the base's
				"/agent": file(0o755),
			})
			diffEntries(t, "Debug files", fsEntries(c), want)
			if c.FS["/agent"].Src.Exec == nil || c.FS["/agent"].Src.Exec.Env["GOARCH"] != plat.Arch {
				t.Errorf("/agent is not the %s build", plat)
			}
			if c.Entrypoint != nil || !reflect.DeepEqual(c.Cmd, []string{"/bin/sh"}) {
				t.Errorf("entrypoint %q cmd %q, want none and [/bin/sh]", c.Entrypoint, c.Cmd)
			}
			if c.User != "" {
				t.Errorf("Debug sets user %q: it keeps the base's", c.User)
			}
			if v, _ := c.env("PORT"); v != "8080" {
				t.Errorf("PORT=%q", v)
			}
			if _, ok := c.env("PATH"); !ok {
				t.Error("the base's PATH was dropped")
			}
			if c.Health != nil {
				t.Errorf("Debug has a healthcheck %+v", c.Health)
			}
			if c.Labels[pipeline.LabelVersion] != "1.4.2" || !reflect.DeepEqual(c.Ports, []string{"8080/tcp"}) {
				t.Errorf("labels %v ports %v", c.Labels, c.Ports)
			}
		})
	}
}

func TestContractLambda(t *testing.T) {
	s, p, _, _ := runAll(t)
	boot := exportBySuffix(t, s.m, "/bootstrap")
	e := boot.File.Exec
	if e == nil {
		t.Fatalf("the bootstrap is not a go build output")
	}
	if want := p.Lambda.Build.Argv("/out/bootstrap"); !reflect.DeepEqual(e.Args, want) {
		t.Errorf("bootstrap build args\n got %q\nwant %q", e.Args, want)
	}
	if !contains(e.Args, "lambda.norpc") || e.Env["GOARCH"] != "amd64" || e.Env["CGO_ENABLED"] != "0" {
		t.Errorf("bootstrap build: args %q env GOARCH=%q CGO_ENABLED=%q", e.Args, e.Env["GOARCH"], e.Env["CGO_ENABLED"])
	}
	if e.Ctr.From != "golang:1.26.1-alpine" || e.Mounts["/go/pkg/mod"] == "" {
		t.Errorf("the bootstrap is not built in the Builder container: %q %v", e.Ctr.From, e.Mounts)
	}

	img := exportBySuffix(t, s.m, "/lambda.tar")
	if len(img.Ctrs) != 1 {
		t.Fatalf("the Lambda image export has %d containers, want 1", len(img.Ctrs))
	}
	c := img.Ctrs[0]
	if c.From != "" || c.Platform != "linux/amd64" {
		t.Errorf("Lambda image on %q, platform %q: want scratch, linux/amd64", c.From, c.Platform)
	}
	want := withEntries(configEntries, map[string]entry{
		"/etc": dir(0o755), "/etc/ssl": dir(0o755), "/etc/ssl/certs": dir(0o755),
		"/etc/ssl/certs/ca-certificates.crt": file(0o644),
		"/bootstrap":                         file(0o755),
	})
	diffEntries(t, "Lambda image files", fsEntries(c), want)
	if c.FS["/bootstrap"].Src.Exec != e {
		t.Error("the Lambda image's /bootstrap is not the exported bootstrap build")
	}
	if !reflect.DeepEqual(c.Entrypoint, []string{"/bootstrap"}) || c.Cmd != nil || c.User != "" {
		t.Errorf("entrypoint %q cmd %q user %q", c.Entrypoint, c.Cmd, c.User)
	}

	zipPath := filepath.Join(p.Dir, p.Dist.LambdaZip)
	if err := lambdazip.Verify(zipPath); err != nil {
		t.Fatal(err)
	}
	entries, err := lambdazip.Inspect(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, fmt.Sprintf("%s %v", en.Name, en.Mode.Perm()))
	}
	if len(names) == 0 || !strings.HasPrefix(names[0], "bootstrap -rwxr-xr-x") || !contains(names, "config/agents.yaml -rw-r--r--") {
		t.Errorf("zip entries %q: want bootstrap 0755 and the config", names)
	}
}

func TestContractDist(t *testing.T) {
	_, p, res, _ := runAll(t)
	for _, b := range p.Builder.Builds {
		st, err := os.Stat(filepath.Join(p.Dir, b.Output))
		if err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v (mode %v)", b.Output, err, st)
		}
	}
	lp, err := layout.FromPath(filepath.Join(p.Dir, p.Dist.OCILayout))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]int{}
	for _, d := range im.Manifests {
		tag := d.Annotations[distdir.RefName]
		if tag == "support-agent:1.4.2-lambda" {
			// Lambda refuses indexes: its image is stored as one manifest.
			if !d.MediaType.IsImage() {
				t.Errorf("%s in dist/oci is a %s, want an image manifest", tag, d.MediaType)
			}
			tags[tag] = 1
			continue
		}
		if !d.MediaType.IsIndex() {
			t.Errorf("%s in dist/oci is a %s, want an image index", tag, d.MediaType)
			continue
		}
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cm, _ := child.IndexManifest()
		tags[d.Annotations[distdir.RefName]] = len(cm.Manifests)
	}
	wantTags := map[string]int{"support-agent:1.4.2": 2, "support-agent:1.4.2-debug": 2, "support-agent:1.4.2-lambda": 1}
	if !reflect.DeepEqual(tags, wantTags) {
		t.Errorf("dist/oci holds %v (tag: platforms), want %v", tags, wantTags)
	}

	host := "amd64"
	if runtime.GOARCH == "arm64" {
		host = "arm64"
	}
	for tarRel, tag := range map[string]string{
		p.Dist.ImageTar: "support-agent:1.4.2", p.Dist.DebugImageTar: "support-agent:1.4.2-debug", p.Dist.LambdaImageTar: "support-agent:1.4.2-lambda",
	} {
		ref, _ := name.NewTag(tag)
		img, err := tarball.ImageFromPath(filepath.Join(p.Dir, tarRel), &ref)
		if err != nil {
			t.Errorf("%s is not a docker-loadable tarball of %s: %v", tarRel, tag, err)
			continue
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if want := host; tarRel == p.Dist.LambdaImageTar {
			want = "amd64"
			if cf.Architecture != want {
				t.Errorf("%s holds %s, want %s", tarRel, cf.Architecture, want)
			}
		} else if cf.Architecture != want {
			t.Errorf("%s holds %s, want the host's %s", tarRel, cf.Architecture, want)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(p.Dir, "dist", ".agentship-tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("staging left in dist/: %v", leftovers)
	}

	kinds := map[string]int{}
	for _, a := range res.Artifacts {
		kinds[a.Kind]++
		if a.Kind != "index" && a.Size == 0 {
			t.Errorf("artifact %+v has no size", a)
		}
	}
	wantKinds := map[string]int{"binary": 2, "image": 5, "index": 2, "image-tar": 3, "zip": 1}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Errorf("result artifacts by kind %v, want %v", kinds, wantKinds)
	}
	if res.Engine != "dagger" {
		t.Errorf("result engine %q", res.Engine)
	}
	t.Logf("summary:\n%s", res.Summary())
}

// checkNoSecrets fails when a secret value appears in a request to the
// session or in the log, or when a secret was made from plaintext.
func checkNoSecrets(t *testing.T, s *session, logs string) {
	t.Helper()
	all := s.allText()
	for _, secret := range []string{registryPassword, netrcPassword} {
		if strings.Contains(all, secret) {
			t.Errorf("a query sent to the Dagger session contains a secret value (%q…)", secret[:4])
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains a secret value (%q…)", secret[:4])
		}
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if len(s.m.setSecrets) > 0 {
		t.Errorf("setSecret called for %v: secrets must come from provider URIs", s.m.setSecrets)
	}
	for _, uri := range s.m.secretURIs {
		if !strings.HasPrefix(uri, "env://") && !strings.HasPrefix(uri, "file://") {
			t.Errorf("secret URI %q is not a provider URI", uri)
		}
	}
}

func TestContractPublish(t *testing.T) {
	secretEnv(t)
	s := newSession(t)
	p := makePlan(t, fixtureAgent(writeAgent(t)))
	log, logs := testLogger()
	out, err := daggerengine.New(log).Push(context.Background(), p, "production")
	if err != nil {
		t.Fatalf("Push: %v\n%s", err, logs)
	}
	refs := out.References
	t.Logf("the SDK sent %d GraphQL queries to publish", s.queryCount())
	checkNoSecrets(t, s, logs.String())

	if !reflect.DeepEqual(p.Push.Tags, []string{"1.4.2", "0123456"}) {
		t.Fatalf("plan tags %v", p.Push.Tags)
	}
	if len(s.m.publishes) != len(p.Push.Tags) || len(refs) != len(p.Push.Tags) {
		t.Fatalf("%d publishes, %d refs: want one per tag %v", len(s.m.publishes), len(refs), p.Push.Tags)
	}
	for i, pub := range s.m.publishes {
		if want := p.Push.Repository + ":" + p.Push.Tags[i]; pub.Address != want {
			t.Errorf("publish address %q, want %q", pub.Address, want)
		}
		if len(pub.Ctrs) != 2 || pub.Ctrs[0].Platform != "linux/amd64" || pub.Ctrs[1].Platform != "linux/arm64" {
			t.Errorf("publish %s: want linux/amd64 with the linux/arm64 platform variant", pub.Address)
		}
		if pub.ForcedCompression != "Gzip" || pub.MediaTypes != "OCIMediaTypes" {
			t.Errorf("publish compression %q media types %q", pub.ForcedCompression, pub.MediaTypes)
		}
		wantAuth := []auth{{Address: "registry.example.com/acme/support-agent", Username: "ci-bot", SecretURI: "env://REGISTRY_PASSWORD"}}
		if !reflect.DeepEqual(pub.Ctrs[0].Auth, wantAuth) {
			t.Errorf("registry auth %+v, want %+v", pub.Ctrs[0].Auth, wantAuth)
		}
		if refs[i] != pub.Ref || !strings.Contains(refs[i], "@sha256:") {
			t.Errorf("ref %q, want %q", refs[i], pub.Ref)
		}
		if !strings.Contains(logs.String(), pub.Ref) {
			t.Errorf("the log does not print %s", pub.Ref)
		}
	}
	digest, err := os.ReadFile(filepath.Join(p.Dir, p.Dist.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if want := refs[0][strings.Index(refs[0], "@")+1:]; string(digest) != want+"\n" || out.Digest != want || out.Repository != p.Push.Repository {
		t.Errorf("%s holds %q, result %+v: want digest %q", p.Dist.Digest, digest, out, want)
	}
	// What was pushed is what was exported to dist/.
	exp := exportBySuffix(t, s.m, "/production.tar")
	for i := range exp.Ctrs {
		if !reflect.DeepEqual(imageConfig(exp.Ctrs[i]), imageConfig(s.m.publishes[0].Ctrs[i])) || !reflect.DeepEqual(fsEntries(exp.Ctrs[i]), fsEntries(s.m.publishes[0].Ctrs[i])) {
			t.Errorf("the pushed %s image differs from the one exported to dist/", exp.Ctrs[i].Platform)
		}
	}
}

func TestContractPushLambdaImage(t *testing.T) {
	secretEnv(t)
	s := newSession(t)
	p := makePlan(t, fixtureAgent(writeAgent(t)))
	log, logs := testLogger()
	out, err := daggerengine.New(log).Push(context.Background(), p, "lambda")
	if err != nil {
		t.Fatalf("Push: %v\n%s", err, logs)
	}
	checkNoSecrets(t, s, logs.String())
	if len(s.m.publishes) != len(p.Push.Tags) || len(out.References) != len(p.Push.Tags) {
		t.Fatalf("%d publishes for tags %v", len(s.m.publishes), p.Push.Tags)
	}
	for i, pub := range s.m.publishes {
		if want := p.Push.Repository + ":" + p.PushTags("lambda")[i]; pub.Address != want || !strings.HasSuffix(want, "-lambda") {
			t.Errorf("lambda push to %s, want %s (suffixed, so the production tags never move)", pub.Address, want)
		}
		if len(pub.Ctrs) != 1 || pub.Ctrs[0].Platform != "linux/amd64" || !reflect.DeepEqual(pub.Ctrs[0].Entrypoint, []string{"/bootstrap"}) {
			t.Errorf("lambda push %s: want the one-platform Lambda image", pub.Address)
		}
	}
	if _, err := os.Stat(filepath.Join(p.Dir, p.Dist.Digest)); !os.IsNotExist(err) {
		t.Errorf("a lambda push wrote %s (only production does): %v", p.Dist.Digest, err)
	}
	if _, err := daggerengine.New(log).Push(context.Background(), p, "sbom"); err == nil {
		t.Error("pushing an unknown target did not fail")
	}
}

func TestRegistryAuth(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cases := []struct {
		name      string
		repo      string
		opts      daggerengine.PublishOptions
		user, uri string
		ok        bool
		err       string
	}{
		{"env", "registry.example.com/a/b", daggerengine.PublishOptions{Getenv: env("REGISTRY_USERNAME", "u", "REGISTRY_PASSWORD", "p")}, "u", "env://REGISTRY_PASSWORD", true, ""},
		{"env scoped to this registry", "registry.example.com/a/b", daggerengine.PublishOptions{Getenv: env("REGISTRY_USERNAME", "u", "REGISTRY_PASSWORD", "p", "REGISTRY", "https://registry.example.com")}, "u", "env://REGISTRY_PASSWORD", true, ""},
		{"env scoped to another registry", "registry.example.com/a/b", daggerengine.PublishOptions{Getenv: env("REGISTRY_USERNAME", "u", "REGISTRY_PASSWORD", "p", "REGISTRY", "docker.io")}, "", "", false, ""},
		{"docker hub", "acme/agent", daggerengine.PublishOptions{Getenv: env("REGISTRY_USERNAME", "u", "REGISTRY_PASSWORD", "p", "REGISTRY", "docker.io")}, "u", "env://REGISTRY_PASSWORD", true, ""},
		{"password without username", "registry.example.com/a/b", daggerengine.PublishOptions{Getenv: env("REGISTRY_PASSWORD", "p")}, "", "", false, ""},
		{"ghcr token", "ghcr.io/acme/agent", daggerengine.PublishOptions{Getenv: env("GITHUB_TOKEN", "t", "GITHUB_ACTOR", "octocat")}, "octocat", "env://GITHUB_TOKEN", true, ""},
		{"ghcr token, no actor", "ghcr.io/acme/agent", daggerengine.PublishOptions{Getenv: env("GITHUB_TOKEN", "t")}, "x-access-token", "env://GITHUB_TOKEN", true, ""},
		{"token elsewhere", "registry.example.com/a/b", daggerengine.PublishOptions{Getenv: env("GITHUB_TOKEN", "t", "GITHUB_ACTOR", "octocat")}, "", "", false, ""},
		{"file uri", "registry.example.com/a/b", daggerengine.PublishOptions{Username: "u", Password: "file:///run/secrets/registry", Getenv: env()}, "u", "file:///run/secrets/registry", true, ""},
		{"plaintext refused", "registry.example.com/a/b", daggerengine.PublishOptions{Username: "u", Password: "hunter2", Getenv: env()}, "", "", false, "provider URI"},
		{"uri without username", "registry.example.com/a/b", daggerengine.PublishOptions{Password: "env://X", Getenv: env()}, "", "", false, "no username"},
		{"docker credentials", "registry.example.com/a/b", daggerengine.PublishOptions{Getenv: env()}, "", "", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			user, uri, ok, err := c.opts.RegistryAuth(c.repo)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want one mentioning %q", err, c.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil || user != c.user || uri != c.uri || ok != c.ok {
				t.Errorf("got %q %q %v %v, want %q %q %v", user, uri, ok, err, c.user, c.uri, c.ok)
			}
		})
	}
}

func TestContractPushDebug(t *testing.T) {
	secretEnv(t)
	s := newSession(t)
	p := makePlan(t, fixtureAgent(writeAgent(t)))
	log, logs := testLogger()
	out, err := daggerengine.New(log).Push(context.Background(), p, "debug")
	if err != nil {
		t.Fatalf("Push: %v\n%s", err, logs)
	}
	checkNoSecrets(t, s, logs.String())
	want := []string{"1.4.2-debug", "0123456-debug"}
	if !reflect.DeepEqual(p.PushTags("debug"), want) || len(s.m.publishes) != len(want) || len(out.References) != len(want) {
		t.Fatalf("%d publishes, tags %v: want %v", len(s.m.publishes), p.PushTags("debug"), want)
	}
	for i, pub := range s.m.publishes {
		if pub.Address != p.Push.Repository+":"+want[i] {
			t.Errorf("debug push to %s, want tag %s", pub.Address, want[i])
		}
		if len(pub.Ctrs) != 2 || pub.Ctrs[0].From != "alpine:3.22" || !reflect.DeepEqual(pub.Ctrs[0].Cmd, []string{"/bin/sh"}) {
			t.Errorf("debug push %s: want the two-platform Debug image", pub.Address)
		}
		if len(pub.Ctrs[0].Auth) != 1 || pub.Ctrs[0].Auth[0].SecretURI != "env://REGISTRY_PASSWORD" {
			t.Errorf("debug push auth %+v", pub.Ctrs[0].Auth)
		}
	}
}
