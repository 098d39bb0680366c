package pipeline

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite pipeline/testdata golden files")

const (
	fixtureModule = "example.com/acme/support-agent"
	fixtureCommit = "0123456789abcdef0123456789abcdef01234567"
	fixtureTime   = 1700000000 // 2023-11-14T22:13:20Z
)

// writeFiles lays out files (path -> content) under a new temp dir.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fixtureAgent is the support agent of the golden test: its main package
// in cmd/support and a config/ directory.
func fixtureAgent(t *testing.T) string {
	return writeFiles(t, map[string]string{
		"go.mod":              "module " + fixtureModule + "\n\ngo 1.26\n",
		"cmd/support/main.go": "package main\n\nvar Version, GitCommit string\n\nfunc main() {}\n",
		"config/agents.yaml":  "agents:\n  - name: support\n",
	})
}

// fakeGit answers the git calls resolve makes as a tagged, pushed commit
// would; any other call fails the test.
func fakeGit(t *testing.T) git {
	return fakeGitRemote(t, "git@github.com:acme/support-agent.git")
}

func fakeGitRemote(t *testing.T, remote string) git {
	return func(args ...string) (string, bool) {
		switch strings.Join(args, " ") {
		case "describe --tags --always --dirty":
			return "v1.2.3", true
		case "rev-parse HEAD":
			return fixtureCommit, true
		case "log -1 --format=%ct":
			return "1700000000", true
		case "remote get-url origin":
			return remote, true
		}
		t.Errorf("unexpected git call: git %s", strings.Join(args, " "))
		return "", false
	}
}

// noGit is a directory outside any repository, or a machine without git.
func noGit(...string) (string, bool) { return "", false }

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func noEnv(string) string { return "" }

func mustResolve(t *testing.T, a Agent, getenv func(string) string, g git) Resolved {
	t.Helper()
	r, err := resolve(a, getenv, g)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return r
}

func mustPlan(t *testing.T, a Agent, getenv func(string) string, g git) *Plan {
	t.Helper()
	p, err := MakePlan(mustResolve(t, a, getenv, g))
	if err != nil {
		t.Fatalf("MakePlan: %v", err)
	}
	return p
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pipeline -run Golden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("plan differs from %s (rerun with -update if the change is meant):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff shows the first lines that differ, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + wl + "\n  got  " + gl + "\n")
			shown++
		}
	}
	return b.String()
}

func TestPlanGolden(t *testing.T) {
	dir := fixtureAgent(t)
	p := mustPlan(t, Agent{Dir: dir, Main: "cmd/support", BinaryPath: "/support"}, noEnv, fakeGit(t))
	abs, _ := filepath.Abs(dir)
	if p.Dir != abs {
		t.Fatalf("Dir = %q, want %q", p.Dir, abs)
	}
	golden(t, "plan.golden.json", strings.ReplaceAll(p.String(), p.Dir, "$DIR")+"\n")
}

