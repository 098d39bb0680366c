package pipeline

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Plan is everything an engine needs to run, as plain data: the exact go
// build per platform and the exact images. Two engines given one Plan
// produce the same artifacts. A Plan holds no secret, so it can be printed.
type Plan struct {
	Name       string    `json:"name"`
	Version    string    `json:"version"`
	Commit     string    `json:"commit"`
	Dir        string    `json:"dir"`
	Module     string    `json:"module"`
	Created    time.Time `json:"created"`
	Builder    Builder   `json:"builder"`
	Production Image     `json:"production"`
	Debug      Image     `json:"debug"`
	Lambda     Lambda    `json:"lambda"`
	Push       Push      `json:"push"`
	Dist       Dist      `json:"dist"`
}

// Builder is the Builder step: one static go build per platform.
type Builder struct {
	// GoVersion is the Go release the module asks for (toolchain line,
	// else go line); the Dagger engine picks golang:<GoVersion>-alpine.
	GoVersion string  `json:"goVersion"`
	Builds    []Build `json:"builds"`
}

// Build is one go build invocation, run in Plan.Dir.
type Build struct {
	Platform Platform `json:"platform"`
	// Env is added to the toolchain's environment.
	Env []string `json:"env"`
	// Flags go between "go build" and "-o".
	Flags []string `json:"flags"`
	// Package is the main package, relative to Plan.Dir ("./cmd/agent").
	Package string `json:"package"`
	// Output is the binary's path under dist/.
	Output string `json:"output"`
}

// Argv is the full command line, writing the binary to out.
func (b Build) Argv(out string) []string {
	argv := append([]string{"go", "build"}, b.Flags...)
	return append(argv, "-o", out, b.Package)
}

// Image is one image target: files on a base, and the image config.
type Image struct {
	// Target is "production", "debug" or "lambda".
	Target string `json:"target"`
	// Base is "" for scratch, a registry reference, or oci-layout://PATH[:tag].
	Base string `json:"base,omitempty"`
	// Tag names the image in dist/oci: <name>:<version>[-debug|-lambda].
	Tag       string     `json:"tag"`
	Platforms []Platform `json:"platforms"`
	// Files are laid down in this order, each with its parents (0755, root).
	Files  []File      `json:"files"`
	Config ImageConfig `json:"config"`
	// SingleManifest stores and pushes the image as one image manifest, not
	// an index: Lambda refuses indexes, even of one platform.
	SingleManifest bool `json:"singleManifest,omitempty"`
	// Toolbox is set when the base is DebugToolbox: the shell to build for
	// each platform (a FromToolbox file), from the agentship source.
	Toolbox *Toolbox `json:"toolbox,omitempty"`
}

// DebugToolbox is the builtin Debug base: no registry pull, just a POSIX
// shell with ls, cat, env, id and ps (cmd/toolbox), cross-compiled like
// the agent. It makes a Debug image on a machine with no registry access.
const DebugToolbox = "builtin://toolbox"

// Toolbox is the builtin base's shell: one build per platform, run in Dir.
type Toolbox struct {
	Dir    string  `json:"dir"`
	Builds []Build `json:"builds"`
}

// Where a File's bytes come from.
const (
	FromBinary   = "binary"    // the Builder's output for the image's platform
	FromLambda   = "bootstrap" // the Lambda build's output
	FromCACerts  = "cacerts"   // a CA bundle: the host's, or the builder image's
	FromZoneinfo = "zoneinfo"  // a zoneinfo tree: the host's, or the builder image's
	FromDir      = "dir"       // a directory of the agent repo, copied whole
	FromInline   = "inline"    // Content
	FromToolbox  = "toolbox"   // the builtin Debug base's shell for the image's platform
)

// File is one file (or, for FromDir and FromZoneinfo, one tree) in an image.
type File struct {
	Path   string `json:"path"`
	From   string `json:"from"`
	Source string `json:"source,omitempty"` // for FromDir: the repo-relative directory
	// Content is the file's text for FromInline.
	Content string `json:"content,omitempty"`
	// Mode is the file's permission bits; trees get Mode for files and
	// 0755 for directories.
	Mode Mode `json:"mode"`
	UID  int  `json:"uid"`
	GID  int  `json:"gid"`
}

