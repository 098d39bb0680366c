// Package ci holds CI templates for agent repositories; this test keeps
// them parseable and pointed at targets that exist.
package ci

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type ghWorkflow struct {
	Permissions map[string]string `yaml:"permissions"`
	Jobs        map[string]struct {
		Steps []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			Env  map[string]string `yaml:"env"`
			With map[string]any    `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

func TestGitHubActionsTemplate(t *testing.T) {
	b, err := os.ReadFile("github-actions.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf ghWorkflow
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatalf("github-actions.yml does not parse: %v", err)
	}
	if wf.Permissions["packages"] != "write" {
		t.Error("pushing to ghcr.io with GITHUB_TOKEN needs packages: write")
	}
	var runs []string
	var pushEnv map[string]string
	fetchDepth := false
	for _, job := range wf.Jobs {
		for _, s := range job.Steps {
			runs = append(runs, s.Run)
			if strings.Contains(s.Run, "image:push") {
				pushEnv = s.Env
			}
			if strings.HasPrefix(s.Uses, "actions/checkout@") && s.With["fetch-depth"] == 0 {
				fetchDepth = true
			}
		}
	}
	all := strings.Join(runs, "\n")
	for _, want := range []string{"go test ./...", "go run mage.go build", "go run mage.go image:push"} {
		if !strings.Contains(all, want) {
			t.Errorf("the workflow does not run %q", want)
		}
	}
	if !fetchDepth {
		t.Error("checkout must fetch tags (fetch-depth: 0) for git describe")
	}
	if pushEnv["GITHUB_TOKEN"] != "${{ secrets.GITHUB_TOKEN }}" || pushEnv["IMAGE"] == "" {
		t.Errorf("the push step's env %v: GITHUB_TOKEN must come from secrets, IMAGE must be set", pushEnv)
	}
}

func TestGitLabTemplate(t *testing.T) {
	b, err := os.ReadFile("gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]struct {
		Image     string            `yaml:"image"`
		Variables map[string]string `yaml:"variables"`
		Script    []string          `yaml:"script"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("gitlab-ci.yml does not parse: %v", err)
	}
	job, ok := doc["ship"]
	if !ok {
		t.Fatal("no ship job")
	}
	script := strings.Join(job.Script, "\n")
	for _, want := range []string{"go run mage.go build", "go run mage.go image:push", `REGISTRY_PASSWORD="$CI_REGISTRY_PASSWORD"`} {
		if !strings.Contains(script, want) {
			t.Errorf("the ship job's script lacks %q", want)
		}
	}
	if job.Variables["AGENTSHIP_ENGINE"] != "local" || job.Variables["GIT_DEPTH"] != "0" {
		t.Errorf("variables %v", job.Variables)
	}
}
