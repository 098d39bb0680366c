package daggerengine_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"dagger.io/dagger"

	"github.com/aixgo-dev/agentship/pipeline"
	"github.com/aixgo-dev/agentship/pipeline/daggerengine"
)

// The building blocks in a Dagger pipeline of one's own: test in the
// Builder's container (same caches, same source), then publish the
// Production image for every platform as one index. Run it with
// `dagger run go run ./ci` or anywhere Docker runs.
func Example() {
	ctx := context.Background()
	client, err := dagger.Connect(ctx, dagger.WithLogOutput(os.Stderr))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	resolved, err := pipeline.Resolve(pipeline.Agent{
		Dir:         ".",
		Repository:  "ghcr.io/acme/support-agent",
		HealthCheck: []string{"/agent", "--health-check"},
	})
	if err != nil {
		log.Fatal(err)
	}
	plan, err := pipeline.MakePlan(resolved)
	if err != nil {
		log.Fatal(err)
	}

	bins, err := daggerengine.Builder(client, plan, daggerengine.BuilderOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := bins.Source.WithExec([]string{"go", "test", "./..."}).Sync(ctx); err != nil {
		log.Fatal(err)
	}

	prod, err := daggerengine.Production(client, plan, bins)
	if err != nil {
		log.Fatal(err)
	}
	// REGISTRY_USERNAME and REGISTRY_PASSWORD (or GITHUB_TOKEN for ghcr.io)
	// are read on the host as env:// secrets: the password is in no query.
	refs, err := daggerengine.Publish(ctx, client, plan.Push, prod, daggerengine.PublishOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, ref := range refs {
		fmt.Println(ref)
	}
}

// The engine, as the Mage targets use it: the plan's steps, exported to
// dist/ exactly where the local engine writes them.
func ExampleNew() {
	ctx := context.Background()
	resolved, err := pipeline.Resolve(pipeline.Agent{Dir: "."})
	if err != nil {
		log.Fatal(err)
	}
	plan, err := pipeline.MakePlan(resolved)
	if err != nil {
		log.Fatal(err)
	}
	engine := daggerengine.New(pipeline.DefaultLogger())
	res, err := engine.Run(ctx, plan, pipeline.StepBinaries, pipeline.StepProduction, pipeline.StepLambdaZip)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(res.Summary())
}

// Code written against the dagger.io/dagger/dag package passes Dag where a
// client is asked for.
func ExampleLambda() {
	ctx := context.Background()
	resolved, err := pipeline.Resolve(pipeline.Agent{Dir: ".", LambdaArch: "arm64"})
	if err != nil {
		log.Fatal(err)
	}
	plan, err := pipeline.MakePlan(resolved)
	if err != nil {
		log.Fatal(err)
	}
	bins, err := daggerengine.Builder(daggerengine.Dag, plan, daggerengine.BuilderOptions{})
	if err != nil {
		log.Fatal(err)
	}
	lambda, err := daggerengine.Lambda(daggerengine.Dag, plan, bins)
	if err != nil {
		log.Fatal(err)
	}
	zip, err := daggerengine.LambdaZip(ctx, plan, lambda.Bootstrap, "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(zip.Path, zip.Digest)
}
