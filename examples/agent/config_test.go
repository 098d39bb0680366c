package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadConfigShipped(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("config", "agents.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Names(), []string{"assistant", "summarizer"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("names = %q, want %q", got, want)
	}
	for _, a := range cfg.Agents {
		if a.Model == "" || a.Instructions == "" {
			t.Errorf("agent %q: model and instructions should be set: %+v", a.Name, a)
		}
	}
}

func TestLoadConfigMissing(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "agents.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want one wrapping os.ErrNotExist", err)
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		agents  []string
		wantErr string
	}{
		{name: "empty file", yaml: "", agents: []string{}},
		{name: "no agents", yaml: "agents: []\n", agents: []string{}},
		{name: "one", yaml: "agents:\n  - name: a\n    model: m\n", agents: []string{"a"}},
		{name: "missing name", yaml: "agents:\n  - model: m\n", wantErr: "agents[0]: name is required"},
		{name: "duplicate", yaml: "agents:\n  - name: a\n  - name: a\n", wantErr: `agents[1]: duplicate name "a"`},
		{name: "unknown key", yaml: "agents:\n  - name: a\n    modle: m\n", wantErr: "field modle not found"},
		{name: "not yaml", yaml: "agents: [", wantErr: "yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Names(); !reflect.DeepEqual(got, tt.agents) {
				t.Fatalf("names = %q, want %q", got, tt.agents)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	cfg := Config{Agents: []AgentSpec{{Name: "a"}, {Name: "b"}}}
	if a, ok := cfg.Lookup(""); !ok || a.Name != "a" {
		t.Errorf(`Lookup("") = %v, %v; want the first agent`, a, ok)
	}
	if a, ok := cfg.Lookup("b"); !ok || a.Name != "b" {
		t.Errorf(`Lookup("b") = %v, %v`, a, ok)
	}
	if _, ok := cfg.Lookup("c"); ok {
		t.Error(`Lookup("c") found an agent`)
	}
	if _, ok := (Config{}).Lookup(""); ok {
		t.Error("empty config found an agent")
	}
}
