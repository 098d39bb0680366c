// Command lambda-agent is an example AWS Lambda handler shipped by
// agentship, as a zip for the provided.al2023 runtime or as a container
// image. It echoes the prompt; a real agent would call its model here.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/aws/aws-lambda-go/lambda"
)

// Set at build time with -ldflags "-X main.Version=... -X main.GitCommit=...".
var (
	Version   = "dev"
	GitCommit = "unknown"
)

// Request is the invocation event.
type Request struct {
	Prompt string `json:"prompt"`
}

// Response is the invocation result.
type Response struct {
	Answer       string `json:"answer"`
	Agent        string `json:"agent"`
	Version      string `json:"version"`
	Commit       string `json:"commit"`
	ConfigLoaded bool   `json:"configLoaded"`
}

// AgentConfig is config/agent.json.
type AgentConfig struct {
	Name         string `json:"name"`
	Model        string `json:"model,omitempty"`
	Instructions string `json:"instructions,omitempty"`
}

// defaultAgentName answers when no config was found, so that a package
// built without config still works and says so (configLoaded: false).
const defaultAgentName = "lambda-agent"

// containerConfigPath is where agentship's images put the config directory.
const containerConfigPath = "/config/agent.json"

// Handler answers invocations. It is built once per cold start.
type Handler struct {
	cfg          AgentConfig
	configLoaded bool
	version      string
	commit       string
}

// Handle is the function given to lambda.Start; it needs no Lambda runtime
// and is called directly by the tests.
func (h *Handler) Handle(ctx context.Context, req Request) (Response, error) {
	if req.Prompt == "" {
		return Response{}, errors.New("prompt is required")
	}
	return Response{
		Answer:       fmt.Sprintf("%s heard: %s", h.cfg.Name, req.Prompt),
		Agent:        h.cfg.Name,
		Version:      h.version,
		Commit:       h.commit,
		ConfigLoaded: h.configLoaded,
	}, nil
}

// newHandler loads the config at path; a missing or unreadable config is
// logged and the default agent answers instead.
func newHandler(path string, log *slog.Logger) *Handler {
	h := &Handler{cfg: AgentConfig{Name: defaultAgentName}, version: Version, commit: GitCommit}
	cfg, err := loadConfig(path)
	if err != nil {
		log.Warn("config not loaded", "path", path, "error", err.Error())
		return h
	}
	h.cfg, h.configLoaded = cfg, true
	log.Info("config loaded", "path", path, "agent", cfg.Name)
	return h
}

func loadConfig(path string) (AgentConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return AgentConfig{}, err
	}
	var cfg AgentConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return AgentConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	if cfg.Name == "" {
		return AgentConfig{}, fmt.Errorf("%s: name is required", path)
	}
	return cfg, nil
}

// resolveConfigPath finds config/agent.json in the places the two Lambda
// packagings put it: a zip unpacks under $LAMBDA_TASK_ROOT (/var/task), a
// container image carries it at /config. AGENT_CONFIG overrides both, and
// the executable's directory is the last resort (local runs, the emulator).
func resolveConfigPath(getenv func(string) string, containerPath, exeDir string) string {
	if p := getenv("AGENT_CONFIG"); p != "" {
		return p
	}
	if root := getenv("LAMBDA_TASK_ROOT"); root != "" {
		if p := filepath.Join(root, "config", "agent.json"); exists(p) {
			return p
		}
	}
	if exists(containerPath) {
		return containerPath
	}
	return filepath.Join(exeDir, "config", "agent.json")
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func executableDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Dir(exe)
}

func main() {
	// Lambda sends stdout to CloudWatch Logs; JSON lines are queryable there.
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	log.Info("starting", "version", Version, "commit", GitCommit)
	h := newHandler(resolveConfigPath(os.Getenv, containerConfigPath, executableDir()), log)
	lambda.Start(h.Handle)
}
