package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Environment variables for the transport.
const (
	// EnvInsecure lists host:port,… that may be reached over plain HTTP.
	EnvInsecure = "AGENTSHIP_INSECURE_REGISTRIES"
	// EnvCertFile names a PEM bundle of extra CAs to trust.
	EnvCertFile = "SSL_CERT_FILE"
)

// insecureRegistries parses AGENTSHIP_INSECURE_REGISTRIES: host:port
// entries separated by commas (or spaces), an http:// prefix tolerated.
func insecureRegistries(getenv func(string) string) map[string]bool {
	out := map[string]bool{}
	for _, f := range strings.FieldsFunc(getenv(EnvInsecure), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if h := normalizeRegistry(f); h != "" {
			out[h] = true
		}
	}
	return out
}

// rootCAs is the pool TLS verifies against: nil (Go's system roots) unless
// SSL_CERT_FILE names a bundle, whose certificates are then trusted in
// addition to the system roots. Reading it here, rather than leaving it to
// Go, makes it work when Getenv is not the process environment, and after
// Go has cached the system pool. (Go on Linux also honours SSL_CERT_FILE
// from the process environment, where it replaces the system bundle.)
func rootCAs(getenv func(string) string) (*x509.CertPool, error) {
	file := getenv(EnvCertFile)
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s=%s cannot be read (%v): point it at a PEM file of CA certificates", EnvCertFile, file, errors.Unwrap(err))
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s=%s holds no PEM certificate: point it at a PEM file of CA certificates", EnvCertFile, file)
	}
	return pool, nil
}

// newHTTPTransport is go-containerregistry's default transport with our
// roots, and a bound on how long a registry may sit on a request before
// answering (the body upload is not counted), so a hung registry becomes
// a retried timeout rather than a hung push.
func newHTTPTransport(roots *x509.CertPool, responseTimeout time.Duration) *http.Transport {
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	tr.ResponseHeaderTimeout = responseTimeout
	return tr
}

// observer sits under go-containerregistry's retry and auth transports,
// so it sees every attempt: it refuses plain HTTP to registries not listed
// as insecure (go-containerregistry would otherwise fall back to HTTP for
// 127.0.0.1 and private addresses on its own), notes whether the registry
// ever answered and whether anything was written, and records which blobs were uploaded and which were
// already there.
type observer struct {
	ctx      context.Context // the push's
	inner    http.RoundTripper
	insecure map[string]bool
	answered atomic.Bool
	// wrote is set once anything was sent that changes the registry.
	wrote atomic.Bool

	mu       sync.Mutex
	uploaded map[string]bool
	existing map[string]bool
	onUpload func(digest string)
}

// plainHTTPError is the refusal of an http:// request.
type plainHTTPError struct{ host string }

func (e *plainHTTPError) Error() string {
	return fmt.Sprintf("plain HTTP to %s is not allowed (%s does not list it)", e.host, EnvInsecure)
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !o.insecure[normalizeRegistry(req.URL.Host)] {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &plainHTTPError{host: req.URL.Host}
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		o.wrote.Store(true)
	}
	resp, err := o.inner.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	o.answered.Store(true)
	path := req.URL.Path
	switch {
	case req.Method == http.MethodPut && strings.Contains(path, "/blobs/uploads/") && resp.StatusCode == http.StatusCreated:
		if d := req.URL.Query().Get("digest"); d != "" {
			o.record(o.uploaded, d, o.onUpload)
		}
	case req.Method == http.MethodHead && strings.Contains(path, "/blobs/") && resp.StatusCode == http.StatusOK:
		o.record(o.existing, path[strings.LastIndexByte(path, '/')+1:], nil)
	}
	return resp, nil
}

func (o *observer) record(set map[string]bool, digest string, then func(string)) {
	o.mu.Lock()
	first := !set[digest]
	set[digest] = true
	o.mu.Unlock()
	if first && then != nil {
		then(digest)
	}
}

func (o *observer) counts() (uploaded, existing []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for d := range o.uploaded {
		uploaded = append(uploaded, d)
	}
	for d := range o.existing {
		if !o.uploaded[d] {
			existing = append(existing, d)
		}
	}
	return uploaded, existing
}

// transient says whether a failed request is worth another try: 5xx, 408
// and 429 answers, timeouts, and connections that broke (EOF, reset, broken
// pipe). A refused connection counts only once the registry has answered
// during this push (it is restarting); a registry that was never reachable
// fails at once rather than after every backoff. The caller's cancellation,
// TLS, auth and plain-HTTP refusals are final.
func (o *observer) transient(err error) bool {
	if err == nil {
		return false
	}
	// The caller gave up. (A request's own timeout also matches
	// context.DeadlineExceeded, and that one is worth retrying.)
	if o.ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.Temporary() || terr.StatusCode >= 500
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, net.ErrClosed) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return o.answered.Load()
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	// go-containerregistry's own errors (and some net ones) say so.
	if t, ok := err.(interface{ Temporary() bool }); ok && t.Temporary() {
		return true
	}
	return false
}
