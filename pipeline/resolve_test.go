package pipeline

import (
	"reflect"
	"strings"
	"testing"
)

// TestResolveErrors: each bad input fails in one line that says what is
// wrong and how to fix it, at resolve or (for push references) MakePlan,
// before anything runs.
func TestResolveErrors(t *testing.T) {
	goMod := "module " + fixtureModule + "\n\ngo 1.26\n"
	mainGo := "package main\n\nfunc main() {}\n"
	module := func(extra map[string]string) string {
		files := map[string]string{"go.mod": goMod, "cmd/support/main.go": mainGo}
		for k, v := range extra {
			files[k] = v
		}
		return writeFiles(t, files)
	}
	ok := module(nil)
	agent := func(mod func(*Agent)) Agent {
		a := Agent{Dir: ok, Main: "cmd/support"}
		mod(&a)
		return a
	}

	tests := []struct {
		name      string
		agent     Agent
		env       map[string]string
		what, fix string
	}{
		{"empty Dir", Agent{}, nil, "Dir is empty", "set it to the directory that holds the agent's go.mod"},
		{"no go.mod", Agent{Dir: writeFiles(t, map[string]string{"main.go": mainGo})}, nil, "no go.mod", "set Agent.Dir"},
		{"no module line", Agent{Dir: writeFiles(t, map[string]string{"go.mod": "go 1.26\n", "main.go": mainGo})}, nil, "no module line", "add one"},
		{"broken go.mod", Agent{Dir: writeFiles(t, map[string]string{"go.mod": "module \"unterminated\n", "main.go": mainGo})}, nil, "go.mod cannot be read", "fix the syntax"},
		{"Main without Go files", Agent{Dir: module(map[string]string{"docs/README.md": "hi"}), Main: "docs"}, nil, "no main package in ./docs", "set Agent.Main"},
		{"Main does not exist", agent(func(a *Agent) { a.Main = "cmd/nope" }), nil, "no main package in ./cmd/nope", "set Agent.Main"},
		{"Main is a file", agent(func(a *Agent) { a.Main = "cmd/support/main.go" }), nil, "no main package in ./cmd/support/main.go", "set Agent.Main"},
		{"Main is a library", Agent{Dir: module(map[string]string{"internal/lib/lib.go": "package lib\n"}), Main: "internal/lib"}, nil, "no main package in ./internal/lib", "set Agent.Main"},
		{"root is a library", Agent{Dir: module(map[string]string{"lib.go": "package supportagent\n"})}, nil, "no main package in ./.", "set Agent.Main"},
		{"Main needs cgo", Agent{Dir: module(map[string]string{"cmd/cgo/main.go": "package main\n\nimport \"C\"\n\nfunc main() {}\n"}), Main: "cmd/cgo"}, nil, "needs cgo", "remove the cgo code"},
		{"platform linux/sparc", agent(func(a *Agent) { a.Platforms = []string{"linux/amd64", "linux/sparc"} }), nil, `unknown platform "linux/sparc"`, "use one of linux/amd64"},
		{"platform windows/amd64", agent(func(a *Agent) { a.Platforms = []string{"windows/amd64"} }), nil, `unknown platform "windows/amd64"`, "use one of"},
		{"platform from env", agent(func(*Agent) {}), map[string]string{"AGENTSHIP_PLATFORMS": "linux/amd64,darwin/arm64"}, `unknown platform "darwin/arm64"`, "use one of"},
		{"missing config dir", agent(func(a *Agent) { a.ConfigDir = "deploy/config" }), nil, `config dir "deploy/config" does not exist`, "create it or leave ConfigDir empty"},
		{"config dir is a file", agent(func(a *Agent) { a.ConfigDir = "go.mod" }), nil, `config dir "go.mod" does not exist`, "create it"},
		{"negative port", agent(func(a *Agent) { a.Port = -1 }), nil, "port -1 is out of range", "use 1-65535"},
		{"port too big", agent(func(a *Agent) { a.Port = 65536 }), nil, "port 65536 is out of range", "use 1-65535"},
		{"-X without package", agent(func(a *Agent) { a.XFlags = []string{"Env=prod"} }), nil, `-X flag "Env=prod" is not importpath.name=value`, "e.g. main.Env=prod"},
		{"-X without value", agent(func(a *Agent) { a.XFlags = []string{"main.Env"} }), nil, `-X flag "main.Env" is not importpath.name=value`, "e.g. main.Env=prod"},
		{"-X with both quotes", agent(func(a *Agent) { a.XFlags = []string{`main.Quote=it's "x"`} }), nil, "holds both ' and \"", "drop one kind of quote"},
		{"version with both quotes", agent(func(*Agent) {}), map[string]string{"VERSION": `v1'"`}, "holds both ' and \"", "drop one kind of quote"},
		{"relative BinaryPath", agent(func(a *Agent) { a.BinaryPath = "bin/agent" }), nil, `binary path "bin/agent" is not absolute`, "use e.g. /agent"},
		{"repository with upper case", agent(func(a *Agent) { a.Repository = "ghcr.io/Acme/Agent" }), nil, `image repository "ghcr.io/Acme/Agent" is not a valid reference`, "use registry/namespace/name"},
		{"repository with a tag", agent(func(*Agent) {}), map[string]string{"IMAGE": "ghcr.io/acme/agent:v1"}, `image repository "ghcr.io/acme/agent:v1" is not a valid reference`, "e.g. ghcr.io/acme/agent"},
		{"bad tag", agent(func(a *Agent) { a.ImageTags = []string{"-rc"} }), nil, `image tag "-rc" is not valid`, "use up to 128 letters"},
		{"tag with a space", agent(func(*Agent) {}), map[string]string{"AGENTSHIP_TAGS": "stable, release candidate"}, `image tag "release candidate" is not valid`, "use up to 128"},
		{"lambda arch", agent(func(a *Agent) { a.LambdaArch = "x86_64" }), nil, `unknown Lambda architecture "x86_64"`, "use amd64 (x86_64) or arm64"},
		{"lambda arch from env", agent(func(*Agent) {}), map[string]string{"AGENTSHIP_LAMBDA_ARCH": "arm"}, `unknown Lambda architecture "arm"`, "use amd64"},
		{"name with a space", agent(func(a *Agent) { a.Name = "support agent" }), nil, `agent name "support agent" is not usable`, "use lower-case letters"},
		{"name in upper case", agent(func(a *Agent) { a.Name = "Support" }), nil, `agent name "Support" is not usable`, "use lower-case"},
		{"name from a bad dir", Agent{Dir: module(map[string]string{"cmd/my agent/main.go": mainGo}), Main: "cmd/my agent"}, nil, `agent name "my agent" is not usable`, "use lower-case"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := ApplyEnv(tc.agent, envOf(tc.env))
			r, err := resolve(a, envOf(tc.env), noGit)
			if err == nil {
				_, err = MakePlan(r)
			}
			if err == nil {
				t.Fatalf("no error for %+v", tc.agent)
			}
			checkOneLine(t, err, tc.what, tc.fix)
		})
	}
}

