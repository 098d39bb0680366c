package testenv

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proxy stands between a client and a Registry: it counts the requests it
// forwards by method and path (to see which blobs were uploaded), and can
// cut connections after a number of requests (to play a registry that dies
// in the middle of a push) or hold them (one that hangs). It speaks TLS with a certificate from the
// registry's CA when the registry does, so clients trust both alike.
type Proxy struct {
	// Addr is host:port to push to instead of the registry's.
	Addr string

	mu       sync.Mutex
	requests []string // "METHOD /path", in arrival order, forwarded or cut
	seen     int
	fault    fault
	from     int // requests numbered >= from get the fault (1-based); 0: none
	count    int // how many get it; < 0: all of them
	faulted  int
	stall    time.Duration
}

type fault int

const (
	none  fault = iota
	cut         // close the connection without an answer
	stall       // wait before forwarding (or until the client gives up)
)

// StartProxy proxies to r until the test ends.
func StartProxy(t testing.TB, r *Registry) *Proxy {
	t.Helper()
	target, err := url.Parse(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.CA != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: r.CA.Pool}
	}
	rp.Transport = tr
	// A client giving up on a cut request is the point, not news.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	// The registry writes Location headers from the Host it was asked for:
	// keeping the client's Host (the proxy) keeps uploads on the proxy.
	p := &Proxy{}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			switch f, d := p.admit(req); f {
			case cut:
				// Dropping the connection without an answer is what a
				// client sees from a registry that died: EOF or a reset.
				panic(http.ErrAbortHandler)
			case stall:
				select {
				case <-time.After(d):
				case <-req.Context().Done():
					return
				}
			}
			rp.ServeHTTP(w, req)
		}),
		// HTTP/1.1 only: one request per connection exchange, like most
		// registries behind a load balancer, and aborts close the socket.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		// Aborted handlers and handshakes cut by tests are expected.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.Addr = l.Addr().String()
	if r.CA != nil {
		cert, _, _ := r.CA.ServerCert(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		l = tls.NewListener(l, srv.TLSConfig)
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Logf("proxy: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		tr.CloseIdleConnections()
	})
	return p
}

func (p *Proxy) admit(req *http.Request) (fault, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen++
	p.requests = append(p.requests, req.Method+" "+req.URL.Path)
	if p.from > 0 && p.seen >= p.from && (p.count < 0 || p.faulted < p.count) {
		p.faulted++
		return p.fault, p.stall
	}
	return none, 0
}

// CutAfter lets n more requests through, then cuts the connection of the
// next count requests; count < 0 cuts every later one (the registry died).
func (p *Proxy) CutAfter(n, count int) { p.set(cut, n, count, 0) }

// StallAfter lets n more requests through, then holds each of the next
// count requests for d before forwarding it (a registry that hangs), or
// until the client gives up.
func (p *Proxy) StallAfter(n, count int, d time.Duration) { p.set(stall, n, count, d) }

func (p *Proxy) set(f fault, n, count int, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.from, p.count, p.faulted, p.stall = f, p.seen+n+1, count, 0, d
}

// Heal stops the faults.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.from = 0
}

// Faulted is how many requests were cut or stalled since the last
// CutAfter or StallAfter.
func (p *Proxy) Faulted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faulted
}

// Reset forgets the requests counted so far (cutting stays as set).
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = nil
}

// Requests are "METHOD /path" for every request received since Reset.
func (p *Proxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// Count is how many requests had this method and a path starting with
// prefix.
func (p *Proxy) Count(method, prefix string) int {
	n := 0
	for _, r := range p.Requests() {
		m, path, _ := strings.Cut(r, " ")
		if m == method && strings.HasPrefix(path, prefix) {
			n++
		}
	}
	return n
}

// BlobUploads is how many blob uploads were started in repository repo
// (the path part, e.g. "agent"): each upload begins with
// POST /v2/<repo>/blobs/uploads/.
func (p *Proxy) BlobUploads(repo string) int {
	return p.Count(http.MethodPost, "/v2/"+repo+"/blobs/uploads/")
}
