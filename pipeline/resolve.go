package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
)

// Defaults the guide uses.
const (
	DefaultPort       = 8080
	DefaultUser       = "65534:65534"
	DefaultDebugBase  = "alpine:3.22"
	DefaultBinaryPath = "/agent"
	DefaultLambdaArch = "amd64"
)

// DefaultPlatforms are built when an Agent names none.
var DefaultPlatforms = []string{"linux/amd64", "linux/arm64"}

// Resolved is an Agent with every default filled in, plus the facts that
// Resolve read from git, go.mod and the file system. MakePlan needs nothing
// else, which is what keeps it pure.
type Resolved struct {
	Agent
	// ModulePath is go.mod's module line.
	ModulePath string `json:"modulePath"`
	// GoVersion is go.mod's go line; Toolchain its toolchain line, if any.
	GoVersion string `json:"goVersion"`
	Toolchain string `json:"toolchain,omitempty"`
	// ToolboxDir is the agentship module's source, where the builtin Debug
	// base's shell is built from (only with DebugBase DebugToolbox).
	ToolboxDir string `json:"toolboxDir,omitempty"`
	// Created is the images' creation time: SOURCE_DATE_EPOCH, else the
	// commit time, else the Unix epoch. Never "now": two builds of one
	// commit must give one digest.
	Created time.Time `json:"created"`
}

// ApplyEnv returns a copy of a with the environment overrides that CI and
// people use applied: AGENTSHIP_PLATFORMS (comma-separated), VERSION, IMAGE
// (the repository), AGENTSHIP_LAMBDA_ARCH, AGENTSHIP_TAG_LATEST and
// AGENTSHIP_TAGS (comma-separated extra tags).
func ApplyEnv(a Agent, getenv func(string) string) Agent {
	if v := getenv("AGENTSHIP_PLATFORMS"); v != "" {
		a.Platforms = splitList(v)
	}
	if v := getenv("VERSION"); v != "" {
		a.Version = v
	}
	if v := getenv("IMAGE"); v != "" {
		a.Repository = v
	}
	if v := getenv("AGENTSHIP_LAMBDA_ARCH"); v != "" {
		a.LambdaArch = v
	}
	if v := getenv("AGENTSHIP_TAG_LATEST"); v != "" {
		// An unparsable value leaves the Agent's setting alone rather
		// than silently turning it off.
		if b, err := strconv.ParseBool(v); err == nil {
			a.TagLatest = b
		}
	}
	if v := getenv("AGENTSHIP_TAGS"); v != "" {
		a.ImageTags = append(append([]string(nil), a.ImageTags...), splitList(v)...)
	}
	return a
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Resolve reads git, go.mod and the file system once and returns the agent
// with its defaults filled in. It fails with one line that says what is
// wrong and how to fix it.
func Resolve(a Agent) (Resolved, error) {
	return resolve(a, os.Getenv, gitRunner(a.Dir))
}

// git runs a git subcommand in the agent's directory; ok is false when git
// is missing or the directory is not in a repository.
type git func(args ...string) (out string, ok bool)

func gitRunner(dir string) git {
	return func(args ...string) (string, bool) {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			return "", false
		}
		return strings.TrimSpace(out.String()), true
	}
}

