package httpserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/httpserver"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir and
// returns the TLS setting and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (httpserver.TLS, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "strangler test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := httpserver.TLS{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return c, pool
}

// TestServeTLS: a listener with a certificate and key serves HTTPS to a
// client that trusts the certificate, and refuses plain HTTP.
func TestServeTLS(t *testing.T) {
	cfg, pool := selfSigned(t, t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // Serve listens itself; the port was free a moment ago
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			t.Error("a request arrived without TLS")
		}
		_, _ = io.WriteString(w, "ok")
	})
	go func() {
		done <- httpserver.Serve(ctx, httpserver.Listener{Addr: addr, TLS: cfg}, h, time.Second, slog.New(slog.DiscardHandler))
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var resp *http.Response
	for range 200 { // until the listener is up
		if resp, err = client.Get("https://" + addr + "/"); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Serve ended: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatalf("https: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" || resp.TLS == nil {
		t.Errorf("https answer %q, tls %v", body, resp.TLS != nil)
	}
	if resp, err := http.Get("http://" + addr + "/"); err == nil {
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain http answered %d, want refused (400 or a closed connection)", resp.StatusCode)
		}
		resp.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestTLSCheck(t *testing.T) {
	dir := t.TempDir()
	good, _ := selfSigned(t, dir)
	other := filepath.Join(dir, "other.pem")
	if err := os.WriteFile(other, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tls  httpserver.TLS
		key  string // "" when valid
	}{
		{"off", httpserver.TLS{}, ""},
		{"good", good, ""},
		{"cert only", httpserver.TLS{CertFile: good.CertFile}, `"tls"`},
		{"key only", httpserver.TLS{KeyFile: good.KeyFile}, `"tls"`},
		{"bad key", httpserver.TLS{CertFile: good.CertFile, KeyFile: other}, `"tls.cert_file"`},
		{"missing cert", httpserver.TLS{CertFile: filepath.Join(dir, "nope"), KeyFile: good.KeyFile}, `"tls.cert_file"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ck := config.NewChecker("p")
			tc.tls.Check(ck, "tls")
			err := ck.Err()
			if tc.key == "" && err != nil || tc.key != "" && (err == nil || !strings.Contains(err.Error(), tc.key)) {
				t.Errorf("error %v, want one naming %s", err, tc.key)
			}
		})
	}
}
