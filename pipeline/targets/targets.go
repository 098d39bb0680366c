// Package targets gives an agent repository its Mage targets. Import it in
// the repo's magefile:
//
//	import (
//		// mage:import
//		"github.com/aixgo-dev/agentship/pipeline/targets"
//	)
//
//	func init() { targets.Agent.HealthCheck = []string{"/agent", "--health-check"} }
//
// and `mage build`, `mage image:push`, `mage lambda:zip` … work. The Agent
// variable is the configuration; AGENTSHIP_ENGINE, AGENTSHIP_PLATFORMS,
// VERSION and IMAGE override it from the environment.
package targets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/magefile/mage/mg"
	"github.com/sirupsen/logrus"

	"github.com/aixgo-dev/agentship/internal/lambdazip"
	"github.com/aixgo-dev/agentship/pipeline"
	"github.com/aixgo-dev/agentship/pipeline/localengine"
)

// Agent is what the targets ship. Set its fields in the magefile's init();
// Dir defaults to the directory mage runs in.
var Agent pipeline.Agent

// Image groups the image targets.
type Image mg.Namespace

// Lambda groups the AWS Lambda targets.
type Lambda mg.Namespace

// Build builds the binaries and the Production and Debug images into dist/.
func Build(ctx context.Context) error {
	return run(ctx, localengine.DefaultSteps...)
}

// Plan prints the build plan as JSON, without building anything.
func Plan() error {
	p, _, err := load()
	if err != nil {
		return err
	}
	fmt.Println(p.String())
	return nil
}

// Clean removes dist/ and this agent's build cache.
func Clean() error {
	p, log, err := load()
	if err != nil {
		return err
	}
	dist := filepath.Join(p.Dir, p.Dist.Dir)
	if err := os.RemoveAll(dist); err != nil {
		return fmt.Errorf("remove %s: %w", dist, err)
	}
	if err := localengine.New(log).Forget(p); err != nil {
		return err
	}
	log.WithField("dir", dist).Info("cleaned")
	return nil
}

// Build builds the binaries and the Production image (scratch, the binary,
// CA certificates, config) into dist/.
func (Image) Build(ctx context.Context) error {
	return run(ctx, pipeline.StepBinaries, pipeline.StepProduction)
}

// Debug builds the Debug image: the same binary and config on a base with a shell.
func (Image) Debug(ctx context.Context) error {
	return run(ctx, pipeline.StepBinaries, pipeline.StepDebug)
}

// Load builds the Production image and loads it into the local Docker daemon.
func (Image) Load(ctx context.Context) error {
	if err := dockerAnswers(ctx); err != nil {
		return err
	}
	if err := run(ctx, pipeline.StepBinaries, pipeline.StepProduction); err != nil {
		return err
	}
	p, _, err := load()
	if err != nil {
		return err
	}
	return dockerLoad(ctx, filepath.Join(p.Dir, p.Dist.ImageTar))
}

// Zip builds dist/<name>-lambda-<arch>.zip: bootstrap for provided.al2023 and config.
func (Lambda) Zip(ctx context.Context) error {
	p, res, err := ship(ctx, pipeline.StepLambdaZip)
	if err != nil {
		return err
	}
	for _, a := range res.Artifacts {
		if a.Kind == "zip" {
			info := lambdazip.Info{Path: filepath.Join(p.Dir, a.Path), Size: a.Size, SHA256: strings.TrimPrefix(a.Digest, "sha256:")}
			cmds := lambdazip.DeployCommands(p, info)
			fmt.Printf("deploy (first time):\n  %s\nupdate:\n  %s\n", cmds.Create, cmds.Update)
		}
	}
	return nil
}

// Image builds the Lambda container image (scratch, /bootstrap) into dist/.
func (Lambda) Image(ctx context.Context) error {
	return run(ctx, pipeline.StepLambdaImage)
}

// load resolves the Agent (with env overrides) and makes its plan.
func load() (*pipeline.Plan, *logrus.Logger, error) {
	log := pipeline.DefaultLogger()
	a := pipeline.ApplyEnv(Agent, os.Getenv)
	if a.Dir == "" {
		a.Dir = "."
	}
	r, err := pipeline.Resolve(a)
	if err != nil {
		return nil, log, err
	}
	p, err := pipeline.MakePlan(r)
	return p, log, err
}

// run plans, picks the engine, runs the steps and prints the summary.
func run(ctx context.Context, steps ...pipeline.Step) error {
	_, _, err := ship(ctx, steps...)
	return err
}

func ship(ctx context.Context, steps ...pipeline.Step) (*pipeline.Plan, *pipeline.Result, error) {
	p, log, err := load()
	if err != nil {
		return nil, nil, err
	}
	eng, err := selectEngine(log)
	if err != nil {
		return nil, nil, err
	}
	res, err := eng.Run(ctx, p, steps...)
	if err != nil {
		return nil, nil, err
	}
	fmt.Print(res.Summary())
	return p, res, nil
}

// selectEngine applies AGENTSHIP_ENGINE and says which engine runs and why.
func selectEngine(log *logrus.Logger) (pipeline.Engine, error) {
	sel, err := pipeline.SelectEngine(os.Getenv("AGENTSHIP_ENGINE"), os.Getenv, pipeline.ContainerRuntimeReachable)
	if err != nil {
		return nil, err
	}
	log.WithFields(logrus.Fields{"engine": sel.Engine, "why": sel.Reason}).Info("engine selected")
	if sel.Engine == pipeline.EngineDagger {
		return newDaggerEngine(log)
	}
	return localengine.New(log), nil
}
