package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// runHealthCheck is the image's HEALTHCHECK: a scratch image has no curl,
// so the binary probes itself.
func runHealthCheck(url string, stdout, stderr io.Writer) int {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "unhealthy: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "unhealthy: %s answered %s\n", url, resp.Status)
		return 1
	}
	fmt.Fprintln(stdout, "healthy")
	return 0
}

// caBundles is where crypto/x509 looks for the system roots on Linux, in
// its order; SSL_CERT_FILE, when set, replaces the list as it does there.
var caBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Alpine, scratch images
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
	"/etc/ssl/ca-bundle.pem",                            // openSUSE
	"/etc/pki/tls/cacert.pem",                           // OpenELEC
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
	"/etc/ssl/cert.pem",                                 // Alpine Linux
}

// runSelftest reports what the image gave the binary, one fact per line:
//
//	certificates: 146 from /etc/ssl/certs/ca-certificates.crt
//	certificates: 0 absent (tried /etc/ssl/certs/ca-certificates.crt, ...)
//	zoneinfo: Europe/Paris ok
//	zoneinfo: absent (unknown time zone Europe/Paris)
//	config: /config/agents.yaml agents=2
//	config: absent (open /config/agents.yaml: no such file or directory)
//
// It exits 1 when no CA certificate is found, since TLS to a model API
// would then fail; zoneinfo and config are optional.
func runSelftest(stdout io.Writer, configPath string) int {
	fmt.Fprintf(stdout, "version: %s\n", Version)
	fmt.Fprintf(stdout, "commit: %s\n", GitCommit)
	fmt.Fprintf(stdout, "uid: %d\n", os.Getuid())
	fmt.Fprintf(stdout, "gid: %d\n", os.Getgid())

	// SystemCertPool is what TLS clients use; it has no count, so the
	// bundle is counted separately with the same acceptance rule.
	_, poolErr := x509.SystemCertPool()

	bundles := caBundles
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		bundles = []string{f}
	}
	n, path, err := countCertificates(bundles)
	switch {
	case err != nil:
		fmt.Fprintf(stdout, "certificates: 0 absent (%v)\n", err)
	case poolErr != nil:
		fmt.Fprintf(stdout, "certificates: %d from %s (system pool: %v)\n", n, path, poolErr)
	default:
		fmt.Fprintf(stdout, "certificates: %d from %s\n", n, path)
	}

	if _, err := time.LoadLocation("Europe/Paris"); err != nil {
		fmt.Fprintf(stdout, "zoneinfo: absent (%v)\n", err)
	} else {
		fmt.Fprintln(stdout, "zoneinfo: Europe/Paris ok")
	}

	if cfg, err := LoadConfig(configPath); err != nil {
		fmt.Fprintf(stdout, "config: absent (%v)\n", err)
	} else {
		fmt.Fprintf(stdout, "config: %s agents=%d\n", configPath, len(cfg.Agents))
	}

	if n == 0 || poolErr != nil {
		return 1
	}
	return 0
}

// countCertificates reads the first bundle that exists and counts the
// certificates that parse, as x509.CertPool.AppendCertsFromPEM does.
func countCertificates(bundles []string) (n int, path string, err error) {
	for _, p := range bundles {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, "", err
		}
		return countPEMCertificates(data), p, nil
	}
	return 0, "", fmt.Errorf("tried %s", strings.Join(bundles, ", "))
}

func countPEMCertificates(data []byte) int {
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return n
		}
		if block.Type != "CERTIFICATE" || len(block.Headers) != 0 {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err == nil {
			n++
		}
	}
}
