// Package localengine runs a Plan without any daemon: the host's go
// toolchain builds, go-containerregistry assembles the images, and every
// output lands in dist/ through a staging directory and a rename, so a
// failed run leaves the previous outputs (or nothing) behind, never half.
package localengine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/aixgo-dev/agentship/internal/distdir"
	"github.com/aixgo-dev/agentship/internal/lambdazip"
	"github.com/aixgo-dev/agentship/internal/ocilayer"
	"github.com/aixgo-dev/agentship/pipeline"
)

// Engine is the daemonless engine.
type Engine struct {
	log       logrus.FieldLogger
	cacheRoot string
}

// New returns a local engine logging to log. Its cache (compressed layers,
// build outputs, the last run's input key) lives in AGENTSHIP_CACHE_DIR,
// else the user cache directory, never in dist/.
func New(log logrus.FieldLogger) *Engine {
	root := os.Getenv("AGENTSHIP_CACHE_DIR")
	if root == "" {
		if d, err := os.UserCacheDir(); err == nil {
			root = filepath.Join(d, "agentship")
		} else {
			root = filepath.Join(os.TempDir(), "agentship-cache")
		}
	}
	return &Engine{log: log, cacheRoot: root}
}

// Name is "local".
func (e *Engine) Name() string { return pipeline.EngineLocal }

// DefaultSteps are what `mage build` produces.
var DefaultSteps = []pipeline.Step{pipeline.StepBinaries, pipeline.StepProduction, pipeline.StepDebug}

// run is one Run's working state.
type run struct {
	e        *Engine
	p        *pipeline.Plan
	want     map[pipeline.Step]bool
	stateDir string
	layers   ocilayer.Cache
	host     hostFiles
	stage    *distdir.Staging
	result   *pipeline.Result
}

// Run executes the plan's steps (DefaultSteps when none are given).
func (e *Engine) Run(ctx context.Context, p *pipeline.Plan, steps ...pipeline.Step) (*pipeline.Result, error) {
	start := time.Now()
	if len(steps) == 0 {
		steps = DefaultSteps
	}
	r := &run{
		e:        e,
		p:        p,
		want:     map[pipeline.Step]bool{},
		stateDir: e.stateDir(p),
		layers:   ocilayer.Cache{Dir: filepath.Join(e.cacheRoot, "layers")},
		host:     hostFiles{dir: p.Dir, binaries: map[string]string{}, toolbox: map[string]string{}},
		result:   &pipeline.Result{Engine: e.Name()},
	}
	for _, s := range steps {
		r.want[s] = true
	}
	if err := r.build(ctx); err != nil {
		return nil, err
	}
	if err := r.findHostFiles(); err != nil {
		return nil, err
	}

	key, err := r.inputsKey(steps)
	if err != nil {
		return nil, err
	}
	if prev, ok := r.previous(key); ok {
		prev.Engine = e.Name()
		prev.Reused = true
		prev.Timings = r.result.Timings
		prev.Total = time.Since(start)
		e.log.WithField("key", key[:12]).Info("inputs unchanged: reusing the previous outputs in dist/")
		return prev, nil
	}

	if err := r.produce(ctx); err != nil {
		return nil, err
	}
	r.result.Total = time.Since(start)
	if err := r.saveState(key); err != nil {
		e.log.WithError(err).Warn("could not record this run for reuse; the next run will rebuild")
	}
	return r.result, nil
}

func (r *run) timed(step string, f func() error) error {
	done := pipeline.Progress(r.e.log, step, nil, 10*time.Second)
	err := f()
	d := done()
	if err == nil {
		r.result.Timings = append(r.result.Timings, pipeline.Timing{Step: step, Duration: d})
	}
	return err
}

func (r *run) needImages() bool {
	return r.want[pipeline.StepProduction] || r.want[pipeline.StepDebug]
}

func (r *run) needLambda() bool {
	return r.want[pipeline.StepLambdaZip] || r.want[pipeline.StepLambdaImage]
}

// build runs the Builder for all platforms (and the builtin Debug base's
// shell when the plan has one), then the Lambda build.
func (r *run) build(ctx context.Context) error {
	if r.needImages() || r.want[pipeline.StepBinaries] {
		var jobs []buildJob
		for _, b := range r.p.Builder.Builds {
			out := filepath.Join(r.stateDir, "bin", b.Platform.Slug(), r.p.Name)
			r.host.binaries[b.Platform.String()] = out
			jobs = append(jobs, buildJob{dir: r.p.Dir, build: b, out: out})
		}
		if tb := r.p.Debug.Toolbox; tb != nil && r.want[pipeline.StepDebug] {
			for _, b := range tb.Builds {
				out := filepath.Join(r.stateDir, "bin", "toolbox_"+b.Platform.Slug(), "sh")
				r.host.toolbox[b.Platform.String()] = out
				jobs = append(jobs, buildJob{dir: tb.Dir, build: b, out: out})
			}
		}
		if err := r.timed("builder", func() error { return buildAll(ctx, jobs) }); err != nil {
			return err
		}
	}
	if r.needLambda() {
		r.host.bootstrap = filepath.Join(r.stateDir, "bin", "lambda_"+r.p.Lambda.Arch, "bootstrap")
		return r.timed("lambda builder", func() error {
			return goBuild(ctx, r.p.Dir, r.p.Lambda.Build, r.host.bootstrap)
		})
	}
	return nil
}

