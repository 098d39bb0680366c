package pipeline

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestNewLoggerJSON(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, envOf(map[string]string{"AGENTSHIP_LOG_FORMAT": "JSON"}))
	log.WithField("platform", "linux/amd64").Info("built")
	log.Debug("hidden at info level")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1:\n%s", len(lines), buf.String())
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatalf("not a JSON line: %v\n%s", err, lines[0])
	}
	if entry["msg"] != "built" || entry["level"] != "info" || entry["platform"] != "linux/amd64" {
		t.Errorf("entry = %v", entry)
	}
	if _, ok := entry["time"]; !ok {
		t.Errorf("entry has no time: %v", entry)
	}
}

func TestNewLoggerText(t *testing.T) {
	for _, format := range []string{"", "text", "yaml"} {
		var buf bytes.Buffer
		log := NewLogger(&buf, envOf(map[string]string{"AGENTSHIP_LOG_FORMAT": format}))
		log.WithField("platform", "linux/amd64").Info("built")
		out := buf.String()
		if json.Valid([]byte(strings.TrimSpace(out))) {
			t.Errorf("format %q: got JSON, want text: %s", format, out)
		}
		for _, want := range []string{"level=info", "msg=built", "platform=linux/amd64"} {
			if !strings.Contains(out, want) {
				t.Errorf("format %q: %q lacks %q", format, out, want)
			}
		}
	}
}

func TestNewLoggerVerbose(t *testing.T) {
	for env, want := range map[string]logrus.Level{"": logrus.InfoLevel, "0": logrus.InfoLevel, "false": logrus.InfoLevel, "1": logrus.DebugLevel, "true": logrus.DebugLevel} {
		log := NewLogger(&bytes.Buffer{}, envOf(map[string]string{"AGENTSHIP_VERBOSE": env}))
		if log.GetLevel() != want {
			t.Errorf("AGENTSHIP_VERBOSE=%q: level %v, want %v", env, log.GetLevel(), want)
		}
	}
}

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %v\n%s", err, line)
		}
		out = append(out, m)
	}
	return out
}

func TestProgressStartAndDone(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, envOf(map[string]string{"AGENTSHIP_LOG_FORMAT": "json"}))
	done := Progress(log, "build", logrus.Fields{"platform": "linux/arm64"}, time.Hour)
	d := done()
	if d < 0 {
		t.Errorf("took %v", d)
	}
	lines := jsonLines(t, buf.String())
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want start and done:\n%s", len(lines), buf.String())
	}
	if lines[0]["msg"] != "build …" || lines[0]["platform"] != "linux/arm64" {
		t.Errorf("start line = %v", lines[0])
	}
	if lines[1]["msg"] != "build done" || lines[1]["platform"] != "linux/arm64" {
		t.Errorf("done line = %v", lines[1])
	}
	if took, _ := lines[1]["took"].(string); took == "" {
		t.Errorf("done line has no took: %v", lines[1])
	} else if _, err := time.ParseDuration(took); err != nil {
		t.Errorf("took = %q: %v", took, err)
	}
}

func TestProgressTicks(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, envOf(map[string]string{"AGENTSHIP_LOG_FORMAT": "json"}))
	done := Progress(log, "cold build", nil, time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	done()
	// done waits for the ticker: the buffer is final once it returns.
	lines := jsonLines(t, buf.String())
	if len(lines) < 3 {
		t.Fatalf("got %d lines, want start, progress, done:\n%s", len(lines), buf.String())
	}
	for _, l := range lines[1 : len(lines)-1] {
		if l["msg"] != "cold build still running" || l["elapsed"] == nil {
			t.Errorf("progress line = %v", l)
		}
	}
	if last := lines[len(lines)-1]; last["msg"] != "cold build done" {
		t.Errorf("last line = %v, want done", last)
	}
}