// Mode prints as an octal string in the plan, the way people read modes.
type Mode uint32

func (m Mode) MarshalJSON() ([]byte, error) {
	return json.Marshal(fmt.Sprintf("%04o", uint32(m)))
}

func (m *Mode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := strconv.ParseUint(s, 8, 32)
	*m = Mode(v)
	return err
}

// ImageConfig is the part of the OCI image config that the plan decides.
type ImageConfig struct {
	User         string            `json:"user,omitempty"`
	Entrypoint   []string          `json:"entrypoint"`
	Cmd          []string          `json:"cmd"`
	Env          []string          `json:"env"`
	ExposedPorts []string          `json:"exposedPorts,omitempty"`
	Labels       map[string]string `json:"labels"`
	WorkingDir   string            `json:"workingDir,omitempty"`
	Healthcheck  *Healthcheck      `json:"healthcheck,omitempty"`
}

// Healthcheck is Docker's HEALTHCHECK (the OCI config has no such field;
// Docker and Podman read it from the config's Healthcheck).
type Healthcheck struct {
	Test        []string      `json:"test"`
	Interval    time.Duration `json:"interval"`
	Timeout     time.Duration `json:"timeout"`
	StartPeriod time.Duration `json:"startPeriod"`
	Retries     int           `json:"retries"`
}

// Lambda is the Lambda step: a bootstrap for provided.al2023, as a zip and
// as an image.
type Lambda struct {
	Arch  string `json:"arch"`
	Build Build  `json:"build"`
	// ZipFiles are the zip's entries, paths relative to the zip root.
	ZipFiles []File `json:"zipFiles"`
	Image    Image  `json:"image"`
}

// Push is where image:push sends the images: Repository with each tag.
type Push struct {
	Repository string   `json:"repository"`
	Tags       []string `json:"tags"`
}

// Dist names the outputs, relative to Plan.Dir.
type Dist struct {
	Dir            string `json:"dir"`
	OCILayout      string `json:"ociLayout"`
	ImageTar       string `json:"imageTar"`
	DebugImageTar  string `json:"debugImageTar"`
	LambdaZip      string `json:"lambdaZip"`
	LambdaImageTar string `json:"lambdaImageTar"`
	Digest         string `json:"digest"`
}

// Label keys from the OCI image spec's annotations.
const (
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
	LabelCreated  = "org.opencontainers.image.created"
	LabelSource   = "org.opencontainers.image.source"
	LabelTitle    = "org.opencontainers.image.title"
)

// Paths inside the images.
const (
	CACertsPath  = "/etc/ssl/certs/ca-certificates.crt"
	ZoneinfoPath = "/usr/share/zoneinfo"
	ConfigPath   = "/config"
)

// passwd and group give user 65534 a name, so tools that look the user up
// (and Go's os/user) find one in an image that has no shell and no useradd.
const (
	etcPasswd = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
	etcGroup  = "root:x:0:\nnobody:x:65534:\n"
)