// TestPlanGoldenDirect asserts what the golden file holds that matters most,
// so a careless -update cannot bless a wrong build or image.
func TestPlanGoldenDirect(t *testing.T) {
	dir := fixtureAgent(t)
	p := mustPlan(t, Agent{Dir: dir, Main: "cmd/support", BinaryPath: "/support"}, noEnv, fakeGit(t))

	if p.Name != "support" || p.Version != "v1.2.3" || p.Commit != fixtureCommit || p.Module != fixtureModule {
		t.Errorf("name/version/commit/module = %q %q %q %q", p.Name, p.Version, p.Commit, p.Module)
	}
	if p.Builder.GoVersion != "1.26" {
		t.Errorf("GoVersion = %q, want 1.26", p.Builder.GoVersion)
	}
	ldflags := "-s -w -X main.Version=v1.2.3 -X main.GitCommit=" + fixtureCommit
	if len(p.Builder.Builds) != 2 {
		t.Fatalf("builds = %d, want 2", len(p.Builder.Builds))
	}
	for i, arch := range []string{"amd64", "arm64"} {
		b := p.Builder.Builds[i]
		if b.Platform != (Platform{OS: "linux", Arch: arch}) {
			t.Errorf("build %d platform = %v", i, b.Platform)
		}
		wantEnv := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + arch}
		if !slices.Equal(b.Env, wantEnv) {
			t.Errorf("%s env = %q, want %q", arch, b.Env, wantEnv)
		}
		out := "dist/support_linux_" + arch + "/support"
		if b.Output != out {
			t.Errorf("%s output = %q, want %q", arch, b.Output, out)
		}
		wantArgv := []string{"go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, "./cmd/support"}
		if got := b.Argv(b.Output); !slices.Equal(got, wantArgv) {
			t.Errorf("%s argv =\n  %q\nwant\n  %q", arch, got, wantArgv)
		}
	}

	created := time.Unix(fixtureTime, 0).UTC()
	if !p.Created.Equal(created) {
		t.Errorf("Created = %v, want the commit time %v", p.Created, created)
	}
	wantLabels := map[string]string{
		LabelVersion:  "v1.2.3",
		LabelRevision: fixtureCommit,
		LabelCreated:  "2023-11-14T22:13:20Z",
		LabelSource:   "https://github.com/acme/support-agent",
		LabelTitle:    "support",
	}
	bothPlatforms := []Platform{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"}}

	prod := p.Production
	wantProdFiles := []File{
		{Path: "/etc/ssl/certs/ca-certificates.crt", From: FromCACerts, Mode: 0o644},
		{Path: "/etc/passwd", From: FromInline, Content: etcPasswd, Mode: 0o644},
		{Path: "/etc/group", From: FromInline, Content: etcGroup, Mode: 0o644},
		{Path: "/config", From: FromDir, Source: "config", Mode: 0o644},
		{Path: "/support", From: FromBinary, Mode: 0o755},
	}
	if !reflect.DeepEqual(prod.Files, wantProdFiles) {
		t.Errorf("production files =\n  %+v\nwant\n  %+v", prod.Files, wantProdFiles)
	}
	if !strings.Contains(etcPasswd, ":65534:65534:") || !strings.Contains(etcGroup, ":65534:") {
		t.Errorf("/etc/passwd or /etc/group lacks the 65534 user:\n%s%s", etcPasswd, etcGroup)
	}
	wantProd := Image{
		Target: "production", Base: "", Tag: "support:v1.2.3", Platforms: bothPlatforms,
		Files: wantProdFiles,
		Config: ImageConfig{
			User:         "65534:65534",
			Entrypoint:   []string{"/support"},
			Env:          []string{"PORT=8080"},
			ExposedPorts: []string{"8080/tcp"},
			Labels:       wantLabels,
		},
	}
	if !reflect.DeepEqual(prod, wantProd) {
		t.Errorf("production =\n  %+v\nwant\n  %+v", prod, wantProd)
	}
	if prod.Config.Healthcheck != nil {
		t.Errorf("production healthcheck = %+v, want none by default", prod.Config.Healthcheck)
	}

	wantDebug := Image{
		Target: "debug", Base: "alpine:3.22", Tag: "support:v1.2.3-debug", Platforms: bothPlatforms,
		Files: []File{
			{Path: "/config", From: FromDir, Source: "config", Mode: 0o644},
			{Path: "/support", From: FromBinary, Mode: 0o755},
		},
		Config: ImageConfig{
			Entrypoint:   []string{},
			Cmd:          []string{"/bin/sh"},
			Env:          []string{"PORT=8080"},
			ExposedPorts: []string{"8080/tcp"},
			Labels:       wantLabels,
		},
	}
	if !reflect.DeepEqual(p.Debug, wantDebug) {
		t.Errorf("debug =\n  %+v\nwant\n  %+v", p.Debug, wantDebug)
	}

	// Lambda: amd64 by default, the norpc tag, bootstrap at the zip root.
	lb := p.Lambda.Build
	wantLambdaArgv := []string{"go", "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", ldflags,
		"-o", "dist/support_lambda_amd64/bootstrap", "./cmd/support"}
	if got := lb.Argv(lb.Output); !slices.Equal(got, wantLambdaArgv) {
		t.Errorf("lambda argv = %q, want %q", got, wantLambdaArgv)
	}
	if p.Dist.LambdaZip != "dist/support-lambda-amd64.zip" {
		t.Errorf("lambda zip = %q", p.Dist.LambdaZip)
	}
	if p.Dist.ImageTar != "dist/support-image.tar" || p.Dist.DebugImageTar != "dist/support-debug-image.tar" || p.Dist.OCILayout != "dist/oci" {
		t.Errorf("dist = %+v", p.Dist)
	}
	wantPush := Push{Repository: "index.docker.io/library/support", Tags: []string{"v1.2.3", "0123456"}}
	if !reflect.DeepEqual(p.Push, wantPush) {
		t.Errorf("push = %+v, want %+v", p.Push, wantPush)
	}
}

func TestPlanHealthcheck(t *testing.T) {
	dir := fixtureAgent(t)
	p := mustPlan(t, Agent{Dir: dir, Main: "cmd/support", HealthCheck: []string{"/agent", "--health-check"}}, noEnv, fakeGit(t))
	want := &Healthcheck{
		Test:     []string{"CMD", "/agent", "--health-check"},
		Interval: 30 * time.Second, Timeout: 5 * time.Second, StartPeriod: 5 * time.Second, Retries: 3,
	}
	if !reflect.DeepEqual(p.Production.Config.Healthcheck, want) {
		t.Errorf("production healthcheck = %+v, want %+v", p.Production.Config.Healthcheck, want)
	}
	// The Debug image runs a shell, not the agent: a healthcheck would
	// mark it unhealthy.
	if p.Debug.Config.Healthcheck != nil {
		t.Errorf("debug healthcheck = %+v, want none", p.Debug.Config.Healthcheck)
	}
}

func TestPlanDefaults(t *testing.T) {
	rootMain := map[string]string{
		"go.mod":  "module " + fixtureModule + "\n\ngo 1.26\n",
		"main.go": "package main\n\nfunc main() {}\n",
	}
	t.Run("name from main dir", func(t *testing.T) {
		r := mustResolve(t, Agent{Dir: fixtureAgent(t), Main: "cmd/support"}, noEnv, noGit)
		if r.Name != "support" {
			t.Errorf("name = %q, want support", r.Name)
		}
	})
	t.Run("name from module for Main .", func(t *testing.T) {
		r := mustResolve(t, Agent{Dir: writeFiles(t, rootMain)}, noEnv, noGit)
		if r.Name != "support-agent" || r.Main != "." {
			t.Errorf("name, main = %q, %q; want support-agent, .", r.Name, r.Main)
		}
	})
	t.Run("name skips major version suffix", func(t *testing.T) {
		files := map[string]string{
			"go.mod":  "module " + fixtureModule + "/v2\n\ngo 1.26\n",
			"main.go": "package main\n\nfunc main() {}\n",
		}
		r := mustResolve(t, Agent{Dir: writeFiles(t, files)}, noEnv, noGit)
		if r.Name != "support-agent" {
			t.Errorf("name = %q, want support-agent", r.Name)
		}
	})

	// Everything else, with no git, no env and a module without config/.
	dir := writeFiles(t, rootMain)
	r := mustResolve(t, Agent{Dir: dir}, noEnv, noGit)
	p, err := MakePlan(r)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"version", r.Version, "dev"},
		{"commit", r.Commit, "unknown"},
		{"source", r.Source, ""},
		{"created", r.Created, time.Unix(0, 0).UTC()},
		{"created label", p.Production.Config.Labels[LabelCreated], "1970-01-01T00:00:00Z"},
		{"platforms", r.Platforms, []string{"linux/amd64", "linux/arm64"}},
		{"port", r.Port, 8080},
		{"user", r.User, "65534:65534"},
		{"production user", p.Production.Config.User, "65534:65534"},
		{"debug base", p.Debug.Base, "alpine:3.22"},
		{"binary path", r.BinaryPath, "/agent"},
		{"entrypoint", p.Production.Config.Entrypoint, []string{"/agent"}},
		{"config dir", r.ConfigDir, ""},
		{"lambda arch", r.LambdaArch, "amd64"},
		{"repository", r.Repository, "support-agent"},
		{"package", p.Builder.Builds[0].Package, "."},
		{"env", p.Production.Config.Env, []string{"PORT=8080"}},
		{"exposed", p.Production.Config.ExposedPorts, []string{"8080/tcp"}},
		{"push tags", p.Push.Tags, []string{"dev"}},
		{"no source label", hasKey(p.Production.Config.Labels, LabelSource), false},
		{"no healthcheck", p.Production.Config.Healthcheck == nil, true},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
	if !hasFile(p.Production.Files, CACertsPath, FromCACerts) {
		t.Errorf("CA certs missing by default: %+v", p.Production.Files)
	}
	if hasFile(p.Production.Files, ZoneinfoPath, FromZoneinfo) || slices.Contains(p.Production.Config.Env, "TZ=UTC") {
		t.Errorf("zoneinfo present by default: %+v %q", p.Production.Files, p.Production.Config.Env)
	}
	for _, f := range append(append(p.Production.Files, p.Debug.Files...), p.Lambda.ZipFiles...) {
		if f.From == FromDir {
			t.Errorf("config copied with no config/ dir: %+v", f)
		}
	}

	t.Run("config dir picked up when present", func(t *testing.T) {
		r := mustResolve(t, Agent{Dir: fixtureAgent(t), Main: "cmd/support"}, noEnv, noGit)
		if r.ConfigDir != "config" {
			t.Fatalf("ConfigDir = %q, want config", r.ConfigDir)
		}
		p, err := MakePlan(r)
		if err != nil {
			t.Fatal(err)
		}
		want := File{Path: "/config", From: FromDir, Source: "config", Mode: 0o644}
		for _, img := range []Image{p.Production, p.Debug, p.Lambda.Image} {
			if !slices.Contains(img.Files, want) {
				t.Errorf("%s image lacks %+v: %+v", img.Target, want, img.Files)
			}
		}
		if !slices.Contains(p.Lambda.ZipFiles, File{Path: "config", From: FromDir, Source: "config", Mode: 0o644}) {
			t.Errorf("lambda zip lacks config: %+v", p.Lambda.ZipFiles)
		}
	})
	t.Run("a file named config is not a config dir", func(t *testing.T) {
		files := map[string]string{"config": "not a dir"}
		for k, v := range rootMain {
			files[k] = v
		}
		r := mustResolve(t, Agent{Dir: writeFiles(t, files)}, noEnv, noGit)
		if r.ConfigDir != "" {
			t.Errorf("ConfigDir = %q, want empty", r.ConfigDir)
		}
	})
	t.Run("toolchain line picks the builder's Go", func(t *testing.T) {
		files := map[string]string{
			"go.mod":  "module " + fixtureModule + "\n\ngo 1.26\n\ntoolchain go1.26.8\n",
			"main.go": "package main\n\nfunc main() {}\n",
		}
		p := mustPlan(t, Agent{Dir: writeFiles(t, files)}, noEnv, noGit)
		if p.Builder.GoVersion != "1.26.8" {
			t.Errorf("GoVersion = %q, want 1.26.8", p.Builder.GoVersion)
		}
	})
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func hasFile(files []File, path, from string) bool {
	return slices.ContainsFunc(files, func(f File) bool { return f.Path == path && f.From == from })
}

func TestPlanOverrides(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"go.mod":               "module " + fixtureModule + "\n\ngo 1.26\n",
		"cmd/support/main.go":  "package main\n\nfunc main() {}\n",
		"deploy/config/a.yaml": "a: 1\n",
	})
	commit := "fedcba9876543210fedcba9876543210fedcba98"
	a := Agent{
		Dir:         dir,
		Main:        "./cmd/support/",
		Name:        "helpdesk",
		Version:     "v2.0.0",
		Commit:      commit,
		Platforms:   []string{"linux/arm64", "linux/arm"},
		BuildTags:   []string{"a", "b"},
		XFlags:      []string{"main.Env=prod", "example.com/acme/support-agent/internal/build.Greeting=hello world"},
		ConfigDir:   "deploy/config/",
		Repository:  "ghcr.io/acme/support-agent",
		ImageTags:   []string{"stable", "v2.0.0"},
		TagLatest:   true,
		Port:        9090,
		Env:         map[string]string{"LOG_LEVEL": "debug", "TZ": "Europe/Paris"},
		Labels:      map[string]string{LabelTitle: "Support Agent", "com.acme.team": "ml"},
		User:        "1000:1000",
		NoCACerts:   true,
		Zoneinfo:    true,
		HealthCheck: []string{"/usr/local/bin/helpdesk", "--health-check"},
		DebugBase:   "oci-layout:///srv/busybox:latest",
		BinaryPath:  "/usr/local/bin/helpdesk",
		Source:      "https://example.com/acme/support-agent",
		LambdaArch:  "arm64",
	}
	// Every git answer is overridden except the commit time.
	p := mustPlan(t, a, noEnv, fakeGit(t))

	ldflags := "-s -w -X main.Version=v2.0.0 -X main.GitCommit=" + commit +
		" -X main.Env=prod -X 'example.com/acme/support-agent/internal/build.Greeting=hello world'"
	wantBuilds := []Build{
		{
			Platform: Platform{OS: "linux", Arch: "arm64"},
			Env:      []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"},
			Flags:    []string{"-trimpath", "-buildvcs=false", "-tags", "a,b", "-ldflags", ldflags},
			Package:  "./cmd/support",
			Output:   "dist/helpdesk_linux_arm64/helpdesk",
		},
		{
			Platform: Platform{OS: "linux", Arch: "arm", Variant: "v7"},
			Env:      []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm", "GOARM=7"},
			Flags:    []string{"-trimpath", "-buildvcs=false", "-tags", "a,b", "-ldflags", ldflags},
			Package:  "./cmd/support",
			Output:   "dist/helpdesk_linux_arm_v7/helpdesk",
		},
	}
	if !reflect.DeepEqual(p.Builder.Builds, wantBuilds) {
		t.Errorf("builds =\n  %+v\nwant\n  %+v", p.Builder.Builds, wantBuilds)
	}

	wantEnv := []string{"LOG_LEVEL=debug", "PORT=9090", "TZ=Europe/Paris"}
	wantLabels := map[string]string{
		LabelVersion:    "v2.0.0",
		LabelRevision:   commit,
		LabelCreated:    "2023-11-14T22:13:20Z",
		LabelSource:     "https://example.com/acme/support-agent",
		LabelTitle:      "Support Agent",
		"com.acme.team": "ml",
	}
	cfg := p.Production.Config
	if cfg.User != "1000:1000" {
		t.Errorf("user = %q", cfg.User)
	}
	if !slices.Equal(cfg.Entrypoint, []string{"/usr/local/bin/helpdesk"}) {
		t.Errorf("entrypoint = %q", cfg.Entrypoint)
	}
	if !slices.Equal(cfg.Env, wantEnv) {
		t.Errorf("env = %q, want %q (agent env wins over TZ=UTC)", cfg.Env, wantEnv)
	}
	if !slices.Equal(cfg.ExposedPorts, []string{"9090/tcp"}) {
		t.Errorf("exposed = %q", cfg.ExposedPorts)
	}
	if !reflect.DeepEqual(cfg.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", cfg.Labels, wantLabels)
	}
	if cfg.Healthcheck == nil || !slices.Equal(cfg.Healthcheck.Test, []string{"CMD", "/usr/local/bin/helpdesk", "--health-check"}) {
		t.Errorf("healthcheck = %+v", cfg.Healthcheck)
	}
	wantProdFiles := []File{
		{Path: ZoneinfoPath, From: FromZoneinfo, Mode: 0o644},
		{Path: "/etc/passwd", From: FromInline, Content: etcPasswd, Mode: 0o644},
		{Path: "/etc/group", From: FromInline, Content: etcGroup, Mode: 0o644},
		{Path: "/config", From: FromDir, Source: "deploy/config", Mode: 0o644},
		{Path: "/usr/local/bin/helpdesk", From: FromBinary, Mode: 0o755},
	}
	if !reflect.DeepEqual(p.Production.Files, wantProdFiles) {
		t.Errorf("production files =\n  %+v\nwant\n  %+v", p.Production.Files, wantProdFiles)
	}
	if p.Production.Tag != "helpdesk:v2.0.0" || p.Debug.Tag != "helpdesk:v2.0.0-debug" {
		t.Errorf("tags = %q, %q", p.Production.Tag, p.Debug.Tag)
	}
	if p.Debug.Base != "oci-layout:///srv/busybox:latest" {
		t.Errorf("debug base = %q", p.Debug.Base)
	}
	if !slices.Equal(p.Debug.Config.Env, wantEnv) || !reflect.DeepEqual(p.Debug.Config.Labels, wantLabels) {
		t.Errorf("debug env/labels = %q %v", p.Debug.Config.Env, p.Debug.Config.Labels)
	}
	if !hasFile(p.Debug.Files, "/usr/local/bin/helpdesk", FromBinary) {
		t.Errorf("debug files = %+v", p.Debug.Files)
	}
	for _, img := range []Image{p.Production, p.Debug, p.Lambda.Image} {
		if hasFile(img.Files, CACertsPath, FromCACerts) {
			t.Errorf("%s has CA certs with NoCACerts", img.Target)
		}
	}

	wantPush := Push{Repository: "ghcr.io/acme/support-agent", Tags: []string{"v2.0.0", "fedcba9", "latest", "stable"}}
	if !reflect.DeepEqual(p.Push, wantPush) {
		t.Errorf("push = %+v, want %+v", p.Push, wantPush)
	}

	lb := p.Lambda.Build
	wantLambda := Build{
		Platform: Platform{OS: "linux", Arch: "arm64"},
		Env:      []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"},
		Flags:    []string{"-trimpath", "-buildvcs=false", "-tags", "lambda.norpc,a,b", "-ldflags", ldflags},
		Package:  "./cmd/support",
		Output:   "dist/helpdesk_lambda_arm64/bootstrap",
	}
	if !reflect.DeepEqual(lb, wantLambda) {
		t.Errorf("lambda build =\n  %+v\nwant\n  %+v", lb, wantLambda)
	}
	if p.Lambda.Arch != "arm64" || p.Dist.LambdaZip != "dist/helpdesk-lambda-arm64.zip" {
		t.Errorf("lambda arch, zip = %q, %q", p.Lambda.Arch, p.Dist.LambdaZip)
	}
	if !slices.Equal(p.Lambda.Image.Platforms, []Platform{{OS: "linux", Arch: "arm64"}}) {
		t.Errorf("lambda image platforms = %v", p.Lambda.Image.Platforms)
	}
	// The Lambda runtime sets its own port: no PORT there.
	if !slices.Equal(p.Lambda.Image.Config.Env, []string{"LOG_LEVEL=debug", "TZ=Europe/Paris"}) {
		t.Errorf("lambda env = %q", p.Lambda.Image.Config.Env)
	}
}

