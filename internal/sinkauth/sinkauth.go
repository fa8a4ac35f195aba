// Package sinkauth authenticates calls to an event sink the way an
// EventBridge API destination makes them: its connection adds either an
// API-key header (ApiKeyName, ApiKeyValue) or HTTP basic auth (Username,
// Password) to every call. A sink checks the credential with Require; a
// caller (the local bus, a test) sends it with Apply.
package sinkauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"strings"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/problem"
)

// Connection is one credential, as an EventBridge connection holds it:
// either an API key (APIKeyName and APIKeyValue) or basic auth (Username
// and Password), never both. A value may instead be read from a file
// (the *_file keys), so YAML never needs to hold it. The zero value
// authenticates nothing: Require refuses every call with it. It may be
// copied.
type Connection struct {
	// APIKeyName is the header carrying the key, e.g. X-Api-Key. Optional:
	// with APIKeyValue.
	APIKeyName string `mapstructure:"api_key_name"`
	// APIKeyValue is the key. A secret: never logged. Optional: or
	// APIKeyValueFile.
	APIKeyValue config.Secret `mapstructure:"api_key_value"`
	// APIKeyValueFile is a file holding the key (trailing newlines are
	// dropped). Optional.
	APIKeyValueFile string `mapstructure:"api_key_value_file"`
	// Username is the basic-auth user. Optional: with Password.
	Username string `mapstructure:"username"`
	// Password is the basic-auth password. A secret: never logged.
	// Optional: or PasswordFile.
	Password config.Secret `mapstructure:"password"`
	// PasswordFile is a file holding the password. Optional.
	PasswordFile string `mapstructure:"password_file"`
}

// APIKey returns a Connection sending value in header name.
func APIKey(name, value string) Connection {
	return Connection{APIKeyName: name, APIKeyValue: config.Secret(value)}
}

// Basic returns a Connection sending basic auth.
func Basic(user, password string) Connection {
	return Connection{Username: user, Password: config.Secret(password)}
}

// IsZero reports whether c holds no credential at all.
func (c Connection) IsZero() bool { return c == Connection{} }

// Check reads the *_file values into c and records, under key, what is
// wrong: required says whether a credential must be set. It is meant for a
// part's Validate, which runs once at start.
func (c *Connection) Check(ck *config.Checker, key string, required bool) {
	readFile(ck, key+".api_key_value_file", c.APIKeyValueFile, &c.APIKeyValue)
	readFile(ck, key+".password_file", c.PasswordFile, &c.Password)
	apiKey := c.APIKeyName != "" || c.APIKeyValue != ""
	basic := c.Username != "" || c.Password != ""
	switch {
	case apiKey && basic:
		ck.Check(false, key, "api key and basic auth", "one of api_key_name+api_key_value or username+password, as an EventBridge connection")
	case apiKey:
		ck.Check(c.APIKeyName != "" && textproto.CanonicalMIMEHeaderKey(c.APIKeyName) != "Authorization" &&
			validHeader(c.APIKeyName), key+".api_key_name", c.APIKeyName, "a header name other than Authorization, e.g. X-Api-Key")
		ck.Check(len(c.APIKeyValue) >= 16, key+".api_key_value", c.APIKeyValue, "a key of 16 characters or more")
	case basic:
		ck.Check(c.Username != "" && !strings.Contains(c.Username, ":"), key+".username", c.Username, "a user name without ':'")
		ck.Check(len(c.Password) >= 16, key+".password", c.Password, "a password of 16 characters or more")
	default:
		ck.Check(!required, key, "none", "a credential: api_key_name+api_key_value(_file) or username+password(_file)")
	}
}

func readFile(ck *config.Checker, key, path string, into *config.Secret) {
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	ck.Add(key, path, err, "a readable file holding the secret")
	if err == nil {
		*into = config.Secret(strings.TrimRight(string(b), "\r\n"))
	}
}

func validHeader(name string) bool {
	for _, r := range name {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
			return false
		}
	}
	return len(name) <= 64
}

// Apply adds c's credential to h; a zero c adds nothing.
func (c Connection) Apply(h http.Header) {
	switch {
	case c.APIKeyName != "":
		h.Set(c.APIKeyName, c.APIKeyValue.Reveal())
	case c.Username != "":
		r := http.Request{Header: h}
		r.SetBasicAuth(c.Username, c.Password.Reveal())
	}
}

// Valid reports, in time independent of where the values differ, whether
// r carries c's credential. A zero c accepts nothing.
func (c Connection) Valid(r *http.Request) bool {
	switch {
	case c.APIKeyName != "":
		got, ok := r.Header[textproto.CanonicalMIMEHeaderKey(c.APIKeyName)]
		return ok && len(got) == 1 && equal(got[0], c.APIKeyValue.Reveal()) == 1
	case c.Username != "":
		user, pass, ok := r.BasicAuth()
		// Both compared, always: which one differs must not show in the time.
		u, p := equal(user, c.Username), equal(pass, c.Password.Reveal())
		return ok && u&p == 1
	}
	return false
}

// equal compares digests, so neither the contents nor the lengths of got
// and want show in the time taken.
func equal(got, want string) int {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:])
}

// Require serves next only for requests carrying c's credential; others
// get 401 problem+json naming what to send (never the value).
func (c Connection) Require(next http.Handler) http.Handler {
	what, challenge := "an API destination connection's credential", `Basic realm="strangler"`
	if c.APIKeyName != "" {
		what, challenge = "the API key in the "+c.APIKeyName+" header", `APIKey realm="strangler", header="`+c.APIKeyName+`"`
	} else if c.Username != "" {
		what = "basic auth"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.Valid(r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", challenge)
		problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized",
			fmt.Sprintf("%s %s needs %s (a missing or wrong credential)", r.Method, r.URL.Path, what)))
	})
}