// MakePlan derives the plan from a resolved agent. It does no I/O.
func MakePlan(r Resolved) (*Plan, error) {
	a := r.Agent
	platforms := make([]Platform, 0, len(a.Platforms))
	seen := map[string]bool{}
	for _, s := range a.Platforms {
		p, err := ParsePlatform(s)
		if err != nil {
			return nil, err
		}
		if !seen[p.String()] {
			seen[p.String()] = true
			platforms = append(platforms, p)
		}
	}

	p := &Plan{
		Name:    a.Name,
		Version: a.Version,
		Commit:  a.Commit,
		Dir:     a.Dir,
		Module:  r.ModulePath,
		Created: r.Created,
		Dist: Dist{
			Dir:            "dist",
			OCILayout:      "dist/oci",
			ImageTar:       "dist/" + a.Name + "-image.tar",
			DebugImageTar:  "dist/" + a.Name + "-debug-image.tar",
			LambdaZip:      "dist/" + a.Name + "-lambda-" + a.LambdaArch + ".zip",
			LambdaImageTar: "dist/" + a.Name + "-lambda-image.tar",
			Digest:         "dist/" + a.Name + ".digest",
		},
	}
	p.Builder.GoVersion = goRelease(r)
	pkg := "./" + a.Main
	if a.Main == "." {
		pkg = "."
	}
	for _, plat := range platforms {
		p.Builder.Builds = append(p.Builder.Builds, Build{
			Platform: plat,
			Env:      append([]string{"CGO_ENABLED=0"}, plat.GoEnv()...),
			Flags:    buildFlags(a, a.BuildTags),
			Package:  pkg,
			Output:   "dist/" + a.Name + "_" + plat.Slug() + "/" + a.Name,
		})
	}

	labels := map[string]string{
		LabelVersion:  a.Version,
		LabelRevision: a.Commit,
		LabelCreated:  r.Created.Format(time.RFC3339),
		LabelTitle:    a.Name,
	}
	if a.Source != "" {
		labels[LabelSource] = a.Source
	}
	for k, v := range a.Labels {
		labels[k] = v
	}
	env := map[string]string{"PORT": strconv.Itoa(a.Port)}
	if a.Zoneinfo {
		env["TZ"] = "UTC"
	}
	for k, v := range a.Env {
		env[k] = v
	}
	port := []string{strconv.Itoa(a.Port) + "/tcp"}

	// systemFiles are what a scratch image lacks and an agent needs:
	// certificates for HTTPS model APIs, zoneinfo when asked for.
	var systemFiles []File
	if !a.NoCACerts {
		systemFiles = append(systemFiles, File{Path: CACertsPath, From: FromCACerts, Mode: 0o644})
	}
	if a.Zoneinfo {
		systemFiles = append(systemFiles, File{Path: ZoneinfoPath, From: FromZoneinfo, Mode: 0o644})
	}
	var configFiles []File
	if a.ConfigDir != "" {
		configFiles = []File{{Path: ConfigPath, From: FromDir, Source: path.Clean(a.ConfigDir), Mode: 0o644}}
	}
	binary := File{Path: a.BinaryPath, From: FromBinary, Mode: 0o755}

	prodFiles := append([]File{}, systemFiles...)
	prodFiles = append(prodFiles,
		File{Path: "/etc/passwd", From: FromInline, Content: etcPasswd, Mode: 0o644},
		File{Path: "/etc/group", From: FromInline, Content: etcGroup, Mode: 0o644},
	)
	prodFiles = append(append(prodFiles, configFiles...), binary)
	p.Production = Image{
		Target:    "production",
		Tag:       a.Name + ":" + a.Version,
		Platforms: platforms,
		Files:     prodFiles,
		Config: ImageConfig{
			User:         a.User,
			Entrypoint:   []string{a.BinaryPath},
			Env:          envList(env),
			ExposedPorts: port,
			Labels:       labels,
			Healthcheck:  healthcheck(a.HealthCheck),
		},
	}

	// Debug is the same binary and config on a base with a shell; it keeps
	// the base's user (root) and drops the healthcheck, since its CMD is a
	// shell rather than the agent.
	p.Debug = Image{
		Target:    "debug",
		Base:      a.DebugBase,
		Tag:       a.Name + ":" + a.Version + "-debug",
		Platforms: platforms,
		Files:     append(append([]File{}, configFiles...), binary),
		Config: ImageConfig{
			Entrypoint:   []string{},
			Cmd:          []string{"/bin/sh"},
			Env:          envList(env),
			ExposedPorts: port,
			Labels:       labels,
		},
	}

	if a.DebugBase == DebugToolbox {
		p.Debug.Base = ""
		p.Debug.Files = append([]File{{Path: "/bin/sh", From: FromToolbox, Mode: 0o755}}, p.Debug.Files...)
		p.Debug.Config.Env = envList(merge(env, map[string]string{"PATH": "/bin"}))
		p.Debug.Toolbox = &Toolbox{Dir: r.ToolboxDir}
		for _, plat := range platforms {
			p.Debug.Toolbox.Builds = append(p.Debug.Toolbox.Builds, Build{
				Platform: plat,
				Env:      append([]string{"CGO_ENABLED=0"}, plat.GoEnv()...),
				Flags:    []string{"-trimpath", "-buildvcs=false", "-ldflags", "-s -w"},
				Package:  "./cmd/toolbox",
			})
		}
	}

	lambdaPlat := Platform{OS: "linux", Arch: a.LambdaArch}
	tags := append([]string{"lambda.norpc"}, a.BuildTags...)
	p.Lambda = Lambda{
		Arch: a.LambdaArch,
		Build: Build{
			Platform: lambdaPlat,
			Env:      append([]string{"CGO_ENABLED=0"}, lambdaPlat.GoEnv()...),
			Flags:    buildFlags(a, tags),
			Package:  pkg,
			Output:   "dist/" + a.Name + "_lambda_" + a.LambdaArch + "/bootstrap",
		},
		ZipFiles: []File{{Path: "bootstrap", From: FromLambda, Mode: 0o755}},
	}
	if a.ConfigDir != "" {
		p.Lambda.ZipFiles = append(p.Lambda.ZipFiles, File{Path: "config", From: FromDir, Source: path.Clean(a.ConfigDir), Mode: 0o644})
	}
	lambdaEnv := map[string]string{}
	if a.Zoneinfo {
		lambdaEnv["TZ"] = "UTC"
	}
	for k, v := range a.Env {
		lambdaEnv[k] = v
	}
	p.Lambda.Image = Image{
		Target:         "lambda",
		Tag:            a.Name + ":" + a.Version + "-lambda",
		Platforms:      []Platform{lambdaPlat},
		SingleManifest: true,
		Files: append(append(append([]File{}, systemFiles...), configFiles...),
			File{Path: "/bootstrap", From: FromLambda, Mode: 0o755}),
		Config: ImageConfig{
			Entrypoint: []string{"/bootstrap"},
			Env:        envList(lambdaEnv),
			Labels:     labels,
		},
	}

	push, err := pushPlan(a)
	if err != nil {
		return nil, err
	}
	p.Push = push
	return p, nil
}