func TestResolveNormalisesMain(t *testing.T) {
	dir := fixtureAgent(t)
	for _, main := range []string{"cmd/support", "./cmd/support", "cmd/support/", "./cmd/../cmd/support"} {
		r := mustResolve(t, Agent{Dir: dir, Main: main}, noEnv, noGit)
		if r.Main != "cmd/support" || r.Name != "support" {
			t.Errorf("Main %q: resolved Main, Name = %q, %q", main, r.Main, r.Name)
		}
	}
}

func TestResolveKeepsExplicitValues(t *testing.T) {
	// Explicit version, commit and source win; git is asked only for the
	// commit time.
	calls := 0
	g := func(args ...string) (string, bool) {
		calls++
		if strings.Join(args, " ") != "log -1 --format=%ct" {
			t.Errorf("git %s asked although the agent sets it", strings.Join(args, " "))
		}
		return "1700000000", true
	}
	r := mustResolve(t, Agent{Dir: fixtureAgent(t), Main: "cmd/support", Version: "v9", Commit: "abc", Source: "https://example.com/x"}, noEnv, g)
	if r.Version != "v9" || r.Commit != "abc" || r.Source != "https://example.com/x" || calls != 1 {
		t.Errorf("resolved %q %q %q after %d git calls", r.Version, r.Commit, r.Source, calls)
	}
}