func TestPlanZoneinfoSetsTZ(t *testing.T) {
	p := mustPlan(t, Agent{Dir: fixtureAgent(t), Main: "cmd/support", Zoneinfo: true}, noEnv, noGit)
	for _, env := range [][]string{p.Production.Config.Env, p.Debug.Config.Env, p.Lambda.Image.Config.Env} {
		if !slices.Contains(env, "TZ=UTC") {
			t.Errorf("env %q lacks TZ=UTC", env)
		}
	}
	for _, img := range []Image{p.Production, p.Lambda.Image} {
		if !slices.Contains(img.Files, File{Path: ZoneinfoPath, From: FromZoneinfo, Mode: 0o644}) {
			t.Errorf("%s lacks zoneinfo: %+v", img.Target, img.Files)
		}
	}
}

func TestPlanLdflagsQuoting(t *testing.T) {
	// cmd/go splits -ldflags on spaces, honouring '…' and "…" without
	// escapes; each -X value must come through as one field.
	for _, tc := range []struct{ x, want string }{
		{"main.Env=prod", "main.Env=prod"},
		{"main.Greeting=hello world", "'main.Greeting=hello world'"},
		{"main.Greeting=say \"hi\"", "'main.Greeting=say \"hi\"'"},
		{"main.Greeting=it's me", "\"main.Greeting=it's me\""},
		{"main.Greeting=two\nlines", "'main.Greeting=two\nlines'"},
	} {
		if got := ldQuote(tc.x); got != tc.want {
			t.Errorf("ldQuote(%q) = %q, want %q", tc.x, got, tc.want)
		}
	}
}

