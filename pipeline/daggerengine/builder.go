package daggerengine

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"dagger.io/dagger"
	"golang.org/x/mod/modfile"

	"github.com/aixgo-dev/agentship/pipeline"
)

// Paths inside the builder container. GOMODCACHE and GOCACHE are the
// golang image's defaults, set explicitly so that the cache volumes are
// mounted where the toolchain looks whatever the image says.
const (
	srcRoot      = "/src"
	goModCache   = "/go/pkg/mod"
	goBuildCache = "/root/.cache/go-build"
	outDir       = "/out"
	netrcPath    = "/root/.netrc"
)

// privateModuleEnv is passed from the host to the builder when set: what
// the go command needs to fetch private modules. GOPROXY is left out on
// purpose: a proxy on the host's localhost is not reachable from the
// builder; set it through BuilderOptions.Env when it is.
var privateModuleEnv = []string{"GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOINSECURE"}

// BuilderOptions tune the Builder. The zero value builds in
// golang:<GoVersion>-alpine with the host's private-module settings.
type BuilderOptions struct {
	// Image replaces golang:<GoVersion>-alpine: a mirror, or the same image
	// pinned by digest ("golang:1.26.1-alpine@sha256:…").
	Image string
	// Env is added to the builder's environment, e.g. GOPROXY=https://proxy.corp.
	Env []string
	// Netrc is the host .netrc mounted (as a secret) for private modules:
	// default $NETRC, else ~/.netrc when it exists; "none" mounts nothing.
	Netrc string
	// Getenv reads GOPRIVATE, GONOPROXY, GONOSUMDB, GOINSECURE, GOAUTH,
	// NETRC and HOME (default os.Getenv).
	Getenv func(string) string
}

// BuilderImage is the image the Builder runs in for p.
func (o BuilderOptions) BuilderImage(p *pipeline.Plan) string {
	if o.Image != "" {
		return o.Image
	}
	return "golang:" + p.Builder.GoVersion + "-alpine"
}

func (o BuilderOptions) getenv(k string) string {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.Getenv(k)
}

// netrc is the host .netrc to mount, or "" for none.
func (o BuilderOptions) netrc() string {
	switch o.Netrc {
	case "none":
		return ""
	case "":
		if f := o.getenv("NETRC"); f != "" {
			return f
		}
		home := o.getenv("HOME")
		if home == "" {
			return ""
		}
		f := filepath.Join(home, ".netrc")
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			return f
		}
		return ""
	}
	return o.Netrc
}

// Binaries is what the Builder defines: nothing runs until a file or
// container is exported, synced or published.
type Binaries struct {
	// Toolchain is the builder image as pulled: where the Production
	// image's CA certificates (and zoneinfo) come from.
	Toolchain *dagger.Container
	// Source is Toolchain with the caches mounted, the dependencies
	// downloaded and the source added, its workdir the agent's module.
	Source *dagger.Container
	// Builds has one entry per p.Builder.Builds, in that order.
	Builds []Binary
}

// Binary is one platform's go build.
type Binary struct {
	Platform pipeline.Platform
	// Container is Source after the go build.
	Container *dagger.Container
	// File is the static binary.
	File *dagger.File
}

