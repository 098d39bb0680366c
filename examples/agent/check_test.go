package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func selfSignedPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Unix(0, 0),
		NotAfter:              time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestCountPEMCertificates(t *testing.T) {
	var b bytes.Buffer
	b.Write(selfSignedPEM(t, "one"))
	b.WriteString("# a comment between certificates\n")
	b.Write(selfSignedPEM(t, "two"))
	b.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")}))
	b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}))
	if n := countPEMCertificates(b.Bytes()); n != 2 {
		t.Fatalf("count = %d, want 2", n)
	}
}

func TestCountCertificatesFirstBundleWins(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.crt")
	bundle := filepath.Join(dir, "bundle.crt")
	if err := os.WriteFile(bundle, selfSignedPEM(t, "one"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, path, err := countCertificates([]string{missing, bundle})
	if err != nil || n != 1 || path != bundle {
		t.Fatalf("= %d, %q, %v; want 1, %q, nil", n, path, err, bundle)
	}
	_, _, err = countCertificates([]string{missing})
	if err == nil || !strings.Contains(err.Error(), "tried "+missing) {
		t.Fatalf("err = %v, want it to name the paths tried", err)
	}
}

func TestSelftestWithCertificates(t *testing.T) {
	bundle := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(bundle, append(selfSignedPEM(t, "one"), selfSignedPEM(t, "two")...), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", bundle)
	var out bytes.Buffer
	code := runSelftest(&out, filepath.Join("config", "agents.yaml"))
	if code != 0 {
		t.Fatalf("code = %d, want 0; output:\n%s", code, out.String())
	}
	for _, line := range []string{
		"certificates: 2 from " + bundle + "\n",
		"config: config/agents.yaml agents=2\n",
		"version: dev\n",
		"commit: unknown\n",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
	if !regexp.MustCompile(`(?m)^zoneinfo: (Europe/Paris ok|absent \(.+\))$`).MatchString(out.String()) {
		t.Errorf("no zoneinfo line:\n%s", out.String())
	}
}

func TestSelftestWithoutCertificates(t *testing.T) {
	t.Setenv("SSL_CERT_FILE", filepath.Join(t.TempDir(), "none.crt"))
	var out bytes.Buffer
	if code := runSelftest(&out, filepath.Join(t.TempDir(), "agents.yaml")); code != 1 {
		t.Fatalf("code = %d, want 1; output:\n%s", code, out.String())
	}
	for _, re := range []string{`(?m)^certificates: 0 absent \(tried .+none\.crt\)$`, `(?m)^config: absent \(.+\)$`} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("output does not match %s:\n%s", re, out.String())
		}
	}
}

func TestRunVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--version"}, &out, &out); code != 0 {
		t.Fatalf("code = %d", code)
	}
	if out.String() != "version: dev\ncommit: unknown\n" {
		t.Fatalf("output = %q", out.String())
	}
}

func TestRunBadFlag(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--nope"}, &out, &out); code != 2 {
		t.Fatalf("code = %d, want 2", code)
	}
}
