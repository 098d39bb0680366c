package daggerengine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"dagger.io/dagger"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/errgroup"

	"github.com/aixgo-dev/agentship/internal/distdir"
	"github.com/aixgo-dev/agentship/internal/elfcheck"
	"github.com/aixgo-dev/agentship/internal/registry"
	"github.com/aixgo-dev/agentship/pipeline"
)

// Engine is the Dagger engine: a pipeline.Engine that runs the plan's steps
// in Dagger and exports into the same dist/ files the local engine writes.
type Engine struct {
	log     logrus.FieldLogger
	client  *dagger.Client
	connect []dagger.ClientOpt
	builder BuilderOptions
	publish PublishOptions
	verbose bool
}

var (
	_ pipeline.Engine    = (*Engine)(nil)
	_ pipeline.Publisher = (*Engine)(nil)
)

// Option configures an Engine.
type Option func(*Engine)

// WithClient runs on an existing connection (Run then leaves it open), for
// code that already has one, e.g. inside `dagger run`.
func WithClient(c *dagger.Client) Option { return func(e *Engine) { e.client = c } }

// WithConnectOptions adds options to dagger.Connect.
func WithConnectOptions(opts ...dagger.ClientOpt) Option {
	return func(e *Engine) { e.connect = append(e.connect, opts...) }
}

// WithBuilderOptions sets the Builder's options (image, env, .netrc).
func WithBuilderOptions(o BuilderOptions) Option { return func(e *Engine) { e.builder = o } }

// WithPublishOptions sets how Push authenticates.
func WithPublishOptions(o PublishOptions) Option { return func(e *Engine) { e.publish = o } }

// WithVerbose logs Dagger's own progress at info level instead of debug.
func WithVerbose(v bool) Option { return func(e *Engine) { e.verbose = v } }

// New returns a Dagger engine logging to log. Dagger's progress goes to log
// at debug level (shown with AGENTSHIP_VERBOSE=1), so a normal run prints
// agentship's lines only. AGENTSHIP_BUILDER_IMAGE overrides the builder
// image.
func New(log logrus.FieldLogger, opts ...Option) *Engine {
	e := &Engine{log: log}
	for _, o := range opts {
		o(e)
	}
	if e.builder.Image == "" {
		e.builder.Image = os.Getenv("AGENTSHIP_BUILDER_IMAGE")
	}
	return e
}

// Name is "dagger".
func (e *Engine) Name() string { return pipeline.EngineDagger }

// DefaultSteps are what `mage build` produces.
var DefaultSteps = []pipeline.Step{pipeline.StepBinaries, pipeline.StepProduction, pipeline.StepDebug}

// Run executes the steps (DefaultSteps when none are given): it defines
// the building blocks, then exports what the steps ask for into dist/,
// each output staged in dist/ and renamed into place.
func (e *Engine) Run(ctx context.Context, p *pipeline.Plan, steps ...pipeline.Step) (*pipeline.Result, error) {
	start := time.Now()
	if len(steps) == 0 {
		steps = DefaultSteps
	}
	for _, s := range steps {
		switch s {
		case pipeline.StepBinaries, pipeline.StepProduction, pipeline.StepDebug, pipeline.StepLambdaZip, pipeline.StepLambdaImage:
		default:
			return nil, fmt.Errorf("unknown step %q: use binaries, production, debug, lambda-zip or lambda-image", s)
		}
	}
	client, closeClient, err := e.connectClient(ctx)
	if err != nil {
		return nil, err
	}
	defer closeClient()
	r, err := e.run(ctx, client, p, steps)
	if err != nil {
		return nil, err
	}
	r.result.Total = time.Since(start)
	return r.result, nil
}

