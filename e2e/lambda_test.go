package e2e

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aixgo-dev/agentship/internal/lambdazip"
	"github.com/aixgo-dev/agentship/internal/testenv"
	"github.com/aixgo-dev/agentship/pipeline"
	"github.com/aixgo-dev/agentship/pipeline/localengine"
)

// The Lambda tests stamp these, so an answer carrying them proves it came
// from the bootstrap the pipeline built, not from a stale or default build.
const (
	lambdaVersion = "v1.4.2-e2e"
	lambdaCommit  = "e2e0c0ffee"
	// lambdaEpoch is SOURCE_DATE_EPOCH for the Lambda tests (2024-06-01
	// 12:00:01 UTC, an odd second: the zip's MS-DOS time rounds it down).
	lambdaEpoch = 1717243201
)

// lambdaResponse is examples/lambda-agent's answer.
type lambdaResponse struct {
	Answer       string `json:"answer"`
	Agent        string `json:"agent"`
	Version      string `json:"version"`
	Commit       string `json:"commit"`
	ConfigLoaded bool   `json:"configLoaded"`
}

// lambdaPlan copies examples/lambda-agent and plans it for arch.
func lambdaPlan(t *testing.T, arch string) *pipeline.Plan {
	t.Helper()
	t.Setenv("SOURCE_DATE_EPOCH", strconv.Itoa(lambdaEpoch))
	dir := CopyExample(t, "lambda-agent")
	return Plan(t, pipeline.Agent{Dir: dir, Version: lambdaVersion, Commit: lambdaCommit, LambdaArch: arch})
}

// lambdaHostArch is the Lambda architecture this machine runs natively.
func lambdaHostArch(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skipf("the emulator runs a linux/amd64 or linux/arm64 bootstrap natively; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	return runtime.GOARCH
}

// lambdaZip runs lambda:zip on p with e and checks the artifact it reports
// against the file in dist/.
func lambdaZip(t *testing.T, e *localengine.Engine, p *pipeline.Plan) (path string, a pipeline.Artifact) {
	t.Helper()
	res := Run(t, e, p, pipeline.StepLambdaZip)
	if res.Reused {
		t.Fatal("the engine reused a previous run: this test needs a build")
	}
	var found bool
	for _, x := range res.Artifacts {
		if x.Kind == "zip" {
			a, found = x, true
		}
	}
	if !found {
		t.Fatalf("lambda:zip reported no zip: %+v", res.Artifacts)
	}
	if a.Path != p.Dist.LambdaZip {
		t.Fatalf("zip artifact at %s, want %s", a.Path, p.Dist.LambdaZip)
	}
	path = filepath.Join(p.Dir, filepath.FromSlash(p.Dist.LambdaZip))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if a.Digest != "sha256:"+hex.EncodeToString(sum[:]) || a.Size != int64(len(b)) {
		t.Fatalf("artifact %+v does not describe %s (%d bytes, sha256 %x)", a, path, len(b), sum)
	}
	t.Logf("summary:\n%s", res.Summary())
	return path, a
}

func TestLambdaZipRunsUnderEmulator(t *testing.T) {
	arch := lambdaHostArch(t)
	testenv.RIE(t) // skip (or fail under AGENTSHIP_E2E=1) before building
	p := lambdaPlan(t, arch)
	zipPath, a := lambdaZip(t, Engine(t), p)
	if err := lambdazip.Verify(zipPath); err != nil {
		t.Fatal(err)
	}

	// Lambda unpacks the zip into /var/task and runs /var/task/bootstrap
	// with LAMBDA_TASK_ROOT=/var/task; StartRIE does the same in a temp dir.
	task := t.TempDir()
	if err := lambdazip.Extract(zipPath, task); err != nil {
		t.Fatal(err)
	}
	rie := testenv.StartRIEProcess(t, filepath.Join(task, "bootstrap"), task, nil)

	var got lambdaResponse
	body := testenv.Invoke(t, rie.URL, map[string]string{"prompt": "ship it"})
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	want := lambdaResponse{
		Answer:       "lambda-assistant heard: ship it",
		Agent:        "lambda-assistant", // from config/agent.json, not the default
		Version:      lambdaVersion,
		Commit:       lambdaCommit,
		ConfigLoaded: true,
	}
	if got != want {
		t.Fatalf("answer %+v, want %+v", got, want)
	}
	// The config came from the zip under LAMBDA_TASK_ROOT.
	if log := rie.Log(); !strings.Contains(log, `"config loaded","path":"`+filepath.Join(task, "config", "agent.json")+`"`) {
		t.Fatalf("the handler did not log loading %s/config/agent.json:\n%s", task, log)
	}

	// A function error comes back as Lambda's error document.
	body = testenv.Invoke(t, rie.URL, map[string]string{})
	var fnErr struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.Unmarshal(body, &fnErr); err != nil || fnErr.ErrorMessage != "prompt is required" {
		t.Fatalf("empty prompt answered %s", body)
	}

	cmds := lambdazip.DeployCommands(p, lambdazip.Info{Path: zipPath, Size: a.Size, SHA256: strings.TrimPrefix(a.Digest, "sha256:")})
	wantArch, _ := lambdazip.ArchitectureOf(arch)
	for _, s := range []string{"--runtime provided.al2023", "--handler bootstrap", "--architectures " + wantArch, "--zip-file fileb://" + p.Dist.LambdaZip} {
		if !strings.Contains(cmds.Create, s) {
			t.Errorf("create command %q lacks %q", cmds.Create, s)
		}
	}
	t.Logf("deploy:\n  %s\n  %s", cmds.Create, cmds.Update)
}

func TestLambdaZipBootstrapModeAndMachine(t *testing.T) {
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		t.Run(arch, func(t *testing.T) {
			p := lambdaPlan(t, arch)
			zipPath, a := lambdaZip(t, Engine(t), p)
			if want := "dist/lambda-agent-lambda-" + arch + ".zip"; p.Dist.LambdaZip != want {
				t.Fatalf("zip at %s, want %s", p.Dist.LambdaZip, want)
			}
			entries, err := lambdazip.Inspect(zipPath)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name)
				if want := lambdazip.DOSTime(time.Unix(lambdaEpoch, 0)); !e.Modified.Equal(want) {
					t.Errorf("%s modified %s, want %s (SOURCE_DATE_EPOCH)", e.Name, e.Modified, want)
				}
				if e.Name == "bootstrap" && (!e.UnixCreator || e.Mode != 0o755) {
					t.Errorf("bootstrap mode %v (Unix creator %v), want 0755 from a Unix creator", e.Mode, e.UnixCreator)
				}
			}
			if want := []string{"bootstrap", "config/", "config/agent.json"}; strings.Join(names, " ") != strings.Join(want, " ") {
				t.Fatalf("entries %v, want %v", names, want)
			}

			dir := t.TempDir()
			if err := lambdazip.Extract(zipPath, dir); err != nil {
				t.Fatal(err)
			}
			f, err := elf.Open(filepath.Join(dir, "bootstrap"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != machine {
				t.Fatalf("bootstrap machine %s, want %s", f.Machine, machine)
			}
			for _, prog := range f.Progs {
				if prog.Type == elf.PT_INTERP {
					t.Fatal("bootstrap has a program interpreter: it is not static")
				}
			}
			t.Logf("%s zip: %d bytes, %s", arch, a.Size, a.Digest)
		})
	}
}

