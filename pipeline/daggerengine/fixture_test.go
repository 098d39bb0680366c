package daggerengine_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/aixgo-dev/agentship/pipeline"
)

// Secrets the tests put where the engine could leak them; no recorded
// query, request or log line may contain them.
const (
	registryPassword = "s3cr3t-Registry-Pa55w0rd"
	netrcPassword    = "n3trc-Git-T0ken-d0-not-leak"
)

const fixtureModule = "example.com/acme/support-agent"

// writeAgent writes a small agent module: a main package, a config tree
// with a private file (0600 on the host, 0644 in the image) and an
// executable hook (0755 kept), a .dockerignore, and files the build
// context must leave out.
func writeAgent(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]struct {
		mode os.FileMode
		data string
	}{
		"go.mod":                     {0o644, "module " + fixtureModule + "\n\ngo 1.26.1\n"},
		"main.go":                    {0o644, "package main\n\nimport \"fmt\"\n\nvar (\n\tVersion   = \"dev\"\n\tGitCommit = \"unknown\"\n)\n\nfunc main() { fmt.Println(\"support-agent\", Version, GitCommit) }\n"},
		"config/agents.yaml":         {0o644, "agents:\n  - name: support\n    model: gpt-4o-mini\n"},
		"config/prompts/system.txt":  {0o600, "You answer support questions.\n"},
		"config/hooks/warmup.sh":     {0o755, "#!/bin/sh\necho warm\n"},
		".dockerignore":              {0o644, "# not in the build context\n*.md\nsecrets/\n"},
		"README.md":                  {0o644, "# support agent\n"},
		"secrets/dev-only.txt":       {0o600, "never in an image\n"},
		"internal/answer/answer.go":  {0o644, "package answer\n\nfunc Answer() string { return \"42\" }\n"},
		"internal/answer/answer.txt": {0o644, "data\n"},
	}
	for name, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fixtureAgent is the agent the contract tests ship: defaults, plus what
// the example agent sets (a healthcheck) and a registry to push to.
func fixtureAgent(dir string) pipeline.Agent {
	return pipeline.Agent{
		Dir:         dir,
		Name:        "support-agent",
		Version:     "1.4.2",
		Commit:      "0123456789abcdef0123456789abcdef01234567",
		Repository:  "registry.example.com/acme/support-agent",
		HealthCheck: []string{"/agent", "--health-check"},
		Labels:      map[string]string{"com.example.team": "support"},
	}
}

func makePlan(t *testing.T, a pipeline.Agent) *pipeline.Plan {
	t.Helper()
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	r, err := pipeline.Resolve(a)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.MakePlan(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// secretEnv puts the registry password, a .netrc and the private-module
// settings where the engine reads them.
func secretEnv(t *testing.T) (netrc string) {
	t.Helper()
	netrc = filepath.Join(t.TempDir(), "netrc")
	if err := os.WriteFile(netrc, []byte("machine git.example.com login ci-bot password "+netrcPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NETRC", netrc)
	t.Setenv("GOPRIVATE", "git.example.com/acme")
	t.Setenv("GOAUTH", "netrc")
	t.Setenv("REGISTRY_USERNAME", "ci-bot")
	t.Setenv("REGISTRY_PASSWORD", registryPassword)
	t.Setenv("AGENTSHIP_BUILDER_IMAGE", "")
	return netrc
}

func testLogger() (*logrus.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	log := logrus.New()
	log.SetOutput(&buf)
	log.SetLevel(logrus.DebugLevel)
	return log, &buf
}
