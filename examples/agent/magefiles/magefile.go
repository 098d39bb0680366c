//go:build mage

// Targets for this agent come from agentship: `mage -l` lists them.
package main

import (
	// mage:import
	"github.com/aixgo-dev/agentship/pipeline/targets"
)

func init() {
	// A scratch image has no curl: the binary probes itself.
	targets.Agent.HealthCheck = []string{"/agent", "--health-check"}
}