func TestLambdaZipReproducible(t *testing.T) {
	// Two checkouts in different places, each with its own engine cache:
	// nothing is reused, and the paths must not leak into the zip.
	first := lambdaPlan(t, "amd64")
	e1 := Engine(t)
	firstPath, a1 := lambdaZip(t, e1, first)
	second := lambdaPlan(t, "amd64")
	if first.Dir == second.Dir {
		t.Fatal("the two copies share a directory")
	}
	secondPath, a2 := lambdaZip(t, Engine(t), second)
	if a1.Digest != a2.Digest {
		t.Fatalf("two builds of one commit differ: %s and %s", a1.Digest, a2.Digest)
	}
	b1, _ := os.ReadFile(firstPath)
	b2, _ := os.ReadFile(secondPath)
	if string(b1) != string(b2) {
		t.Fatal("same digest but different bytes")
	}

	// A rebuild in the same checkout, after the engine forgot its state,
	// and with every source file touched, still gives the same zip.
	later := time.Now().Add(time.Hour)
	filepath.WalkDir(first.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Chtimes(p, later, later)
		}
		return nil
	})
	if err := e1.Forget(first); err != nil {
		t.Fatal(err)
	}
	_, a3 := lambdaZip(t, e1, first)
	if a3.Digest != a1.Digest {
		t.Fatalf("a rebuild changed the zip: %s then %s", a1.Digest, a3.Digest)
	}
	t.Logf("zip %d bytes, %s, three builds", a1.Size, a1.Digest)
}

