//go:build mage

// Targets for this agent come from agentship: `mage -l` lists them.
package main

import (
	"github.com/aixgo-dev/agentship/pipeline"
	// mage:import
	"github.com/aixgo-dev/agentship/pipeline/targets"
)

func init() {
	// A scratch image has no curl: the binary probes itself.
	targets.Agent.HealthCheck = []string{"/agent", "--health-check"}
	// The Debug image's shell is agentship's builtin toolbox, built from
	// source like the agent: no registry pull, so `mage build` works
	// offline. Remove this line for the default base, alpine:3.22.
	targets.Agent.DebugBase = pipeline.DebugToolbox
}
