package config_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/anycompany/strangler/internal/config"
)

type sample struct {
	Listen  string        `mapstructure:"listen"`
	Timeout time.Duration `mapstructure:"timeout"`
	Token   config.Secret `mapstructure:"token"`
	Tags    []string      `mapstructure:"tags"`
	DB      struct {
		DSN   string `mapstructure:"dsn"`
		Conns int    `mapstructure:"conns"`
	} `mapstructure:"db"`
}

func defaults() *sample {
	s := &sample{Listen: "127.0.0.1:1", Timeout: time.Second, Token: "t0", Tags: []string{"a"}}
	s.DB.DSN, s.DB.Conns = "dsn0", 4
	return s
}

func (s *sample) Validate() error {
	ck := config.NewChecker("sample")
	ck.Check(s.DB.Conns > 0, "db.conns", s.DB.Conns, "a positive number")
	ck.Check(s.Timeout > 0, "timeout", s.Timeout, "a positive duration")
	return ck.Err()
}

// RetiredKeys: db.pool was replaced by db.conns.
func (s *sample) RetiredKeys() map[string]string {
	return map[string]string{"db.pool": "nothing: set db.conns instead"}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sample.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, "listen: 127.0.0.1:2\ndb:\n  dsn: from-file\n  conns: 8\ntimeout: 5s\n")
	t.Setenv("STRANGLER_SAMPLE_DB_DSN", "from-env")
	t.Setenv("STRANGLER_SAMPLE_TAGS", "x,y")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("listen", "", "")
	fs.Int("conns", 0, "")
	if err := fs.Parse([]string{"--listen", "127.0.0.1:3"}); err != nil {
		t.Fatal(err)
	}
	got := defaults()
	err := config.Load(config.Source{Part: "sample", File: file, Flags: map[string]*pflag.Flag{
		"listen": fs.Lookup("listen"), "db.conns": fs.Lookup("conns"),
	}}, got)
	if err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.Listen = "127.0.0.1:3"    // flag beats file
	want.DB.DSN = "from-env"       // env beats file
	want.DB.Conns = 8              // an unset flag does not beat the file
	want.Timeout = 5 * time.Second // file beats default
	want.Tags = []string{"x", "y"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loaded config (-want +got):\n%s", diff)
	}
}

func TestLoadRefusesBadInput(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		env     map[string]string
		wantKey string
	}{
		{"unknown key", "listen: x\nlisenn: y\n", nil, "lisenn"},
		{"unknown nested key", "db:\n  dns: x\n", nil, "db.dns"},
		{"validation", "db:\n  conns: 0\n", nil, "db.conns"},
		{"env validation", "", map[string]string{"STRANGLER_SAMPLE_TIMEOUT": "-1s"}, "timeout"},
		{"bad type", "db:\n  conns: many\n", nil, ""},
		{"bad yaml", "db: [\n", nil, "--config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			err := config.Load(config.Source{Part: "sample", File: writeFile(t, tc.file)}, defaults())
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *config.Error", err)
			}
			if ce.Key != tc.wantKey {
				t.Errorf("error names key %q, want %q (%v)", ce.Key, tc.wantKey, err)
			}
			if !config.IsConfigError(fmt.Errorf("wrapped: %w", err)) {
				t.Error("IsConfigError is false for a wrapped config error")
			}
		})
	}
}

// TestRetiredKeyRefused: a retired key is refused wherever it is set (file,
// environment, a bound flag), naming the key, where it is set and what to
// do instead; unset, it is no error.
func TestRetiredKeyRefused(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Int("pool", 0, "")
	if err := fs.Parse([]string{"--pool", "3"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, file string
		env        map[string]string
		flags      map[string]*pflag.Flag
		where      string
	}{
		{name: "file", file: "db:\n  pool: 3\n", where: "sample.yaml sets it"},
		{name: "env", env: map[string]string{"STRANGLER_SAMPLE_DB_POOL": "3"}, where: "STRANGLER_SAMPLE_DB_POOL sets it"},
		{name: "flag", flags: map[string]*pflag.Flag{"db.pool": fs.Lookup("pool")}, where: "--pool sets it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			err := config.Load(config.Source{Part: "sample", File: writeFile(t, tc.file), Flags: tc.flags}, defaults())
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Key != "db.pool" {
				t.Fatalf("err = %v, want a *config.Error naming db.pool", err)
			}
			for _, want := range []string{"removed", tc.where, "set db.conns instead"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
		})
	}
	if err := config.Load(config.Source{Part: "sample", File: writeFile(t, "db:\n  conns: 2\n")}, defaults()); err != nil {
		t.Errorf("a file without the retired key: %v", err)
	}
}

func TestExplicitMissingFileIsAnError(t *testing.T) {
	err := config.Load(config.Source{Part: "sample", File: filepath.Join(t.TempDir(), "nope.yaml")}, defaults())
	if !config.IsConfigError(err) {
		t.Fatalf("err = %v, want a config error", err)
	}
}

func TestErrorNamesKeyValueAndAllowed(t *testing.T) {
	ck := config.NewChecker("legacy")
	ck.Check(false, "listen", "nowhere", "host:port")
	msg := ck.Err().Error()
	for _, want := range []string{"legacy", `"listen"`, `"nowhere"`, "host:port"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %s", msg, want)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := config.Secret("hunter22")
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "s", s, "cfg", struct{ S config.Secret }{s})
	out := b.String() + fmt.Sprint(s) + fmt.Sprintf("%v %+v %#v %s", s, s, s, s)
	if strings.Contains(out, "hunter22") {
		t.Errorf("secret leaked: %s", out)
	}
	if s.Reveal() != "hunter22" {
		t.Error("Reveal lost the value")
	}
}