func TestSourceDateEpoch(t *testing.T) {
	dir := fixtureAgent(t)
	a := Agent{Dir: dir, Main: "cmd/support"}
	p := mustPlan(t, a, envOf(map[string]string{"SOURCE_DATE_EPOCH": "1234567890"}), fakeGit(t))
	want := time.Unix(1234567890, 0).UTC()
	if !p.Created.Equal(want) {
		t.Errorf("Created = %v, want SOURCE_DATE_EPOCH %v over the commit time", p.Created, want)
	}
	if got := p.Production.Config.Labels[LabelCreated]; got != "2009-02-13T23:31:30Z" {
		t.Errorf("created label = %q", got)
	}
	if got := p.Debug.Config.Labels[LabelCreated]; got != "2009-02-13T23:31:30Z" {
		t.Errorf("debug created label = %q", got)
	}
	// Without git the epoch still applies.
	p = mustPlan(t, a, envOf(map[string]string{"SOURCE_DATE_EPOCH": "0"}), fakeGit(t))
	if !p.Created.Equal(time.Unix(0, 0)) {
		t.Errorf("SOURCE_DATE_EPOCH=0: Created = %v", p.Created)
	}
	p = mustPlan(t, a, envOf(map[string]string{"SOURCE_DATE_EPOCH": "1234567890"}), noGit)
	if !p.Created.Equal(want) {
		t.Errorf("no git: Created = %v, want %v", p.Created, want)
	}

	for _, bad := range []string{"yesterday", "-1", "1.5", "2024-01-01T00:00:00Z"} {
		_, err := resolve(a, envOf(map[string]string{"SOURCE_DATE_EPOCH": bad}), fakeGit(t))
		if err == nil {
			t.Errorf("SOURCE_DATE_EPOCH=%q: no error", bad)
			continue
		}
		checkOneLine(t, err, "SOURCE_DATE_EPOCH", "unset it")
	}
}