func TestResolveBadGitTime(t *testing.T) {
	g := func(args ...string) (string, bool) {
		if args[0] == "log" {
			return "not a time", true
		}
		return "", false
	}
	r := mustResolve(t, Agent{Dir: fixtureAgent(t), Main: "cmd/support"}, noEnv, g)
	if r.Created.Unix() != 0 {
		t.Errorf("Created = %v, want the Unix epoch", r.Created)
	}
}

func TestApplyEnv(t *testing.T) {
	base := Agent{Dir: "/src/agent", ImageTags: []string{"stable"}, Platforms: []string{"linux/amd64"}}
	baseTags := append([]string(nil), base.ImageTags...)
	got := ApplyEnv(base, envOf(map[string]string{
		"AGENTSHIP_PLATFORMS":   " linux/arm64 , linux/arm/v7,,",
		"VERSION":               "v3.1.4",
		"IMAGE":                 "ghcr.io/acme/agent",
		"AGENTSHIP_LAMBDA_ARCH": "arm64",
		"AGENTSHIP_TAG_LATEST":  "true",
		"AGENTSHIP_TAGS":        "edge, nightly",
		"REGISTRY_PASSWORD":     "secret",
		"GITHUB_TOKEN":          "ghp_secret",
	}))
	want := Agent{
		Dir:        "/src/agent",
		Platforms:  []string{"linux/arm64", "linux/arm/v7"},
		Version:    "v3.1.4",
		Repository: "ghcr.io/acme/agent",
		LambdaArch: "arm64",
		TagLatest:  true,
		ImageTags:  []string{"stable", "edge", "nightly"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ApplyEnv =\n  %+v\nwant\n  %+v", got, want)
	}
	if !reflect.DeepEqual(base.ImageTags, baseTags) {
		t.Errorf("ApplyEnv changed the caller's ImageTags: %q", base.ImageTags)
	}

	if got := ApplyEnv(base, noEnv); !reflect.DeepEqual(got, base) {
		t.Errorf("ApplyEnv with no env = %+v, want the agent unchanged", got)
	}
	latest := Agent{TagLatest: true}
	if got := ApplyEnv(latest, envOf(map[string]string{"AGENTSHIP_TAG_LATEST": "false"})); got.TagLatest {
		t.Errorf("AGENTSHIP_TAG_LATEST=false left TagLatest on")
	}
	if got := ApplyEnv(latest, envOf(map[string]string{"AGENTSHIP_TAG_LATEST": "0"})); got.TagLatest {
		t.Errorf("AGENTSHIP_TAG_LATEST=0 left TagLatest on")
	}
	if got := ApplyEnv(latest, envOf(map[string]string{"AGENTSHIP_TAG_LATEST": "maybe"})); !got.TagLatest {
		t.Errorf("AGENTSHIP_TAG_LATEST=maybe turned an Agent's TagLatest off")
	}
	// Only separators: the defaults apply rather than an empty list.
	if got := ApplyEnv(base, envOf(map[string]string{"AGENTSHIP_PLATFORMS": " , "})); len(got.Platforms) != 0 {
		t.Errorf("AGENTSHIP_PLATFORMS=' , ' gives %q, want none (defaults)", got.Platforms)
	}
}

func TestApplyEnvThroughPlan(t *testing.T) {
	env := envOf(map[string]string{
		"AGENTSHIP_PLATFORMS":   "linux/arm64",
		"VERSION":               "v1.0.0+build.7",
		"IMAGE":                 "registry.example.com:5000/acme/support",
		"AGENTSHIP_LAMBDA_ARCH": "arm64",
		"AGENTSHIP_TAG_LATEST":  "1",
		"AGENTSHIP_TAGS":        "edge",
	})
	p := mustPlan(t, ApplyEnv(Agent{Dir: fixtureAgent(t), Main: "cmd/support"}, env), env, fakeGit(t))
	if got := p.Platforms(); len(got) != 1 || got[0].String() != "linux/arm64" {
		t.Errorf("platforms = %v", got)
	}
	if p.Version != "v1.0.0+build.7" || !strings.Contains(p.Builder.Builds[0].Flags[len(p.Builder.Builds[0].Flags)-1], "-X main.Version=v1.0.0+build.7 ") {
		t.Errorf("version = %q, flags %q", p.Version, p.Builder.Builds[0].Flags)
	}
	want := Push{Repository: "registry.example.com:5000/acme/support", Tags: []string{"v1.0.0-build.7", "0123456", "latest", "edge"}}
	if !reflect.DeepEqual(p.Push, want) {
		t.Errorf("push = %+v, want %+v", p.Push, want)
	}
	if p.Lambda.Build.Platform.Arch != "arm64" {
		t.Errorf("lambda arch = %q", p.Lambda.Build.Platform.Arch)
	}
}

func TestDefaultName(t *testing.T) {
	for _, tc := range []struct{ module, main, want string }{
		{"example.com/acme/support-agent", ".", "support-agent"},
		{"example.com/acme/support-agent/v2", ".", "support-agent"},
		{"example.com/acme/support-agent/v10", ".", "support-agent"},
		{"example.com/acme/Support", ".", "support"},
		{"agent", ".", "agent"},
		{"v2", ".", "v2"},
		{"example.com/acme/support-agent", "cmd/support", "support"},
		{"example.com/acme/support-agent/v2", "cmd/Helpdesk", "helpdesk"},
	} {
		if got := defaultName(tc.module, tc.main); got != tc.want {
			t.Errorf("defaultName(%q, %q) = %q, want %q", tc.module, tc.main, got, tc.want)
		}
	}
}

func TestHTTPSURL(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"git@github.com:acme/support-agent.git", "https://github.com/acme/support-agent"},
		{"git@gitlab.com:acme/group/agent", "https://gitlab.com/acme/group/agent"},
		{"https://github.com/acme/support-agent.git", "https://github.com/acme/support-agent"},
		{"https://github.com/acme/support-agent", "https://github.com/acme/support-agent"},
		{"https://x-access-token:ghp_SECRET@github.com/acme/support-agent.git", "https://github.com/acme/support-agent"},
		{"https://gitlab-ci-token:glcbt-SECRET@gitlab.com/acme/agent.git", "https://gitlab.com/acme/agent"},
		{"https://user:p@ssSECRET@github.com/acme/agent.git", "https://github.com/acme/agent"},
		{"https://user@bitbucket.org/acme/agent.git", "https://bitbucket.org/acme/agent"},
		{"ssh://git@github.com/acme/support-agent.git", "https://github.com/acme/support-agent"},
		{"ssh://git@git.example.com:2222/acme/agent.git", "https://git.example.com/acme/agent"},
		{"  git@github.com:acme/agent.git\n", "https://github.com/acme/agent"},
		{"/srv/git/agent.git", ""},
		{"", ""},
	} {
		got := httpsURL(tc.remote)
		if got != tc.want {
			t.Errorf("httpsURL(%q) = %q, want %q", tc.remote, got, tc.want)
		}
		if strings.Contains(got, "SECRET") {
			t.Errorf("httpsURL(%q) = %q keeps the credentials", tc.remote, got)
		}
	}
}
