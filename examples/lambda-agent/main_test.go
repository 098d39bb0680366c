package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
)

var discard = slog.New(slog.NewJSONHandler(io.Discard, nil))

func TestHandleWithConfig(t *testing.T) {
	h := newHandler(filepath.Join("config", "agent.json"), discard)
	got, err := h.Handle(context.Background(), Request{Prompt: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	want := Response{
		Answer:       "lambda-assistant heard: hello",
		Agent:        "lambda-assistant",
		Version:      "dev",
		Commit:       "unknown",
		ConfigLoaded: true,
	}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestHandleWithoutConfig(t *testing.T) {
	h := newHandler(filepath.Join(t.TempDir(), "agent.json"), discard)
	got, err := h.Handle(context.Background(), Request{Prompt: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if got.ConfigLoaded || got.Agent != defaultAgentName {
		t.Fatalf("got %+v, want the default agent with configLoaded false", got)
	}
}

func TestHandleEmptyPrompt(t *testing.T) {
	h := newHandler(filepath.Join("config", "agent.json"), discard)
	if _, err := h.Handle(context.Background(), Request{}); err == nil || err.Error() != "prompt is required" {
		t.Fatalf("err = %v, want prompt is required", err)
	}
}

// TestWireFormat goes through aws-lambda-go's own handler adapter, the one
// lambda.Start uses, to pin the JSON an invocation sends and receives.
func TestWireFormat(t *testing.T) {
	h := newHandler(filepath.Join("config", "agent.json"), discard)
	h.version, h.commit = "v1.0.0", "abc123"
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), []byte(`{"prompt":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"answer":       "lambda-assistant heard: hi",
		"agent":        "lambda-assistant",
		"version":      "v1.0.0",
		"commit":       "abc123",
		"configLoaded": true,
	}
	if len(got) != len(want) {
		t.Fatalf("got %s, want exactly the keys of %v", out, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestLoadConfigInvalid(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"not-json.json": "{",
		"no-name.json":  `{"model":"m"}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
}

func TestResolveConfigPath(t *testing.T) {
	taskRoot := t.TempDir() // stands for /var/task
	mkConfig := func(dir string) string {
		t.Helper()
		p := filepath.Join(dir, "config", "agent.json")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(`{"name":"x"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inTaskRoot := mkConfig(taskRoot)
	container := mkConfig(t.TempDir()) // stands for /config/agent.json
	missing := filepath.Join(t.TempDir(), "agent.json")
	exeDir := t.TempDir()
	inExeDir := filepath.Join(exeDir, "config", "agent.json")

	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	tests := []struct {
		name      string
		env       map[string]string
		container string
		want      string
	}{
		{"override wins even if missing", map[string]string{"AGENT_CONFIG": "/elsewhere.json", "LAMBDA_TASK_ROOT": taskRoot}, container, "/elsewhere.json"},
		{"zip: task root", map[string]string{"LAMBDA_TASK_ROOT": taskRoot}, container, inTaskRoot},
		{"image: task root without config", map[string]string{"LAMBDA_TASK_ROOT": t.TempDir()}, container, container},
		{"image: no task root", nil, container, container},
		{"local: executable dir", nil, missing, inExeDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolveConfigPath(env(tt.env), tt.container, exeDir); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
