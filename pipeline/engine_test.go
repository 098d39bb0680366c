package pipeline_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aixgo-dev/agentship/pipeline"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func never() bool  { return false }
func always() bool { return true }

func TestSelectEngine(t *testing.T) {
	cases := []struct {
		name      string
		requested string
		env       func(string) string
		runtime   func() bool
		engine    string
		why       string
	}{
		{"session", "", envOf("DAGGER_SESSION_PORT", "41234"), never, pipeline.EngineDagger, "DAGGER_SESSION_PORT"},
		{"session, auto", "auto", envOf("DAGGER_SESSION_PORT", "41234"), never, pipeline.EngineDagger, "DAGGER_SESSION_PORT"},
		{"runner host", "", envOf("_EXPERIMENTAL_DAGGER_RUNNER_HOST", "tcp://dagger:1234"), never, pipeline.EngineDagger, "_EXPERIMENTAL_DAGGER_RUNNER_HOST"},
		{"session before runner host", "", envOf("DAGGER_SESSION_PORT", "1", "_EXPERIMENTAL_DAGGER_RUNNER_HOST", "tcp://x"), never, pipeline.EngineDagger, "DAGGER_SESSION_PORT"},
		{"container runtime", "", envOf(), always, pipeline.EngineDagger, "container runtime"},
		{"nothing", "", envOf(), never, pipeline.EngineLocal, "no Dagger session, runner host or container runtime"},
		{"nothing, no probe", "", envOf(), nil, pipeline.EngineLocal, "no Dagger session"},
		{"local wins over a session", "local", envOf("DAGGER_SESSION_PORT", "41234"), always, pipeline.EngineLocal, "AGENTSHIP_ENGINE=local"},
		{"dagger with a session", "dagger", envOf("DAGGER_SESSION_PORT", "41234"), never, pipeline.EngineDagger, "AGENTSHIP_ENGINE=dagger"},
		{"dagger with a runtime", "dagger", envOf(), always, pipeline.EngineDagger, "container runtime"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sel, err := pipeline.SelectEngine(c.requested, c.env, c.runtime)
			if err != nil {
				t.Fatal(err)
			}
			if sel.Engine != c.engine || !strings.Contains(sel.Reason, c.why) {
				t.Errorf("got %s (%s), want %s (…%s…)", sel.Engine, sel.Reason, c.engine, c.why)
			}
		})
	}
}

// AGENTSHIP_ENGINE=dagger with no engine anywhere fails with one line that
// says how to get one.
func TestSelectDaggerWithoutEngine(t *testing.T) {
	_, err := pipeline.SelectEngine("dagger", envOf(), never)
	if err == nil {
		t.Fatal("selecting dagger with no engine reachable did not fail")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("the error is more than one line: %q", msg)
	}
	for _, want := range []string{"AGENTSHIP_ENGINE=dagger", "Docker", "dagger run", "AGENTSHIP_ENGINE=local"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error %q does not mention %q", msg, want)
		}
	}
}

func TestSelectUnknownEngine(t *testing.T) {
	_, err := pipeline.SelectEngine("docker", envOf(), always)
	if err == nil || !strings.Contains(err.Error(), "auto, local or dagger") {
		t.Fatalf("err %v", err)
	}
}

// listenUnix serves a unix socket in a temp dir that accepts and closes
// connections, as a Docker API socket would accept them.
func listenUnix(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sock") // short: unix socket paths are limited to ~108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return path
}

func TestContainerRuntimeReachableUnixSocket(t *testing.T) {
	sock := listenUnix(t)
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	if !pipeline.ContainerRuntimeReachable() {
		t.Fatalf("a listening socket at DOCKER_HOST=unix://%s is not reachable", sock)
	}
	sel, err := pipeline.SelectEngine("", envOf(), pipeline.ContainerRuntimeReachable)
	if err != nil || sel.Engine != pipeline.EngineDagger {
		t.Errorf("auto with a reachable socket chose %q (%s), %v: want dagger", sel.Engine, sel.Reason, err)
	}
}

func TestContainerRuntimeReachableTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Setenv("DOCKER_HOST", "tcp://"+ln.Addr().String())
	if !pipeline.ContainerRuntimeReachable() {
		t.Fatalf("a listening DOCKER_HOST=tcp://%s is not reachable", ln.Addr())
	}
}

// A DOCKER_HOST that does not answer means no runtime, even when a default
// socket would: the docker CLI Dagger provisions with uses DOCKER_HOST.
func TestContainerRuntimeUnreachable(t *testing.T) {
	sock := listenUnix(t)
	dead := filepath.Join(filepath.Dir(sock), "dead.sock")
	ln, err := net.Listen("unix", dead)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // the file may stay behind; nobody listens
	t.Setenv("DOCKER_HOST", "unix://"+dead)
	t.Setenv("XDG_RUNTIME_DIR", filepath.Dir(sock)) // holds a live docker.sock, which DOCKER_HOST overrides
	if pipeline.ContainerRuntimeReachable() {
		t.Fatal("an unanswered DOCKER_HOST counted as a reachable runtime")
	}
	sel, err := pipeline.SelectEngine("", envOf(), pipeline.ContainerRuntimeReachable)
	if err != nil || sel.Engine != pipeline.EngineLocal {
		t.Errorf("auto with nothing reachable chose %q (%s), %v: want local", sel.Engine, sel.Reason, err)
	}
	if _, err := pipeline.SelectEngine("dagger", envOf(), pipeline.ContainerRuntimeReachable); err == nil {
		t.Error("AGENTSHIP_ENGINE=dagger with nothing reachable did not fail")
	}
}