type buildJob struct {
	dir   string
	build pipeline.Build
	out   string
}

// buildAll runs the builds two at a time: the link step is single-threaded,
// so two builds fill two cores. The first error (in plan order) wins.
func buildAll(ctx context.Context, jobs []buildJob) error {
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, 2)
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = goBuild(ctx, j.dir, j.build, j.out)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// findHostFiles locates the CA bundle and zoneinfo only when an image that
// this run makes asks for them.
func (r *run) findHostFiles() error {
	var files []pipeline.File
	for _, img := range r.images() {
		files = append(files, img.Files...)
	}
	for _, f := range files {
		var err error
		switch {
		case f.From == pipeline.FromCACerts && r.host.caCerts == "":
			r.host.caCerts, err = findCACerts()
		case f.From == pipeline.FromZoneinfo && r.host.zoneinfo == "":
			r.host.zoneinfo, err = findZoneinfo()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// images are the image targets this run makes.
func (r *run) images() []pipeline.Image {
	var out []pipeline.Image
	if r.want[pipeline.StepProduction] {
		out = append(out, r.p.Production)
	}
	if r.want[pipeline.StepDebug] {
		out = append(out, r.p.Debug)
	}
	if r.want[pipeline.StepLambdaImage] {
		out = append(out, r.p.Lambda.Image)
	}
	return out
}

// produce writes every output into a staging directory inside dist/, then
// renames each into place.
func (r *run) produce(ctx context.Context) (err error) {
	if r.stage, err = distdir.Begin(r.p.Dir, r.p.Dist.Dir); err != nil {
		return err
	}
	defer func() { r.stage.Close(err != nil) }()

	if r.needImages() || r.want[pipeline.StepBinaries] {
		for _, b := range r.p.Builder.Builds {
			a, err := r.stageFile(r.host.binaries[b.Platform.String()], b.Output, 0o755)
			if err != nil {
				return err
			}
			a.Kind, a.Name, a.Platform = "binary", r.p.Name, b.Platform.String()
			r.result.Artifacts = append(r.result.Artifacts, a)
		}
	}
	tagged := map[string]distdir.Tagged{}
	if r.want[pipeline.StepProduction] {
		if err := r.timed("production", func() error { return r.image(ctx, r.p.Production, nil, r.p.Dist.ImageTar, tagged) }); err != nil {
			return err
		}
	}
	if r.want[pipeline.StepDebug] {
		err := r.timed("debug", func() error {
			var b *base // nil: scratch, with the builtin toolbox's shell in the files
			if r.p.Debug.Base != "" {
				var err error
				if b, err = pullBase(ctx, r.p.Debug.Base); err != nil {
					return err
				}
			}
			return r.image(ctx, r.p.Debug, b, r.p.Dist.DebugImageTar, tagged)
		})
		if err != nil {
			return err
		}
	}
	if r.want[pipeline.StepLambdaImage] {
		if err := r.timed("lambda image", func() error { return r.image(ctx, r.p.Lambda.Image, nil, r.p.Dist.LambdaImageTar, tagged) }); err != nil {
			return err
		}
	}
	if r.want[pipeline.StepLambdaZip] {
		err := r.timed("lambda zip", func() error {
			info, err := lambdazip.Build(r.stage.Path(r.p.Dist.LambdaZip), r.p, r.host.bootstrap)
			if err != nil {
				return err
			}
			r.result.Artifacts = append(r.result.Artifacts, pipeline.Artifact{
				Kind: "zip", Name: "lambda", Platform: "linux/" + r.p.Lambda.Arch,
				Path: r.p.Dist.LambdaZip, Size: info.Size, Digest: info.Digest(),
			})
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(tagged) > 0 {
		if err := r.timed("oci layout", func() error { return r.writeLayout(tagged) }); err != nil {
			return err
		}
	}
	return r.stage.Commit()
}

// stageFile copies src to the staged place of distRel and describes it.
func (r *run) stageFile(src, distRel string, mode os.FileMode) (pipeline.Artifact, error) {
	in, err := os.Open(src)
	if err != nil {
		return pipeline.Artifact{}, err
	}
	defer in.Close()
	out, err := os.OpenFile(r.stage.Path(distRel), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return pipeline.Artifact{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return pipeline.Artifact{}, err
	}
	return pipeline.Artifact{Path: distRel, Size: n, Digest: "sha256:" + hex.EncodeToString(h.Sum(nil))}, nil
}

// Forget removes this agent's cached state (built binaries, last run's
// key), so that the next run rebuilds everything. Shared layers stay.
func (e *Engine) Forget(p *pipeline.Plan) error {
	return os.RemoveAll(e.stateDir(p))
}

// stateDir is this agent's part of the cache, keyed by its directory.
func (e *Engine) stateDir(p *pipeline.Plan) string {
	sum := sha256.Sum256([]byte(p.Dir))
	return filepath.Join(e.cacheRoot, "agents", hex.EncodeToString(sum[:8]))
}
