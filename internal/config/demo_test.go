package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/anycompany/strangler/internal/config"
)

type demoKey struct {
	Key config.Secret `mapstructure:"key"`
}

type demoPart struct {
	DSN           config.Secret `mapstructure:"dsn"`
	Listen        string        `mapstructure:"listen"`
	MetricsListen string        `mapstructure:"metrics_listen"`
	Keys          []demoKey     `mapstructure:"keys"`
	Admin         struct {
		Token config.Secret `mapstructure:"token"`
	} `mapstructure:"admin"`
}

func (*demoPart) Validate() error { return nil }

// TestDemoCredentialRefusedOutsideTheLocalStack: a known demo credential is
// refused, naming its key (never its value), when a listener is not on
// loopback or STRANGLER_DEV=0; accepted on loopback or with STRANGLER_DEV=1.
func TestDemoCredentialRefusedOutsideTheLocalStack(t *testing.T) {
	cases := []struct {
		name, dev, listen, metrics string
		dsn                        string
		keys                       []string
		token                      string
		refused                    string // the key named, "" when accepted
	}{
		{"loopback", "", "127.0.0.1:8080", "", "", []string{"retail-demo-key"}, "dev-admin-token", ""},
		{"localhost and ::1", "", "localhost:8080", "[::1]:9100", "", []string{"retail-demo-key"}, "", ""},
		{"public listener", "", "0.0.0.0:8080", "", "", []string{"mine-0123456789", "wholesale-demo-key"}, "", "keys[1].key"},
		{"public metrics listener", "", "127.0.0.1:8080", ":9100", "", nil, "dev-admin-token", "admin.token"},
		{"STRANGLER_DEV=0 on loopback", "0", "127.0.0.1:8080", "", "", nil, "local-admin-token-change-me", "admin.token"},
		{"STRANGLER_DEV=1 public", "1", "0.0.0.0:8080", "", "", []string{"retail-demo-key"}, "", ""},
		{"own secrets public", "", "0.0.0.0:8080", "", "", []string{"mine-0123456789"}, "also-mine-0123456789", ""},
		{"default DSN public", "", "0.0.0.0:8080", "", "strangler:strangler@tcp(db:3306)/shop", nil, "", "dsn"},
		{"default cdc DSN public", "", "0.0.0.0:8080", "", "cdc:cdc@tcp(db:3306)/shop", nil, "", "dsn"},
		{"default DSN loopback", "", "127.0.0.1:8080", "", "strangler:strangler@tcp(127.0.0.1:3307)/strangler", nil, "", ""},
		{"own DSN public", "", "0.0.0.0:8080", "", "app:s3cret-0123@tcp(db:3306)/shop", nil, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(config.DevEnv, tc.dev) // "" counts as unset
			p := &demoPart{DSN: config.Secret(tc.dsn), Listen: tc.listen, MetricsListen: tc.metrics}
			for _, k := range tc.keys {
				p.Keys = append(p.Keys, demoKey{Key: config.Secret(k)})
			}
			p.Admin.Token = config.Secret(tc.token)
			err := config.Load(config.Source{Part: "demo", File: writeFile(t, "{}\n")}, p)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Key != tc.refused {
				t.Fatalf("error %v, want one naming %s", err, tc.refused)
			}
			for _, k := range append(tc.keys, tc.token, tc.dsn) {
				if k != "" && strings.Contains(err.Error(), k) {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
		})
	}
}