func TestMakePlanIsPure(t *testing.T) {
	dir := fixtureAgent(t)
	r := mustResolve(t, Agent{Dir: dir, Main: "cmd/support", Labels: map[string]string{"a": "b"}, Env: map[string]string{"X": "1"}}, noEnv, fakeGit(t))
	before, _ := json.Marshal(r)
	p1, err := MakePlan(r)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := MakePlan(r)
	if err != nil {
		t.Fatal(err)
	}
	if p1.String() != p2.String() {
		t.Errorf("two plans of one agent differ:\n%s", lineDiff(p1.String(), p2.String()))
	}
	if after, _ := json.Marshal(r); string(after) != string(before) {
		t.Errorf("MakePlan changed its input:\n%s\n%s", before, after)
	}
	// No file is read: with the repository gone the plan is the same.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	p3, err := MakePlan(r)
	if err != nil {
		t.Fatalf("MakePlan after the dir is gone: %v", err)
	}
	if p3.String() != p1.String() {
		t.Errorf("plan differs once the dir is gone:\n%s", lineDiff(p1.String(), p3.String()))
	}
	// A plan round-trips through its JSON (engines may receive it so).
	var back Plan
	if err := json.Unmarshal([]byte(p1.String()), &back); err != nil {
		t.Fatal(err)
	}
	if back.String() != p1.String() {
		t.Errorf("plan does not round-trip through JSON:\n%s", lineDiff(p1.String(), back.String()))
	}
}

