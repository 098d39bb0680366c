package testenv

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RIEModule is the AWS Lambda Runtime Interface Emulator that .ci/run
// installs (go install RIEModule@RIEVersion).
const (
	RIEModule  = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// InvokePath is the emulator's invoke endpoint, the one the Lambda API
// (Invoke) would hit.
const InvokePath = "/2015-03-31/functions/function/invocations"

// RIE returns the path of the aws-lambda-rie binary; it fails under
// AGENTSHIP_E2E=1 and skips otherwise when it is not installed. A container
// test copies it into a rootfs to run "/aws-lambda-rie /bootstrap", as
// AWS's own base images do.
func RIE(t testing.TB) string {
	t.Helper()
	return Tool(t, "aws-lambda-rie")
}

// StaticRIE returns an aws-lambda-rie that runs inside a scratch image.
// `go install` links the emulator against the host's libc when cgo is on
// (it is by default), and such a binary fails in a container without one
// as "exec /aws-lambda-rie: no such file or directory". So the installed
// emulator is used when it is static, and otherwise the pinned version is
// built again from the module cache with CGO_ENABLED=0.
func StaticRIE(t testing.TB) string {
	t.Helper()
	rie := RIE(t)
	if static, err := isStatic(rie); err == nil && static {
		return rie
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "install", RIEModule+"@"+RIEVersion)
	cmd.Dir = bin // outside any module, so no go.mod has a say
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOBIN="+bin, "GOFLAGS=-trimpath")
	if out, err := cmd.CombinedOutput(); err != nil {
		Missing(t, fmt.Sprintf("a static aws-lambda-rie could not be built (CGO_ENABLED=0 go install %s@%s: %v): %s", RIEModule, RIEVersion, err, bytes.TrimSpace(out)))
	}
	return filepath.Join(bin, "aws-lambda-rie")
}

func isStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// RIEArgs is the emulator's command line around a bootstrap command,
// listening for invokes on addr and serving the Runtime API to the
// bootstrap on runtimeAPI (both host:port). Without them it takes 8080 and
// 9001, which parallel tests would fight over.
func RIEArgs(rie, addr, runtimeAPI string, command ...string) []string {
	return append([]string{rie,
		"--log-level", "debug",
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", runtimeAPI,
	}, command...)
}

// RIEProcess is a running emulator.
type RIEProcess struct {
	// URL is the invoke endpoint: POST an event, read the answer.
	URL    string
	cmd    *exec.Cmd
	log    *SyncBuffer
	exited chan struct{} // closed when the emulator has exited
}

// Log is everything the emulator and the bootstrap wrote so far (the
// emulator passes the bootstrap's stdout and stderr through).
func (r *RIEProcess) Log() string { return r.log.String() }

// StartRIE runs bootstrap under the emulator with dir as its working
// directory and LAMBDA_TASK_ROOT (where Lambda unpacks a zip), plus env,
// and returns the invoke URL once the emulator listens. The emulator and
// the bootstrap it starts are stopped when the test ends; their output is
// logged if the test failed.
func StartRIE(t testing.TB, bootstrap, dir string, env []string) string {
	t.Helper()
	return StartRIEProcess(t, bootstrap, dir, env).URL
}

// StartRIEProcess is StartRIE that also gives access to the log.
func StartRIEProcess(t testing.TB, bootstrap, dir string, env []string) *RIEProcess {
	t.Helper()
	rie := RIE(t)
	if !filepath.IsAbs(bootstrap) {
		abs, err := filepath.Abs(bootstrap)
		if err != nil {
			t.Fatal(err)
		}
		bootstrap = abs
	}
	// The emulator binds the ports itself, so they are picked free and
	// then released; a lost race shows as a start failure, retried.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr, runtimeAPI := freeAddr(t), freeAddr(t)
		p, err := startRIE(rie, bootstrap, dir, env, addr, runtimeAPI)
		if err == nil {
			t.Cleanup(func() {
				p.stop()
				if t.Failed() {
					t.Logf("aws-lambda-rie output:\n%s", p.Log())
				}
			})
			return p
		}
		lastErr = err
	}
	t.Fatalf("aws-lambda-rie did not start: %v", lastErr)
	return nil
}

func startRIE(rie, bootstrap, dir string, env []string, addr, runtimeAPI string) (*RIEProcess, error) {
	argv := RIEArgs(rie, addr, runtimeAPI, bootstrap)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(rieEnv(), "LAMBDA_TASK_ROOT="+dir)
	cmd.Env = append(cmd.Env, env...)
	log := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	rieProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &RIEProcess{URL: "http://" + addr + InvokePath, cmd: cmd, log: log, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("exited before listening on %s: %s\n%s", addr, cmd.ProcessState, log.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("not listening on %s after 10s:\n%s", addr, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM (the emulator then SIGKILLs the bootstrap, as Lambda
// does on shutdown), and kills what is left if that takes too long.
func (r *RIEProcess) stop() {
	rieSignal(r.cmd, syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
	}
	rieSignal(r.cmd, syscall.SIGKILL)
	<-r.exited
}

// rieEnv is the test's environment without what would change the
// emulator's behaviour: AWS_LAMBDA_MAX_CONCURRENCY switches it to the
// managed-instances mode, and the host's AWS credentials must not reach
// the handler.
func rieEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "AWS_LAMBDA_MAX_CONCURRENCY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
			"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "_HANDLER", "LOG_LEVEL", "AWS_PROFILE":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Invoke POSTs event (JSON-encoded unless it is already []byte or
// json.RawMessage) to an emulator's invoke URL and returns the answer.
// A non-200 status fails the test. A function error is still a 200 with
// {"errorMessage",…}, as with the real Invoke API; InvokeResult tells the
// two apart.
func Invoke(t testing.TB, url string, event any) []byte {
	t.Helper()
	status, body := InvokeResult(t, url, event)
	if status != http.StatusOK {
		t.Fatalf("invoke %s: status %d: %s", url, status, body)
	}
	return body
}

// InvokeResult is Invoke without the status check.
func InvokeResult(t testing.TB, url string, event any) (int, []byte) {
	t.Helper()
	var payload []byte
	switch e := event.(type) {
	case []byte:
		payload = e
	case json.RawMessage:
		payload = e
	default:
		b, err := json.Marshal(event)
		if err != nil {
			t.Fatalf("encoding the event: %v", err)
		}
		payload = b
	}
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Post(url, "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("invoke %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("invoke %s: reading the answer: %v", url, err)
	}
	return resp.StatusCode, body
}