func resolve(a Agent, getenv func(string) string, git git) (Resolved, error) {
	if a.Dir == "" {
		return Resolved{}, errors.New("agent Dir is empty: set it to the directory that holds the agent's go.mod")
	}
	dir, err := filepath.Abs(a.Dir)
	if err != nil {
		return Resolved{}, fmt.Errorf("agent Dir %q: %v", a.Dir, err)
	}
	a.Dir = dir
	r := Resolved{}

	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return Resolved{}, fmt.Errorf("no go.mod in %s: set Agent.Dir to the agent's module root", dir)
	}
	mf, err := modfile.ParseLax("go.mod", gomod, nil)
	if err != nil {
		return Resolved{}, fmt.Errorf("%s/go.mod cannot be read (%v): fix the syntax it reports", dir, oneLine(err))
	}
	if mf.Module == nil {
		return Resolved{}, fmt.Errorf("%s/go.mod has no module line: add one, e.g. module example.com/acme/agent", dir)
	}
	r.ModulePath = mf.Module.Mod.Path
	if mf.Go != nil {
		r.GoVersion = mf.Go.Version
	}
	// ParseLax keeps only module, go, require and retract lines, so the
	// toolchain line is read from the syntax tree.
	for _, stmt := range mf.Syntax.Stmt {
		if l, ok := stmt.(*modfile.Line); ok && len(l.Token) == 2 && l.Token[0] == "toolchain" {
			r.Toolchain = l.Token[1]
		}
	}

	if a.Main == "" {
		a.Main = "."
	}
	a.Main = path.Clean(filepath.ToSlash(a.Main))
	if err := checkMainPackage(dir, a.Main); err != nil {
		return Resolved{}, err
	}
	if a.Name == "" {
		a.Name = defaultName(r.ModulePath, a.Main)
	}
	if !validName.MatchString(a.Name) {
		return Resolved{}, fmt.Errorf("agent name %q is not usable as a file and image name: use lower-case letters, digits, '.', '_' and '-'", a.Name)
	}

	if a.Version == "" {
		if v, ok := git("describe", "--tags", "--always", "--dirty"); ok && v != "" {
			a.Version = v
		} else {
			a.Version = "dev"
		}
	}
	if a.Commit == "" {
		if c, ok := git("rev-parse", "HEAD"); ok && c != "" {
			a.Commit = c
		} else {
			a.Commit = "unknown"
		}
	}
	if a.Source == "" {
		if u, ok := git("remote", "get-url", "origin"); ok {
			a.Source = httpsURL(u)
		}
	}

	switch sde := getenv("SOURCE_DATE_EPOCH"); {
	case sde != "":
		secs, err := strconv.ParseInt(sde, 10, 64)
		if err != nil || secs < 0 {
			return Resolved{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a Unix time in seconds: unset it or give e.g. $(git log -1 --format=%%ct)", sde)
		}
		r.Created = time.Unix(secs, 0).UTC()
	default:
		r.Created = time.Unix(0, 0).UTC()
		if ct, ok := git("log", "-1", "--format=%ct"); ok {
			if secs, err := strconv.ParseInt(ct, 10, 64); err == nil {
				r.Created = time.Unix(secs, 0).UTC()
			}
		}
	}

	if len(a.Platforms) == 0 {
		a.Platforms = append([]string(nil), DefaultPlatforms...)
	}
	for _, p := range a.Platforms {
		if _, err := ParsePlatform(p); err != nil {
			return Resolved{}, err
		}
	}
	if a.LambdaArch == "" {
		a.LambdaArch = DefaultLambdaArch
	}
	if a.LambdaArch != "amd64" && a.LambdaArch != "arm64" {
		return Resolved{}, fmt.Errorf("unknown Lambda architecture %q: use amd64 (x86_64) or arm64 (Graviton)", a.LambdaArch)
	}

	switch {
	case a.ConfigDir == "":
		if st, err := os.Stat(filepath.Join(dir, "config")); err == nil && st.IsDir() {
			a.ConfigDir = "config"
		}
	default:
		st, err := os.Stat(filepath.Join(dir, a.ConfigDir))
		if err != nil || !st.IsDir() {
			return Resolved{}, fmt.Errorf("config dir %q does not exist in %s: create it or leave ConfigDir empty", a.ConfigDir, dir)
		}
	}

	if a.Port == 0 {
		a.Port = DefaultPort
	}
	if a.Port < 0 || a.Port > 65535 {
		return Resolved{}, fmt.Errorf("port %d is out of range: use 1-65535", a.Port)
	}
	if a.User == "" {
		a.User = DefaultUser
	}
	if a.DebugBase == "" {
		a.DebugBase = DefaultDebugBase
	}
	if a.DebugBase == DebugToolbox {
		if r.ToolboxDir, err = toolboxDir(dir); err != nil {
			return Resolved{}, err
		}
	}
	if a.BinaryPath == "" {
		a.BinaryPath = DefaultBinaryPath
	}
	if !strings.HasPrefix(a.BinaryPath, "/") {
		return Resolved{}, fmt.Errorf("binary path %q is not absolute: use e.g. /agent", a.BinaryPath)
	}
	if a.Repository == "" {
		a.Repository = a.Name
	}
	for _, x := range a.XFlags {
		if k, _, ok := strings.Cut(x, "="); !ok || !strings.Contains(k, ".") {
			return Resolved{}, fmt.Errorf("-X flag %q is not importpath.name=value: e.g. main.Env=prod", x)
		}
	}
	// cmd/go splits -ldflags on quotes without escapes, so a value holding
	// both kinds of quote cannot be passed through intact.
	for _, x := range append([]string{"main.Version=" + a.Version, "main.GitCommit=" + a.Commit}, a.XFlags...) {
		if strings.Contains(x, "'") && strings.Contains(x, `"`) {
			return Resolved{}, fmt.Errorf("-X value %q holds both ' and \": go build -ldflags cannot quote it; drop one kind of quote", x)
		}
	}
	r.Agent = a
	return r, nil
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// defaultName is the main package's directory name, or the module path's
// last element (skipping a major-version suffix) when the main package is
// the module root.
func defaultName(modulePath, main string) string {
	if main != "." {
		return strings.ToLower(path.Base(main))
	}
	elems := strings.Split(modulePath, "/")
	name := elems[len(elems)-1]
	if len(elems) > 1 && regexp.MustCompile(`^v[0-9]+$`).MatchString(name) {
		name = elems[len(elems)-2]
	}
	return strings.ToLower(name)
}

// checkMainPackage makes sure dir/main holds a main package, so that a wrong
// Main fails here in one line instead of as go build's "is not a main
// package" deep in a log.
func checkMainPackage(dir, main string) error {
	pkgDir := filepath.Join(dir, filepath.FromSlash(main))
	ctx := build.Default
	ctx.CgoEnabled = false
	pkg, err := ctx.ImportDir(pkgDir, 0)
	var noGo *build.NoGoError
	// go/build reports a missing directory as "cannot find package" (not
	// an fs.ErrNotExist), so look at the directory itself.
	st, statErr := os.Stat(pkgDir)
	switch {
	case errors.As(err, &noGo) && needsCgo(pkgDir):
		return fmt.Errorf("the main package ./%s needs cgo (import \"C\"), but agents are built with CGO_ENABLED=0 for a static binary: remove the cgo code from it", main)
	case statErr != nil || !st.IsDir() || errors.As(err, &noGo) || (err == nil && pkg.Name != "main"):
		return fmt.Errorf("no main package in ./%s: set Agent.Main to the directory of the agent's package main", main)
	case err != nil && pkg.Name != "main":
		return fmt.Errorf("main package ./%s cannot be read: %v", main, oneLine(err))
	}
	return nil
}

// needsCgo tells whether dir holds a main package once cgo files count:
// with CGO_ENABLED=0, go/build files them under IgnoredGoFiles, not
// CgoFiles, so the check has to ask again with cgo on.
func needsCgo(dir string) bool {
	ctx := build.Default
	ctx.CgoEnabled = true
	pkg, _ := ctx.ImportDir(dir, 0)
	return pkg != nil && pkg.Name == "main" && len(pkg.CgoFiles) > 0
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// httpsURL turns a git remote (git@github.com:o/r.git, https://…) into the
// https URL the org.opencontainers.image.source label wants; credentials in
// the remote are dropped so they never reach a label.
func httpsURL(remote string) string {
	u := strings.TrimSuffix(strings.TrimSpace(remote), ".git")
	if rest, ok := strings.CutPrefix(u, "git@"); ok {
		host, p, _ := strings.Cut(rest, ":")
		return "https://" + host + "/" + p
	}
	if i := strings.Index(u, "://"); i >= 0 {
		scheme, rest := u[:i], u[i+3:]
		// The host starts after the last '@' of the authority: a password
		// may itself hold an '@', and none of it may reach a label.
		authority, p, _ := strings.Cut(rest, "/")
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			authority = authority[at+1:]
		}
		if scheme == "ssh" {
			// An ssh port (ssh://git@host:2222/…) is not the https port.
			if h, _, ok := strings.Cut(authority, ":"); ok {
				authority = h
			}
			scheme = "https"
		}
		return scheme + "://" + authority + "/" + p
	}
	return ""
}

// agentshipModule is this library's module path: the builtin toolbox is
// built from its source.
const agentshipModule = "github.com/aixgo-dev/agentship"

// toolboxDir finds the agentship module's source as the agent's build sees
// it (the module cache, or a replace directory), so the toolbox shell is
// built from the exact version the agent depends on.
func toolboxDir(agentDir string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", agentshipModule)
	cmd.Dir = agentDir
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	dir := strings.TrimSpace(out.String())
	if err != nil || dir == "" {
		return "", fmt.Errorf("DebugBase %s is built from %s's source, which the agent's module does not list (%s): go get %s, or use another DebugBase", DebugToolbox, agentshipModule, oneLine(errors.New(strings.TrimSpace(stderr.String()))), agentshipModule)
	}
	return dir, nil
}
