package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Error is a push failure as one line: what was pushed, what went wrong,
// and how to fix it. Unwrap gives the underlying cause for errors.Is, but
// print the Error, not the cause: only the Error is scrubbed of secrets.
type Error struct {
	msg   string
	cause error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.cause }

// failure is what went wrong and how to fix it ("" when there is no
// advice beyond the cause).
type failure struct {
	what, fix string
	// retried: the failure is one that tries were spent on (a registry
	// or network that broke), where the state of the push matters.
	retried bool
}

// explain turns a push error into what happened and how to fix it,
// speaking of the registry by host; tries is the bound on attempts per
// request, named for failures that were retried.
func explain(ctx context.Context, err error, host, repo string, tries int, answered bool) failure {
	s := err.Error()
	var (
		terr    *transport.Error
		plain   *plainHTTPError
		unknown x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invalid x509.CertificateInvalidError
		verify  *tls.CertificateVerificationError
		dnsErr  *net.DNSError
		nerr    net.Error
	)
	resume := "re-run the push to resume (blobs already uploaded are not sent again)"
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return failure{what: "cancelled"}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return failure{what: "timed out (the push's deadline passed)", fix: resume}
	case errors.As(err, &terr):
		// An answer from the registry says more than any other error
		// that go-containerregistry's HTTPS-then-HTTP ping joined to it.
		return explainStatus(terr, host, repo, tries)
	case strings.Contains(s, "server gave HTTP response to HTTPS client"):
		return failure{
			what: fmt.Sprintf("registry %s speaks plain HTTP, not HTTPS", host),
			fix:  fmt.Sprintf("if that is intended, allow it with %s=%s", EnvInsecure, host),
		}
	case errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid), errors.As(err, &verify),
		strings.Contains(s, "x509: "), strings.Contains(s, "tls: failed to verify"):
		return failure{
			what: fmt.Sprintf("the TLS certificate of registry %s is not trusted (%s)", host, tlsCause(err, s)),
			fix:  fmt.Sprintf("set %s to a PEM file holding the CA that signed it", EnvCertFile),
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		if answered {
			return failure{
				what:    fmt.Sprintf("registry %s stopped accepting connections (connection refused) after %d tries", host, tries),
				fix:     "check the registry, then " + resume,
				retried: true,
			}
		}
		return failure{
			what: fmt.Sprintf("registry %s is unreachable (connection refused)", host),
			fix:  "is it running, and is the address right?",
		}
	case errors.As(err, &dnsErr):
		return failure{
			what: fmt.Sprintf("registry %s is unreachable (cannot resolve %s)", host, dnsErr.Name),
			fix:  "check the registry name in the repository",
		}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, net.ErrClosed):
		return failure{
			what:    fmt.Sprintf("lost the connection to registry %s (%s) after %d tries", host, connCause(err), tries),
			fix:     "check the registry and the network, then " + resume,
			retried: true,
		}
	case errors.As(err, &nerr) && nerr.Timeout():
		return failure{
			what:    fmt.Sprintf("registry %s did not answer in time after %d tries", host, tries),
			fix:     "check the registry and the network, then " + resume,
			retried: true,
		}
	case errors.As(err, &plain):
		// Last: go-containerregistry tries HTTPS and (for 127.0.0.1 and
		// private addresses) plain HTTP, and the HTTPS error says more.
		return failure{
			what: fmt.Sprintf("registry %s is only reachable over plain HTTP", host),
			fix:  fmt.Sprintf("if that is intended, allow it with %s=%s", EnvInsecure, host),
		}
	case errors.As(err, &nerr):
		return failure{
			what: fmt.Sprintf("registry %s is unreachable (%s)", host, lastCause(s)),
			fix:  "check the address and the network",
		}
	}
	return failure{what: oneLine(s)}
}

func explainStatus(terr *transport.Error, host, repo string, tries int) failure {
	code := http.StatusText(terr.StatusCode)
	detail := ""
	if len(terr.Errors) > 0 {
		code = string(terr.Errors[0].Code)
		detail = terr.Errors[0].Message
	}
	status := fmt.Sprintf("%d %s", terr.StatusCode, code)
	switch {
	case terr.StatusCode == http.StatusUnauthorized || code == string(transport.UnauthorizedErrorCode):
		return failure{
			what: fmt.Sprintf("authentication failed (%s)", status),
			fix:  fmt.Sprintf("set %s/%s or docker login %s", EnvUsername, EnvPassword, host),
		}
	case terr.StatusCode == http.StatusForbidden || code == string(transport.DeniedErrorCode):
		if detail != "" {
			status += ": " + oneLine(detail)
		}
		return failure{
			what: fmt.Sprintf("access denied (%s)", status),
			fix:  fmt.Sprintf("the credentials for %s may not push to %s: check their permissions (a GITHUB_TOKEN needs packages: write)", host, repo),
		}
	case code == string(transport.NameUnknownErrorCode):
		return failure{
			what: fmt.Sprintf("repository unknown to registry %s (%s)", host, status),
			fix:  "create the repository first (some registries, like ECR, do not create it on push)",
		}
	case terr.StatusCode == http.StatusTooManyRequests:
		return failure{
			what:    fmt.Sprintf("registry %s is rate limiting (%s) after %d tries", host, status, tries),
			fix:     "wait, then re-run the push",
			retried: true,
		}
	case terr.StatusCode >= 500:
		return failure{
			what:    fmt.Sprintf("registry %s failed (%s) after %d tries", host, status, tries),
			fix:     "check the registry, then re-run the push to resume (blobs already uploaded are not sent again)",
			retried: true,
		}
	}
	what := fmt.Sprintf("registry %s refused the push (%s", host, status)
	if detail != "" {
		what += ": " + oneLine(detail)
	}
	return failure{what: what + ")"}
}

// tlsCause is the x509 reason without Go's prefixes.
func tlsCause(err error, s string) string {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return "certificate signed by unknown authority"
	}
	if i := strings.LastIndex(s, "x509: "); i >= 0 {
		return oneLine(strings.SplitN(s[i+len("x509: "):], ";", 2)[0])
	}
	return lastCause(s)
}

func connCause(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "EOF"
	}
	return "connection closed"
}

// lastCause is the innermost "a: b: cause" part of an error string.
func lastCause(s string) string {
	s = oneLine(s)
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// scrubber removes known secret values from text that is about to be
// logged or returned: passwords and tokens should never get into an error
// message in the first place, this makes sure.
type scrubber []string

// secretsOf lists what must never be printed: the values themselves, and
// the forms they travel in (HTTP Basic's base64 of user:password).
func secretsOf(user string, values ...string) scrubber {
	var out scrubber
	for _, v := range values {
		// Very short values would blank out ordinary words; nobody's
		// registry password is three characters.
		if len(v) < 4 {
			continue
		}
		out = append(out, v, base64.StdEncoding.EncodeToString([]byte(user+":"+v)))
	}
	// Longest first, so a secret containing another is removed whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func (s scrubber) clean(text string) string {
	for _, v := range s {
		text = strings.ReplaceAll(text, v, "***")
	}
	return text
}
