package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// maxBodyBytes bounds a chat request; an agent behind a public load
// balancer must not buffer arbitrary bodies.
const maxBodyBytes = 1 << 20

// shutdownGrace is how long in-flight requests get after SIGTERM. It stays
// under the 30s that Kubernetes and ECS wait before SIGKILL.
const shutdownGrace = 10 * time.Second

type server struct {
	log     *slog.Logger
	cfg     Config
	version string
	commit  string
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("POST /v1/chat", s.chat)
	return mux
}

type healthResponse struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Agents  int    `json:"agents"`
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthResponse{
		Status:  "ok",
		Version: s.version,
		Commit:  s.commit,
		Agents:  len(s.cfg.Agents),
	})
}

// ChatRequest is the body of POST /v1/chat. Agent is optional and defaults
// to the first configured agent.
type ChatRequest struct {
	Agent   string `json:"agent,omitempty"`
	Message string `json:"message"`
}

// ChatResponse echoes the message as answered by the named agent.
type ChatResponse struct {
	Agent   string `json:"agent"`
	Model   string `json:"model,omitempty"`
	Message string `json:"message"`
}

type errorResponse struct {
	Error string `json:"error"`
}

func (s *server) chat(w http.ResponseWriter, r *http.Request) {
	var req ChatRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorResponse{"request body too large"})
			return
		}
		writeJSON(w, http.StatusBadRequest, errorResponse{"invalid JSON: " + err.Error()})
		return
	}
	if req.Message == "" {
		writeJSON(w, http.StatusBadRequest, errorResponse{"message is required"})
		return
	}
	if len(s.cfg.Agents) == 0 {
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{"no agents configured"})
		return
	}
	agent, ok := s.cfg.Lookup(req.Agent)
	if !ok {
		writeJSON(w, http.StatusNotFound, errorResponse{"unknown agent: " + req.Agent})
		return
	}
	s.log.Info("chat", "agent", agent.Name, "bytes", len(req.Message))
	writeJSON(w, http.StatusOK, ChatResponse{Agent: agent.Name, Model: agent.Model, Message: req.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serve runs h on ln until ctx is done, then drains in-flight requests for
// up to shutdownGrace. It returns nil after a clean shutdown.
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	reason := "context done"
	if cause := context.Cause(ctx); cause != nil {
		reason = cause.Error()
	}
	log.Info("shutting down", "reason", reason, "grace", shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
