// Package pipeline describes what to ship (Agent), derives from it the exact
// steps to run (Plan), and names the steps as the guide does: Builder,
// Production, Debug and Lambda. Engines (localengine, daggerengine) execute a
// Plan; they never decide what is built, only where.
package pipeline

// Agent is the user's description of one Go agent to ship. The zero value of
// every field but Dir works: Resolve fills in the defaults.
type Agent struct {
	// Dir is the agent repository: the directory holding go.mod.
	Dir string `json:"dir"`
	// Main is the main package, relative to Dir (default ".").
	Main string `json:"main,omitempty"`
	// Name names the binary and the images (default: the main package's
	// directory name, or the module path's last element for ".").
	Name string `json:"name,omitempty"`
	// Version is stamped into main.Version and the image labels
	// (default: git describe --tags --always --dirty, else "dev").
	Version string `json:"version,omitempty"`
	// Commit is stamped into main.GitCommit (default: git rev-parse HEAD,
	// else "unknown").
	Commit string `json:"commit,omitempty"`
	// Platforms to build, as os/arch (default linux/amd64 and linux/arm64).
	Platforms []string `json:"platforms,omitempty"`
	// BuildTags are passed to go build -tags.
	BuildTags []string `json:"buildTags,omitempty"`
	// XFlags are extra -X flags, each "importpath.name=value".
	XFlags []string `json:"xFlags,omitempty"`
	// ConfigDir is copied to /config in the images (default "config" when
	// that directory exists; naming one that does not exist is an error).
	ConfigDir string `json:"configDir,omitempty"`
	// Repository is the image repository, e.g. ghcr.io/acme/agent
	// (default: the name).
	Repository string `json:"repository,omitempty"`
	// ImageTags are extra tags for pushes, besides the version.
	ImageTags []string `json:"imageTags,omitempty"`
	// TagLatest adds the tag "latest" on push.
	TagLatest bool `json:"tagLatest,omitempty"`
	// Port is set as PORT and exposed (default 8080).
	Port int `json:"port,omitempty"`
	// Env is added to the images' environment.
	Env map[string]string `json:"env,omitempty"`
	// Labels are added to the images' labels (they win over the defaults).
	Labels map[string]string `json:"labels,omitempty"`
	// User runs the Production image (default "65534:65534").
	User string `json:"user,omitempty"`
	// NoCACerts leaves out /etc/ssl/certs/ca-certificates.crt (included by
	// default: an agent calls HTTPS model APIs).
	NoCACerts bool `json:"noCACerts,omitempty"`
	// Zoneinfo adds /usr/share/zoneinfo and TZ=UTC.
	Zoneinfo bool `json:"zoneinfo,omitempty"`
	// HealthCheck is the Docker healthcheck command, exec form
	// (default none), e.g. ["/agent", "--health-check"].
	HealthCheck []string `json:"healthCheck,omitempty"`
	// DebugBase is the Debug image's base: a registry reference or
	// oci-layout://PATH[:tag] (default alpine:3.22).
	DebugBase string `json:"debugBase,omitempty"`
	// BinaryPath is where the binary lives in the images (default /agent).
	BinaryPath string `json:"binaryPath,omitempty"`
	// Source is the org.opencontainers.image.source label (default: the
	// git remote "origin" as an https URL, when there is one).
	Source string `json:"source,omitempty"`
	// LambdaArch is the Lambda function's architecture: amd64 (x86_64) or
	// arm64 (Graviton); default amd64.
	LambdaArch string `json:"lambdaArch,omitempty"`
}