func TestPlanPrintsNoSecret(t *testing.T) {
	const password, token = "hunter2-registry-secret", "ghp_0123456789secretToken"
	t.Setenv("REGISTRY_PASSWORD", password)
	t.Setenv("GITHUB_TOKEN", token)
	t.Setenv("CI_JOB_TOKEN", token)
	for _, k := range []string{"AGENTSHIP_PLATFORMS", "VERSION", "IMAGE", "AGENTSHIP_LAMBDA_ARCH", "AGENTSHIP_TAG_LATEST", "AGENTSHIP_TAGS", "SOURCE_DATE_EPOCH"} {
		t.Setenv(k, "") // the overrides themselves are tested in TestApplyEnv
	}
	a := Agent{Dir: fixtureAgent(t), Main: "cmd/support"}
	if got := ApplyEnv(a, os.Getenv); !reflect.DeepEqual(got, a) {
		t.Errorf("ApplyEnv picked up something from the secrets: %+v", got)
	}
	// A CI checkout's remote often carries the token.
	remote := "https://x-access-token:" + token + "@github.com/acme/support-agent.git"
	r, err := resolve(ApplyEnv(a, os.Getenv), os.Getenv, fakeGitRemote(t, remote))
	if err != nil {
		t.Fatal(err)
	}
	p, err := MakePlan(r)
	if err != nil {
		t.Fatal(err)
	}
	out := p.String()
	for _, secret := range []string{password, token} {
		if strings.Contains(out, secret) {
			t.Errorf("the printed plan holds the secret %q:\n%s", secret, out)
		}
	}
	if got := p.Production.Config.Labels[LabelSource]; got != "https://github.com/acme/support-agent" {
		t.Errorf("source label = %q", got)
	}
}