func (e *Engine) run(ctx context.Context, client Client, p *pipeline.Plan, steps []pipeline.Step) (*run, error) {
	r := &run{e: e, p: p, client: client, want: map[pipeline.Step]bool{}, result: &pipeline.Result{Engine: e.Name()},
		tagged: map[string]distdir.Tagged{}, built: map[string][]*dagger.Container{}}
	for _, s := range steps {
		r.want[s] = true
	}
	if err := r.produce(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Push implements pipeline.Publisher: it builds the target ("production",
// "debug" or "lambda") and exports it to dist/ as Run does, then publishes
// the same containers (one index, every platform as a platform variant;
// Lambda's one image as a manifest) to p.Push.Repository under each of
// p.PushTags(target). For production it writes the index digest to
// dist/<name>.digest for deploy steps to pin.
func (e *Engine) Push(ctx context.Context, p *pipeline.Plan, target string) (*pipeline.Published, error) {
	steps := []pipeline.Step{pipeline.StepBinaries}
	switch target {
	case "production":
		steps = append(steps, pipeline.StepProduction)
	case "debug":
		steps = append(steps, pipeline.StepDebug)
	case "lambda":
		steps = []pipeline.Step{pipeline.StepLambdaImage}
	default:
		return nil, fmt.Errorf("cannot push %q: push production, debug or lambda", target)
	}
	client, closeClient, err := e.connectClient(ctx)
	if err != nil {
		return nil, err
	}
	defer closeClient()
	r, err := e.run(ctx, client, p, steps)
	if err != nil {
		return nil, err
	}
	e.log.Debug(r.result.Summary())

	done := pipeline.Progress(e.log, "push "+target, logrus.Fields{"repository": p.Push.Repository}, 15*time.Second)
	push := pipeline.Push{Repository: p.Push.Repository, Tags: p.PushTags(target)}
	refs, err := Publish(ctx, client, push, r.built[target], e.publish)
	done()
	if err != nil {
		return nil, err
	}
	for _, ref := range refs {
		e.log.WithField("ref", ref).Info("pushed")
	}
	out := &pipeline.Published{Repository: p.Push.Repository, Digest: digestOf(refs[0]), References: refs}
	if target == "production" {
		path := filepath.Join(p.Dir, filepath.FromSlash(p.Dist.Digest))
		if err := registry.WriteDigestFile(path, out.Digest); err != nil {
			return nil, fmt.Errorf("pushed %s@%s, but writing %s failed: %w", out.Repository, out.Digest, p.Dist.Digest, err)
		}
	}
	return out, nil
}

// connectClient returns the engine's client, connecting when it has none.
func (e *Engine) connectClient(ctx context.Context) (*dagger.Client, func(), error) {
	if e.client != nil {
		return e.client, func() {}, nil
	}
	w := &logWriter{log: e.log, verbose: e.verbose}
	opts := append([]dagger.ClientOpt{dagger.WithLogOutput(w)}, e.connect...)
	client, err := dagger.Connect(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach a Dagger engine (%s): install Docker (or Podman) and start it, or run inside `dagger run`; or use AGENTSHIP_ENGINE=local", oneLine(err.Error()))
	}
	return client, func() {
		if err := client.Close(); err != nil {
			e.log.WithError(err).Debug("closing the Dagger session")
		}
		w.Flush()
	}, nil
}

// run is one Run's working state.
type run struct {
	e       *Engine
	p       *pipeline.Plan
	client  Client
	want    map[pipeline.Step]bool
	stage   *distdir.Staging // inside dist/: renamed into place at the end
	scratch string           // outside dist/: Dagger's raw exports
	result  *pipeline.Result
	tagged  map[string]distdir.Tagged
	built   map[string][]*dagger.Container // by image target, for Push
	mu      sync.Mutex
}

func (r *run) needImages() bool { return r.want[pipeline.StepProduction] || r.want[pipeline.StepDebug] }

func (r *run) addArtifact(a pipeline.Artifact) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.result.Artifacts = append(r.result.Artifacts, a)
}

func (r *run) timed(step string, f func() error) error {
	done := pipeline.Progress(r.e.log, step, logrus.Fields{"engine": "dagger"}, 15*time.Second)
	err := f()
	d := done()
	if err == nil {
		r.result.Timings = append(r.result.Timings, pipeline.Timing{Step: step, Duration: d})
	}
	return err
}

func (r *run) produce(ctx context.Context) (err error) {
	bins, err := Builder(r.client, r.p, r.e.builder)
	if err != nil {
		return err
	}
	if r.stage, err = distdir.Begin(r.p.Dir, r.p.Dist.Dir); err != nil {
		return err
	}
	defer func() { r.stage.Close(err != nil) }()
	if r.scratch, err = os.MkdirTemp("", "agentship-dagger-"); err != nil {
		return err
	}
	defer os.RemoveAll(r.scratch)

	if r.want[pipeline.StepBinaries] || r.needImages() {
		if err := r.timed("binaries", func() error { return r.binaries(ctx, bins) }); err != nil {
			return err
		}
	}
	if r.want[pipeline.StepProduction] {
		err := r.timed("production", func() error {
			imgs, err := Production(r.client, r.p, bins)
			if err != nil {
				return err
			}
			return r.image(ctx, r.p.Production, imgs, r.p.Dist.ImageTar)
		})
		if err != nil {
			return err
		}
	}
	if r.want[pipeline.StepDebug] {
		err := r.timed("debug", func() error {
			imgs, err := Debug(r.client, r.p, bins)
			if err != nil {
				return err
			}
			return r.image(ctx, r.p.Debug, imgs, r.p.Dist.DebugImageTar)
		})
		if err != nil {
			return err
		}
	}
	if r.want[pipeline.StepLambdaZip] || r.want[pipeline.StepLambdaImage] {
		lb, err := Lambda(r.client, r.p, bins)
		if err != nil {
			return err
		}
		if r.want[pipeline.StepLambdaImage] {
			err := r.timed("lambda image", func() error {
				return r.image(ctx, r.p.Lambda.Image, []*dagger.Container{lb.Image}, r.p.Dist.LambdaImageTar)
			})
			if err != nil {
				return err
			}
		}
		if r.want[pipeline.StepLambdaZip] {
			err := r.timed("lambda zip", func() error {
				a, err := LambdaZip(ctx, r.p, lb.Bootstrap, r.stage.Path(r.p.Dist.LambdaZip))
				if err == nil {
					r.addArtifact(a)
				}
				return err
			})
			if err != nil {
				return err
			}
		}
	}
	if len(r.tagged) > 0 {
		if err := r.timed("oci layout", r.writeLayout); err != nil {
			return err
		}
	}
	return r.stage.Commit()
}

// binaries exports every platform's binary (the builds run in parallel in
// the engine) and checks each is a static binary for its platform.
func (r *run) binaries(ctx context.Context, bins *Binaries) error {
	g, gctx := errgroup.WithContext(ctx)
	arts := make([]pipeline.Artifact, len(bins.Builds))
	for i, b := range bins.Builds {
		build := r.p.Builder.Builds[i]
		g.Go(func() error {
			out := r.stage.Path(build.Output)
			if _, err := b.File.Export(gctx, out); err != nil {
				return fmt.Errorf("build %s: %w", b.Platform, err)
			}
			if err := os.Chmod(out, 0o755); err != nil {
				return err
			}
			if _, err := elfcheck.Check(out, b.Platform.Arch); err != nil {
				return fmt.Errorf("build %s: %w", b.Platform, err)
			}
			a, err := fileArtifact(out)
			if err != nil {
				return err
			}
			a.Kind, a.Name, a.Platform, a.Path = "binary", r.p.Name, b.Platform.String(), build.Output
			arts[i] = a
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, a := range arts {
		r.addArtifact(a)
	}
	return nil
}

// image exports one image target's containers as one multi-platform OCI
// tarball (layers forced to gzip, OCI media types: what the local engine
// writes and every registry takes), then lays it out in dist/.
func (r *run) image(ctx context.Context, img pipeline.Image, ctrs []*dagger.Container, tarRel string) error {
	r.built[img.Target] = ctrs
	raw := filepath.Join(r.scratch, img.Target+".tar")
	if _, err := ctrs[0].Export(ctx, raw, dagger.ContainerExportOpts{
		PlatformVariants:  ctrs[1:],
		ForcedCompression: dagger.ImageLayerCompressionGzip,
		MediaTypes:        dagger.ImageMediaTypesOcimediaTypes,
	}); err != nil {
		return fmt.Errorf("%s image: %w", img.Target, err)
	}
	return r.layoutImage(img, raw, tarRel)
}

// logWriter turns Dagger's progress output into log lines.
type logWriter struct {
	log     logrus.FieldLogger
	verbose bool
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // keep the partial line for the next write
			break
		}
		w.emit(line)
	}
	return len(b), nil
}

// Flush logs a last line that had no newline.
func (w *logWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.emit(w.buf.String())
		w.buf.Reset()
	}
}

func (w *logWriter) emit(line string) {
	line = strings.TrimRight(line, "\r\n")
	if strings.TrimSpace(line) == "" {
		return
	}
	entry := w.log.WithField("source", "dagger")
	if w.verbose {
		entry.Info(line)
	} else {
		entry.Debug(line)
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
