package sinkauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/sinkauth"
)

func TestRequire(t *testing.T) {
	key := sinkauth.APIKey("X-Api-Key", "key-0123456789abcdef")
	basic := sinkauth.Basic("bus", "pass-0123456789abcdef")
	cases := []struct {
		name string
		conn sinkauth.Connection
		send func(http.Header)
		want int
	}{
		{"api key", key, key.Apply, 200},
		{"basic", basic, basic.Apply, 200},
		{"api key missing", key, func(http.Header) {}, 401},
		{"api key wrong", key, sinkauth.APIKey("X-Api-Key", "key-0123456789abcdeF").Apply, 401},
		{"api key prefix", key, sinkauth.APIKey("X-Api-Key", "key-0123456789abcde").Apply, 401},
		{"api key twice", key, func(h http.Header) { h.Add("X-Api-Key", "x"); key.Apply(h); h.Add("X-Api-Key", "key-0123456789abcdef") }, 401},
		{"api key in another header", key, sinkauth.APIKey("X-Other", "key-0123456789abcdef").Apply, 401},
		{"basic missing", basic, func(http.Header) {}, 401},
		{"basic wrong password", basic, sinkauth.Basic("bus", "pass-0123456789abcdeX").Apply, 401},
		{"basic wrong user", basic, sinkauth.Basic("bux", "pass-0123456789abcdef").Apply, 401},
		{"basic sent as api key", basic, sinkauth.APIKey("Authorization", "pass-0123456789abcdef").Apply, 401},
		{"zero connection accepts nothing", sinkauth.Connection{}, key.Apply, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.conn.Require(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
			r := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader("{}"))
			tc.send(r.Header)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if tc.want != 401 {
				return
			}
			var p struct{ Status int }
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != 401 {
				t.Errorf("refusal is %q %s, want problem+json 401", ct, w.Body)
			}
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate challenge")
			}
			for _, secret := range []string{"key-0123456789abcdef", "pass-0123456789abcdef"} {
				if strings.Contains(w.Body.String(), secret) {
					t.Errorf("the refusal shows the secret: %s", w.Body)
				}
			}
		})
	}
}

func TestCheckReadsFilesAndNamesKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	if err := os.WriteFile(file, []byte("from-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := sinkauth.Connection{APIKeyName: "X-Api-Key", APIKeyValueFile: file}
	ck := config.NewChecker("p")
	c.Check(ck, "auth", true)
	if err := ck.Err(); err != nil || c.APIKeyValue.Reveal() != "from-file-0123456789" {
		t.Fatalf("file key: %v, value %q", err, c.APIKeyValue.Reveal())
	}
	for _, tc := range []struct {
		name     string
		conn     sinkauth.Connection
		required bool
		key      string
	}{
		{"none but required", sinkauth.Connection{}, true, `"auth"`},
		{"both kinds", sinkauth.Connection{APIKeyName: "X-K", APIKeyValue: "0123456789abcdef", Username: "u", Password: "0123456789abcdef"}, false, `"auth"`},
		{"short key", sinkauth.APIKey("X-K", "short"), false, `"auth.api_key_value"`},
		{"key without header", sinkauth.Connection{APIKeyValue: "0123456789abcdef"}, false, `"auth.api_key_name"`},
		{"Authorization header", sinkauth.APIKey("authorization", "0123456789abcdef"), false, `"auth.api_key_name"`},
		{"short password", sinkauth.Basic("u", "short"), false, `"auth.password"`},
		{"user with colon", sinkauth.Basic("u:v", "0123456789abcdef"), false, `"auth.username"`},
		{"missing file", sinkauth.Connection{Username: "u", PasswordFile: filepath.Join(dir, "nope")}, false, `"auth.password_file"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ck := config.NewChecker("p")
			tc.conn.Check(ck, "auth", tc.required)
			err := ck.Err()
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("error %v does not name %s", err, tc.key)
			}
			if strings.Contains(err.Error(), "0123456789abcdef") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
	ck = config.NewChecker("p")
	(&sinkauth.Connection{}).Check(ck, "auth", false)
	if err := ck.Err(); err != nil {
		t.Errorf("an optional empty connection: %v", err)
	}
}
