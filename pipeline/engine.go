package pipeline

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Step names one output an engine can produce.
type Step string

// The steps, named as in the guide. Binaries is the Builder.
const (
	StepBinaries    Step = "binaries"
	StepProduction  Step = "production"
	StepDebug       Step = "debug"
	StepLambdaZip   Step = "lambda-zip"
	StepLambdaImage Step = "lambda-image"
)

// Engine executes a Plan. Engines differ in where the steps run, never in
// what they produce.
type Engine interface {
	Name() string
	Run(ctx context.Context, p *Plan, steps ...Step) (*Result, error)
}

// Result is what a run produced and how long each step took.
type Result struct {
	Engine    string        `json:"engine"`
	Artifacts []Artifact    `json:"artifacts"`
	Timings   []Timing      `json:"timings"`
	Reused    bool          `json:"reused"`
	Total     time.Duration `json:"total"`
}

// Artifact is one output file (or, for images, one platform's image).
type Artifact struct {
	Kind     string `json:"kind"` // binary, image, image-tar, oci-layout, zip
	Name     string `json:"name"` // e.g. production, debug, agent
	Platform string `json:"platform,omitempty"`
	Path     string `json:"path,omitempty"`
	// Size is the file size, or an image's compressed size (layers,
	// config and manifest as a registry stores them).
	Size             int64  `json:"size"`
	UncompressedSize int64  `json:"uncompressedSize,omitempty"`
	Digest           string `json:"digest,omitempty"`
}

// Timing is one step's wall time.
type Timing struct {
	Step     string        `json:"step"`
	Duration time.Duration `json:"duration"`
}

// Summary is the one-screen report printed after a run.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "engine: %s", r.Engine)
	if r.Reused {
		b.WriteString(" (inputs unchanged: previous outputs reused)")
	}
	b.WriteString("\n")
	for _, a := range r.Artifacts {
		name := a.Name
		if a.Platform != "" {
			name += " " + a.Platform
		}
		size := ""
		if a.Size > 0 {
			size = humanBytes(a.Size)
		}
		if a.UncompressedSize > 0 {
			size += " (" + humanBytes(a.UncompressedSize) + " uncompressed)"
		}
		line := fmt.Sprintf("  %-10s %-28s %-30s", a.Kind, name, size)
		if a.Digest != "" {
			line += " " + shortDigest(a.Digest)
		}
		if a.Path != "" {
			line += "  " + a.Path
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	b.WriteString("  steps:")
	for _, t := range r.Timings {
		fmt.Fprintf(&b, " %s %s,", t.Step, t.Duration.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, " total %s\n", r.Total.Round(time.Millisecond))
	return b.String()
}

func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Engine names for AGENTSHIP_ENGINE.
const (
	EngineAuto   = "auto"
	EngineLocal  = "local"
	EngineDagger = "dagger"
)

// Selection is which engine runs and why, for the log.
type Selection struct {
	Engine string
	Reason string
}

// SelectEngine decides which engine runs. requested is AGENTSHIP_ENGINE;
// dockerReachable tells whether a container runtime answers (a Dagger
// engine can then be started in it).
func SelectEngine(requested string, getenv func(string) string, dockerReachable func() bool) (Selection, error) {
	switch requested {
	case "", EngineAuto:
	case EngineLocal:
		return Selection{EngineLocal, "AGENTSHIP_ENGINE=local"}, nil
	case EngineDagger:
		if why, ok := daggerReachable(getenv, dockerReachable); ok {
			return Selection{EngineDagger, "AGENTSHIP_ENGINE=dagger, " + why}, nil
		}
		return Selection{}, fmt.Errorf("AGENTSHIP_ENGINE=dagger but no Dagger engine is reachable: install Docker (or Podman) and start it, or run inside `dagger run`; or use AGENTSHIP_ENGINE=local")
	default:
		return Selection{}, fmt.Errorf("AGENTSHIP_ENGINE=%q is not an engine: use auto, local or dagger", requested)
	}
	if why, ok := daggerReachable(getenv, dockerReachable); ok {
		return Selection{EngineDagger, why}, nil
	}
	return Selection{EngineLocal, "no Dagger session, runner host or container runtime found"}, nil
}

func daggerReachable(getenv func(string) string, dockerReachable func() bool) (string, bool) {
	switch {
	case getenv("DAGGER_SESSION_PORT") != "":
		return "a Dagger session is in the environment (DAGGER_SESSION_PORT)", true
	case getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST") != "":
		return "a Dagger runner host is set (_EXPERIMENTAL_DAGGER_RUNNER_HOST)", true
	case dockerReachable != nil && dockerReachable():
		return "a container runtime answers, so Dagger can start its engine there", true
	}
	return "", false
}

// ContainerRuntimeReachable reports whether a Docker or Podman API socket
// accepts a connection: DOCKER_HOST when it is a unix or tcp address (and
// then only it: the docker CLI that Dagger provisions its engine with
// talks to DOCKER_HOST, not to the default socket), else the usual socket
// paths.
func ContainerRuntimeReachable() bool {
	var addrs [][2]string
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if u, err := url.Parse(h); err == nil {
			switch u.Scheme {
			case "unix":
				return dialable("unix", u.Path)
			case "tcp":
				return dialable("tcp", u.Host)
			}
		}
	}
	addrs = append(addrs, [2]string{"unix", "/var/run/docker.sock"})
	if xdg := os.Getenv("XDG_RUNTIME_DIR"); xdg != "" {
		addrs = append(addrs, [2]string{"unix", xdg + "/podman/podman.sock"}, [2]string{"unix", xdg + "/docker.sock"})
	}
	addrs = append(addrs, [2]string{"unix", "/run/podman/podman.sock"})
	for _, a := range addrs {
		if dialable(a[0], a[1]) {
			return true
		}
	}
	return false
}

func dialable(network, addr string) bool {
	c, err := net.DialTimeout(network, addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Published is what a push wrote: each reference as repo:tag@sha256:…, and
// the digest deploy steps pin.
type Published struct {
	Repository string   `json:"repository"`
	Digest     string   `json:"digest"`
	References []string `json:"references"`
}

// Publisher is an engine that also pushes an image target ("production",
// "debug" or "lambda") to the plan's repository, building it first.
type Publisher interface {
	Push(ctx context.Context, p *Plan, target string) (*Published, error)
}