func TestLambdaUnknownArch(t *testing.T) {
	dir := CopyExample(t, "lambda-agent")
	for _, a := range []pipeline.Agent{
		{Dir: dir, LambdaArch: "x86_64"}, // Lambda's name, not a GOARCH
		pipeline.ApplyEnv(pipeline.Agent{Dir: dir}, func(k string) string {
			if k == "AGENTSHIP_LAMBDA_ARCH" {
				return "riscv64"
			}
			return ""
		}),
	} {
		_, err := pipeline.Resolve(a)
		if err == nil {
			t.Fatalf("Lambda arch %q accepted", a.LambdaArch)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, a.LambdaArch) || !strings.Contains(msg, "amd64") || !strings.Contains(msg, "arm64") {
			t.Fatalf("error %q is not one line naming %q and the choices", msg, a.LambdaArch)
		}
	}
	lambdaNoDist(t, dir)
}

func TestLambdaMissingMainPackage(t *testing.T) {
	dir := CopyExample(t, "lambda-agent")

	// Caught when the agent is resolved...
	_, err := pipeline.Resolve(pipeline.Agent{Dir: dir, Main: "cmd/lambda"})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "no main package in ./cmd/lambda") {
		t.Fatalf("err = %v, want one line saying there is no main package", err)
	}
	lambdaNoDist(t, dir)

	// ...and when it disappears between the plan and the build.
	t.Setenv("SOURCE_DATE_EPOCH", strconv.Itoa(lambdaEpoch))
	p := Plan(t, pipeline.Agent{Dir: dir, Version: lambdaVersion, Commit: lambdaCommit})
	if err := os.Remove(filepath.Join(dir, "main.go")); err != nil {
		t.Fatal(err)
	}
	for _, step := range []pipeline.Step{pipeline.StepLambdaZip, pipeline.StepLambdaImage} {
		_, err = Engine(t).Run(context.Background(), p, step)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%s without a main package: err = %v, want one line", step, err)
		}
		t.Logf("%s: %v", step, err)
		lambdaNoDist(t, dir)
	}
}

// lambdaNoDist fails if dir has a dist/ (a failed run must leave nothing).
func lambdaNoDist(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "dist")); !errors.Is(err, fs.ErrNotExist) {
		entries, _ := os.ReadDir(filepath.Join(dir, "dist"))
		t.Fatalf("dist/ exists after a failed run (%v): %v", err, entries)
	}
}

func TestLambdaImageUnderRuncWithEmulator(t *testing.T) {
	arch := lambdaHostArch(t)
	rie := testenv.StaticRIE(t) // the container has no libc
	testenv.Tool(t, "runc")
	testenv.Root(t)
	p := lambdaPlan(t, arch)
	Run(t, Engine(t), p, pipeline.StepLambdaImage)

	img := testenv.LayoutImage(t, filepath.Join(p.Dir, filepath.FromSlash(p.Dist.OCILayout)), p.Lambda.Image.Tag, "linux/"+arch)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/bootstrap" {
		t.Fatalf("entrypoint %q, want /bootstrap", got)
	}

	// AWS's base images start "/usr/local/bin/aws-lambda-rie <entrypoint>"
	// outside Lambda; here the emulator is bind-mounted into the scratch
	// image and wraps the image's own entrypoint. The container shares the
	// host network, so the emulator listens on a free loopback port. It
	// runs as a non-root user with a read-only root, as Lambda runs images,
	// and with LAMBDA_TASK_ROOT=/var/task, which Lambda sets and which does
	// not exist in the image, so the handler must find /config itself.
	addr, runtimeAPI := testenv.FreeAddr(t), testenv.FreeAddr(t)
	c := testenv.Start(t, img, testenv.RunOptions{
		Args:   testenv.RIEArgs("/aws-lambda-rie", addr, runtimeAPI, cf.Config.Entrypoint...),
		Env:    []string{"LAMBDA_TASK_ROOT=/var/task"},
		User:   "65534:65534",
		Mounts: []testenv.Mount{{Host: rie, Container: "/aws-lambda-rie"}},
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("container stdout:\n%s\nstderr:\n%s", c.Stdout, c.Stderr)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			conn.Close()
			break
		}
		if c.Exited() || time.Now().After(deadline) {
			t.Fatalf("the emulator in the container does not listen on %s (exited: %v)", addr, c.Exited())
		}
		time.Sleep(50 * time.Millisecond)
	}

	var got lambdaResponse
	body := testenv.Invoke(t, "http://"+addr+testenv.InvokePath, map[string]string{"prompt": "from runc"})
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	want := lambdaResponse{
		Answer:       "lambda-assistant heard: from runc",
		Agent:        "lambda-assistant",
		Version:      lambdaVersion,
		Commit:       lambdaCommit,
		ConfigLoaded: true,
	}
	if got != want {
		t.Fatalf("answer %+v, want %+v", got, want)
	}
	if out := c.Stdout.String() + c.Stderr.String(); !strings.Contains(out, `"config loaded","path":"/config/agent.json"`) {
		t.Fatalf("the handler did not load /config/agent.json:\n%s", out)
	}
}
