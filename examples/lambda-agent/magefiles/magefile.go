//go:build mage

// Targets for this Lambda agent come from agentship: 'mage -l' lists them.
package main

import (
	// mage:import
	"github.com/aixgo-dev/agentship/pipeline/targets"
)

func init() {
	// aws-lambda-go's own advice for the provided.al2023 runtime: drop the
	// net/rpc shim that only the retired go1.x runtime used.
	targets.Agent.BuildTags = []string{"lambda.norpc"}
}