// toolboxBuilds defines the builtin Debug base's shell for each platform:
// built like the agent, in the builder image with the Go caches, from the
// agentship module's source (tb.Dir: the module cache or a replace
// directory). go build fetches only the modules the shell imports.
func toolboxBuilds(client Client, toolchain *dagger.Container, tb *pipeline.Toolbox) (map[pipeline.Platform]*dagger.File, error) {
	data, err := os.ReadFile(filepath.Join(tb.Dir, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("the builtin Debug base is built from %s, which has no go.mod: run go mod download in the agent's module", tb.Dir)
	}
	modVol, buildVol := CacheVolumeNames(modfile.ModulePath(data))
	src := toolchain.
		WithMountedCache(goModCache, client.CacheVolume(modVol)).
		WithMountedCache(goBuildCache, client.CacheVolume(buildVol)).
		WithEnvVariable("GOMODCACHE", goModCache).
		WithEnvVariable("GOCACHE", goBuildCache).
		WithDirectory(srcRoot, client.Host().Directory(tb.Dir, dagger.HostDirectoryOpts{Exclude: []string{".git", "dist", "examples"}})).
		WithWorkdir(srcRoot)
	out := map[pipeline.Platform]*dagger.File{}
	for _, b := range tb.Builds {
		b.Output = toolboxOutput
		out[b.Platform] = goBuild(src, b).File(buildOutput(b))
	}
	return out, nil
}

// toolboxOutput names the builtin shell's build output.
const toolboxOutput = "sh"

// File is the binary built for plat, or nil.
func (b *Binaries) File(plat pipeline.Platform) *dagger.File {
	for _, bin := range b.Builds {
		if bin.Platform == plat {
			return bin.File
		}
	}
	return nil
}

// Builder defines the Builder step: golang:<version>-alpine with cache
// volumes for GOMODCACHE and GOCACHE named after the module, go.mod and
// go.sum added and `go mod download` run before the source is added (so
// that the dependencies stay cached while only code changes), then one go
// build per platform with the plan's env and arguments. Go cross-compiles,
// so every build runs on the engine's own platform.
func Builder(client Client, p *pipeline.Plan, opts BuilderOptions) (*Binaries, error) {
	if len(p.Builder.Builds) == 0 && p.Lambda.Build.Package == "" {
		return nil, fmt.Errorf("the plan has no builds: make it with pipeline.MakePlan")
	}
	toolchain := client.Container().From(opts.BuilderImage(p))
	src, err := sourceContainer(client, p, toolchain, opts)
	if err != nil {
		return nil, err
	}
	b := &Binaries{Toolchain: toolchain, Source: src}
	for _, build := range p.Builder.Builds {
		ctr := goBuild(src, build)
		b.Builds = append(b.Builds, Binary{
			Platform:  build.Platform,
			Container: ctr,
			File:      ctr.File(buildOutput(build)),
		})
	}
	return b, nil
}

// buildOutput is where a build writes its binary in the container.
func buildOutput(b pipeline.Build) string {
	return outDir + "/" + path.Base(b.Output)
}

// goBuild runs one pipeline.Build: its env, then exactly its argv.
func goBuild(src *dagger.Container, b pipeline.Build) *dagger.Container {
	ctr := src
	for _, kv := range b.Env {
		k, v, _ := strings.Cut(kv, "=")
		ctr = ctr.WithEnvVariable(k, v)
	}
	return ctr.WithExec(b.Argv(buildOutput(b)))
}

// CacheVolumeNames are the GOMODCACHE and GOCACHE volumes of a module:
// per module, so two agents never contend for one lock, and stable, so a
// module's every build reuses them.
func CacheVolumeNames(module string) (modCache, buildCache string) {
	key := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, module)
	return "agentship-gomodcache-" + key, "agentship-gocache-" + key
}

// sourceContainer is the toolchain with caches, private-module access,
// downloaded dependencies and the source, in that order.
func sourceContainer(client Client, p *pipeline.Plan, toolchain *dagger.Container, opts BuilderOptions) (*dagger.Container, error) {
	mods, err := readModuleDirs(p.Dir)
	if err != nil {
		return nil, err
	}
	modVol, buildVol := CacheVolumeNames(p.Module)
	ctr := toolchain.
		WithMountedCache(goModCache, client.CacheVolume(modVol)).
		WithMountedCache(goBuildCache, client.CacheVolume(buildVol)).
		WithEnvVariable("GOMODCACHE", goModCache).
		WithEnvVariable("GOCACHE", goBuildCache)

	ctr, err = withPrivateModules(client, ctr, opts)
	if err != nil {
		return nil, err
	}
	for _, kv := range opts.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("builder env %q is not NAME=value", kv)
		}
		ctr = ctr.WithEnvVariable(k, v)
	}

	// Only go.mod and go.sum before `go mod download`: this layer, and the
	// download, change when the dependencies do, not when the code does.
	for _, dir := range mods.all() {
		ctr = ctr.WithDirectory(mods.inContainer(dir), client.Host().Directory(dir, dagger.HostDirectoryOpts{
			Include: []string{"go.mod", "go.sum"},
		}))
	}
	ctr = ctr.WithWorkdir(mods.inContainer(mods.agent)).
		WithExec([]string{"go", "mod", "download"})

	// Then the source: replaced modules first, the agent last, so that an
	// agent inside a replaced module's tree is its own latest copy.
	for _, dir := range mods.replaced {
		excl, err := sourceExcludes(dir, p.Dist.Dir)
		if err != nil {
			return nil, err
		}
		if rel, ok := within(dir, mods.agent); ok {
			excl = append(excl, rel)
		}
		ctr = ctr.WithDirectory(mods.inContainer(dir), client.Host().Directory(dir, dagger.HostDirectoryOpts{
			Exclude: excl, Gitignore: true,
		}))
	}
	excl, err := sourceExcludes(mods.agent, p.Dist.Dir)
	if err != nil {
		return nil, err
	}
	return ctr.WithDirectory(mods.inContainer(mods.agent), client.Host().Directory(mods.agent, dagger.HostDirectoryOpts{
		Exclude: excl, Gitignore: true,
	})), nil
}

