package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// RegistryOptions shape the registry a test starts. The zero value is the
// realistic one: HTTPS with a generated CA, and htpasswd auth.
type RegistryOptions struct {
	// PlainHTTP serves without TLS, as a registry that needs
	// AGENTSHIP_INSECURE_REGISTRIES would.
	PlainHTTP bool
	// NoAuth drops htpasswd, so anyone may push.
	NoAuth bool
}

// Registry is a real docker-registry (distribution v2) process on
// 127.0.0.1, with its storage in a temporary directory. It stops when the
// test ends; its log is printed when the test failed.
type Registry struct {
	// Addr is host:port, e.g. 127.0.0.1:40123.
	Addr string
	// CA signed the server certificate; nil with PlainHTTP.
	CA *CA
	// User and Password are the htpasswd login ("" with NoAuth). The
	// password is random per registry, so a test can grep for it.
	User, Password string

	cmd  *exec.Cmd
	log  *SyncBuffer
	done chan struct{}
	stop sync.Once
}

// StartRegistry starts docker-registry and waits until it answers /v2/.
// A missing docker-registry skips the test (fails under AGENTSHIP_E2E=1).
func StartRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	bin := Tool(t, "docker-registry")
	dir := t.TempDir()
	r := &Registry{log: &SyncBuffer{}}

	var tlsConf string
	if !opts.PlainHTTP {
		r.CA = NewCA(t)
		_, certFile, keyFile := r.CA.ServerCert(t)
		tlsConf = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", certFile, keyFile)
	}
	var authConf string
	if !opts.NoAuth {
		r.User = "agentship"
		r.Password = "pw-" + randomHex(t, 12)
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(r.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		authConf = fmt.Sprintf("auth:\n  htpasswd:\n    realm: agentship-test\n    path: %s\n", htpasswd)
	}

	// A free port can be taken between our probe and the registry's bind;
	// try a few before giving up.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		r.Addr = freeAddr(t)
		config := filepath.Join(dir, "config.yml")
		yml := fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: %s
%s%s`, filepath.Join(dir, "storage"), r.Addr, randomHex(t, 16), tlsConf, authConf)
		if err := os.WriteFile(config, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		r.log.Reset()
		lastErr = r.start(bin, config)
		if lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("docker-registry did not start: %v\n%s", lastErr, r.log.String())
	}
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() {
			t.Logf("docker-registry log (%s):\n%s", r.Addr, tail(r.log.String(), 60))
		}
	})
	return r
}

func (r *Registry) start(bin, config string) error {
	cmd := exec.Command(bin, "serve", config)
	// distribution reads REGISTRY_* variables as configuration overrides;
	// the test's own REGISTRY_USERNAME must not reach it.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	cmd.Stdout = r.log
	cmd.Stderr = r.log
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	r.cmd = cmd
	r.done = make(chan struct{})
	r.stop = sync.Once{}
	go func() { _ = cmd.Wait(); close(r.done) }()

	client := r.Client()
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			return errors.New("docker-registry exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL()+"/v2/", nil)
		resp, err := client.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Stop()
	return errors.New("docker-registry did not answer /v2/ within 15s")
}

// URL is the registry's base URL (https://… or http://…).
func (r *Registry) URL() string {
	if r.CA == nil {
		return "http://" + r.Addr
	}
	return "https://" + r.Addr
}

// Client is an HTTP client that trusts the registry's CA.
func (r *Registry) Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.CA != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: r.CA.Pool}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// Log is everything the registry wrote so far.
func (r *Registry) Log() string { return r.log.String() }

// Stop ends the registry now (a registry that dies, or one that is down
// from the start); the test's cleanup calls it too.
func (r *Registry) Stop() {
	r.stop.Do(func() {
		if r.cmd == nil || r.cmd.Process == nil {
			return
		}
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
}

// freeAddr finds a port nobody listens on, on 127.0.0.1.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// FreeAddr is a 127.0.0.1 address where nothing listens: a registry that is
// down from the start.
func FreeAddr(t testing.TB) string { return freeAddr(t) }

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// SyncBuffer is a bytes.Buffer that a process (or a logger) and a test can
// use at once.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *SyncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
