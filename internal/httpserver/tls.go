package httpserver

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/anycompany/strangler/internal/config"
)

// TLS is a listener's optional TLS: a PEM certificate file (the chain,
// leaf first) and its PEM private key file. The zero value serves plain
// HTTP; it may be copied.
type TLS struct {
	// CertFile is the certificate chain. Optional: with KeyFile.
	CertFile string `mapstructure:"cert_file"`
	// KeyFile is the certificate's private key. Optional: with CertFile.
	KeyFile string `mapstructure:"key_file"`
}

// Enabled reports whether t serves TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Check records under key (e.g. "tls") a half-set pair or files that do
// not load as a certificate and its key.
func (t TLS) Check(ck *config.Checker, key string) {
	if !t.Enabled() {
		return
	}
	if t.CertFile == "" || t.KeyFile == "" {
		ck.Check(false, key, t.CertFile+" "+t.KeyFile, "both cert_file and key_file, or neither")
		return
	}
	_, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	ck.Add(key+".cert_file", t.CertFile, err, "PEM files of a certificate (cert_file) and its private key (key_file)")
}

// Wrap returns ln serving TLS with t's certificate (TLS 1.2 or later), or
// ln itself when t is not enabled.
func (t TLS) Wrap(ln net.Listener) (net.Listener, error) {
	if !t.Enabled() {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the TLS certificate %s: %w", t.CertFile, err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// Listener is where a part serves: an address and its optional TLS.
type Listener struct {
	Addr string
	TLS  TLS
}