// withPrivateModules passes GOPRIVATE and friends through, and mounts the
// credentials as Dagger secrets read on the host from provider URIs: the
// engine gets them by reference, never as a file in a layer, an env value
// in the image config or plaintext in a query.
func withPrivateModules(client Client, ctr *dagger.Container, opts BuilderOptions) (*dagger.Container, error) {
	private := false
	for _, k := range privateModuleEnv {
		if v := opts.getenv(k); v != "" {
			ctr = ctr.WithEnvVariable(k, v)
			private = private || k == "GOPRIVATE" || k == "GONOPROXY"
		}
	}
	if private {
		// Modules that bypass the proxy are fetched with git, which the
		// alpine image lacks.
		ctr = ctr.WithExec([]string{"apk", "add", "--no-cache", "git"})
	}
	if f := opts.netrc(); f != "" {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf(".netrc %s cannot be read (%v): fix the path in NETRC, or set BuilderOptions.Netrc to \"none\"", abs, err)
		}
		ctr = ctr.WithMountedSecret(netrcPath, client.Secret("file://"+filepath.ToSlash(abs)))
	}
	if opts.getenv("GOAUTH") != "" {
		ctr = ctr.WithSecretVariable("GOAUTH", client.Secret("env://GOAUTH"))
	}
	return ctr, nil
}

// moduleDirs are the host directories a build needs: the agent's module
// and the modules its go.mod replaces with local directories, placed in
// the container as they are on the host relative to their common root, so
// that "replace x => ../.." still points at x.
type moduleDirs struct {
	root     string
	agent    string
	replaced []string
}

func (m moduleDirs) all() []string { return append([]string{m.agent}, m.replaced...) }

func (m moduleDirs) inContainer(hostDir string) string {
	rel, _ := filepath.Rel(m.root, hostDir)
	return path.Join(srcRoot, filepath.ToSlash(rel))
}

func readModuleDirs(dir string) (moduleDirs, error) {
	m := moduleDirs{root: dir, agent: dir}
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return m, fmt.Errorf("no go.mod in %s: set Agent.Dir to the agent's module root", dir)
	}
	f, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		return m, fmt.Errorf("%s/go.mod cannot be read (%v): run go mod tidy", dir, err)
	}
	seen := map[string]bool{}
	for _, r := range f.Replace {
		if r.New.Version != "" || !modfile.IsDirectoryPath(r.New.Path) {
			continue
		}
		target := filepath.FromSlash(r.New.Path)
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		target = filepath.Clean(target)
		if seen[target] {
			continue
		}
		seen[target] = true
		if _, err := os.Stat(filepath.Join(target, "go.mod")); err != nil {
			return m, fmt.Errorf("go.mod replaces %s with %s, which has no go.mod: fix the replace directive", r.Old.Path, r.New.Path)
		}
		m.replaced = append(m.replaced, target)
	}
	sort.Strings(m.replaced)
	for _, t := range m.replaced {
		m.root = commonDir(m.root, t)
	}
	return m, nil
}

func commonDir(a, b string) string {
	for {
		if _, ok := within(a, b); ok {
			return a
		}
		parent := filepath.Dir(a)
		if parent == a {
			return a
		}
		a = parent
	}
}

// within reports whether p is dir or inside it, and p relative to dir.
func within(dir, p string) (string, bool) {
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// sourceExcludes keeps out of the build context what never belongs in it:
// dist/ (the outputs), .git, and what .dockerignore names; .gitignore is
// applied by Dagger (Gitignore).
func sourceExcludes(dir, dist string) ([]string, error) {
	excl := []string{".git", path.Clean(filepath.ToSlash(dist))}
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if os.IsNotExist(err) {
		return excl, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		excl = append(excl, line)
	}
	return excl, sc.Err()
}
