package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func testServer(cfg Config) http.Handler {
	s := &server{
		log:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
		cfg:     cfg,
		version: "v1.2.3",
		commit:  "abc123",
	}
	return s.routes()
}

var twoAgents = Config{Agents: []AgentSpec{
	{Name: "assistant", Model: "gpt-4o-mini"},
	{Name: "summarizer", Model: "claude-3-5-haiku"},
}}

func do(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHealthz(t *testing.T) {
	rec := do(t, testServer(twoAgents), http.MethodGet, "/healthz", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var got healthResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := healthResponse{Status: "ok", Version: "v1.2.3", Commit: "abc123", Agents: 2}
	if got != want {
		t.Fatalf("body = %+v, want %+v", got, want)
	}
}

func TestHealthzWithoutConfig(t *testing.T) {
	rec := do(t, testServer(Config{}), http.MethodGet, "/healthz", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200: a missing config must not fail the health check", rec.Code)
	}
}

func TestHealthzMethod(t *testing.T) {
	rec := do(t, testServer(twoAgents), http.MethodPost, "/healthz", "")
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("status = %d, want 405", rec.Code)
	}
}

func TestChat(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		body   string
		status int
		want   ChatResponse
		errSub string
	}{
		{name: "default agent", cfg: twoAgents, body: `{"message":"hello"}`, status: 200,
			want: ChatResponse{Agent: "assistant", Model: "gpt-4o-mini", Message: "hello"}},
		{name: "named agent", cfg: twoAgents, body: `{"agent":"summarizer","message":"a long text"}`, status: 200,
			want: ChatResponse{Agent: "summarizer", Model: "claude-3-5-haiku", Message: "a long text"}},
		{name: "unknown agent", cfg: twoAgents, body: `{"agent":"nobody","message":"hi"}`, status: 404, errSub: "unknown agent: nobody"},
		{name: "empty message", cfg: twoAgents, body: `{"message":""}`, status: 400, errSub: "message is required"},
		{name: "bad json", cfg: twoAgents, body: `{"message":`, status: 400, errSub: "invalid JSON"},
		{name: "no agents", cfg: Config{}, body: `{"message":"hi"}`, status: 503, errSub: "no agents configured"},
		{name: "too large", cfg: twoAgents, body: `{"message":"` + strings.Repeat("x", maxBodyBytes) + `"}`, status: 413, errSub: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, testServer(tt.cfg), http.MethodPost, "/v1/chat", tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tt.errSub != "" {
				var e errorResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(e.Error, tt.errSub) {
					t.Fatalf("error = %q, want it to contain %q", e.Error, tt.errSub)
				}
				return
			}
			var got ChatResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("body = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestChatMethod(t *testing.T) {
	rec := do(t, testServer(twoAgents), http.MethodGet, "/v1/chat", "")
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("status = %d, want 405", rec.Code)
	}
}

// TestServeShutdown checks that serve answers requests and returns nil once
// its context is cancelled, as it is on SIGTERM.
func TestServeShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, testServer(twoAgents), logger) }()

	url := "http://" + ln.Addr().String() + "/healthz"
	if code := runHealthCheck(url, io.Discard, io.Discard); code != 0 {
		t.Fatalf("health check of a running server = %d, want 0", code)
	}

	cancel(context.Canceled)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve = %v, want nil after shutdown", err)
		}
	case <-time.After(shutdownGrace + 5*time.Second):
		t.Fatal("serve did not return after cancel")
	}
	for _, msg := range []string{`"msg":"listening"`, `"msg":"shutting down"`, `"msg":"stopped"`} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("logs lack %s:\n%s", msg, logs.String())
		}
	}
	if code := runHealthCheck(url, io.Discard, io.Discard); code != 1 {
		t.Fatalf("health check of a stopped server = %d, want 1", code)
	}
}

func TestHealthCheckNon200(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer ts.Close()
	var stderr bytes.Buffer
	if code := runHealthCheck(ts.URL+"/healthz", io.Discard, &stderr); code != 1 {
		t.Fatalf("code = %d, want 1", code)
	}
	if !strings.HasPrefix(stderr.String(), "unhealthy: ") {
		t.Errorf("stderr = %q", stderr.String())
	}
}