func TestPlanDedupesPlatforms(t *testing.T) {
	a := Agent{Dir: fixtureAgent(t), Main: "cmd/support",
		Platforms: []string{"linux/amd64", "linux/arm64", "linux/amd64", "linux/arm", "linux/arm/v7", "LINUX/ARM64"}}
	p := mustPlan(t, a, noEnv, noGit)
	want := []Platform{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"}, {OS: "linux", Arch: "arm", Variant: "v7"}}
	if got := p.Platforms(); !slices.Equal(got, want) {
		t.Errorf("build platforms = %v, want %v", got, want)
	}
	if !slices.Equal(p.Production.Platforms, want) || !slices.Equal(p.Debug.Platforms, want) {
		t.Errorf("image platforms = %v, %v, want %v", p.Production.Platforms, p.Debug.Platforms, want)
	}
}

func TestModeJSON(t *testing.T) {
	b, err := json.Marshal(Mode(0o755))
	if err != nil || string(b) != `"0755"` {
		t.Fatalf("Mode(0755) = %s, %v", b, err)
	}
	var m Mode
	if err := json.Unmarshal([]byte(`"0644"`), &m); err != nil || m != 0o644 {
		t.Errorf("unmarshal 0644 = %o, %v", m, err)
	}
	if err := json.Unmarshal([]byte(`"rwx"`), &m); err == nil {
		t.Errorf("unmarshal rwx: no error")
	}
}

// checkOneLine asserts an error is one line that says what is wrong (what)
// and how to fix it (fix).
func checkOneLine(t *testing.T, err error, what, fix string) {
	t.Helper()
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error is not one line: %q", msg)
	}
	if !strings.Contains(msg, what) {
		t.Errorf("error %q does not say %q", msg, what)
	}
	if !strings.Contains(msg, fix) {
		t.Errorf("error %q does not say how to fix it (%q)", msg, fix)
	}
}
