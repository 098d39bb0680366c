package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// Config is the content of agents.yaml.
type Config struct {
	Agents []AgentSpec `yaml:"agents"`
}

// AgentSpec describes one agent. Model and Instructions are carried for the
// shape of a real agent; this example echoes and never calls a model.
type AgentSpec struct {
	Name         string `yaml:"name"`
	Model        string `yaml:"model"`
	Instructions string `yaml:"instructions"`
}

// LoadConfig reads and validates the YAML file at path. A missing file
// yields an error wrapping os.ErrNotExist, which callers may tolerate.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes agents.yaml. Unknown keys are rejected so that a typo
// ("modle:") fails at start instead of being silently ignored.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // EOF: empty file
		return Config{}, err
	}
	seen := make(map[string]bool, len(cfg.Agents))
	for i, a := range cfg.Agents {
		if a.Name == "" {
			return Config{}, fmt.Errorf("agents[%d]: name is required", i)
		}
		if seen[a.Name] {
			return Config{}, fmt.Errorf("agents[%d]: duplicate name %q", i, a.Name)
		}
		seen[a.Name] = true
	}
	return cfg, nil
}

// Names lists the agents' names in file order.
func (c Config) Names() []string {
	names := make([]string, len(c.Agents))
	for i, a := range c.Agents {
		names[i] = a.Name
	}
	return names
}

// Lookup finds an agent by name; the empty name means the first agent.
func (c Config) Lookup(name string) (AgentSpec, bool) {
	if len(c.Agents) == 0 {
		return AgentSpec{}, false
	}
	if name == "" {
		return c.Agents[0], true
	}
	for _, a := range c.Agents {
		if a.Name == name {
			return a, true
		}
	}
	return AgentSpec{}, false
}