// goRelease is the Go release the module builds with: the toolchain line
// (go1.26.8 -> 1.26.8) when present, else the go line.
func goRelease(r Resolved) string {
	if v, ok := strings.CutPrefix(r.Toolchain, "go"); ok && v != "" {
		return v
	}
	if r.GoVersion != "" {
		return r.GoVersion
	}
	return "1.26"
}

// buildFlags are the flags of a static, reproducible build. -buildvcs=false
// because version and commit are stamped with -X, and a VCS stamp would make
// the binary depend on whether .git was visible (the Dagger engine leaves it
// out of the build context), breaking engine parity.
func buildFlags(a Agent, tags []string) []string {
	ld := []string{"-s", "-w",
		"-X", ldQuote("main.Version=" + a.Version),
		"-X", ldQuote("main.GitCommit=" + a.Commit)}
	for _, x := range a.XFlags {
		ld = append(ld, "-X", ldQuote(x))
	}
	flags := []string{"-trimpath", "-buildvcs=false"}
	if len(tags) > 0 {
		flags = append(flags, "-tags", strings.Join(tags, ","))
	}
	return append(flags, "-ldflags", strings.Join(ld, " "))
}

// ldQuote quotes one -X value the way cmd/go splits -ldflags.
func ldQuote(s string) string {
	if !strings.ContainsAny(s, " \t\n\r'\"") {
		return s
	}
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// merge returns a copy of base with over's entries set.
func merge(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

func healthcheck(cmd []string) *Healthcheck {
	if len(cmd) == 0 {
		return nil
	}
	return &Healthcheck{
		Test:        append([]string{"CMD"}, cmd...),
		Interval:    30 * time.Second,
		Timeout:     5 * time.Second,
		StartPeriod: 5 * time.Second,
		Retries:     3,
	}
}

// String prints the plan as indented JSON, for `mage plan`.
func (p *Plan) String() string {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Sprintf("plan: %v", err)
	}
	return string(b)
}

// Platforms lists the plan's build platforms.
func (p *Plan) Platforms() []Platform {
	out := make([]Platform, len(p.Builder.Builds))
	for i, b := range p.Builder.Builds {
		out[i] = b.Platform
	}
	return out
}
