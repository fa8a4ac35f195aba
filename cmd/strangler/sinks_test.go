package main

import (
	"strings"
	"testing"

	"github.com/anycompany/strangler/devstack/downstream"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/sinkauth"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/syncback"
)

// TestShippedBusSendsEachSinkItsCredential: every target of the shipped
// configs/eventbus.yaml carries, as its connection, exactly the credential
// the consumer at that URL requires in its own shipped config, so the local
// stack's deliveries are accepted (and no target is left unauthenticated).
func TestShippedBusSendsEachSinkItsCredential(t *testing.T) {
	load := func(part string, cfg config.Validator) {
		t.Helper()
		if err := config.Load(config.Source{Part: part, File: "../../configs/" + part + ".yaml"}, cfg); err != nil {
			t.Fatal(err)
		}
	}
	sc, oc, dc, bc := syncback.DefaultConfig(), orders.DefaultConfig(), downstream.DefaultConfig(), eventbus.DefaultConfig()
	load("syncback", &sc)
	load("orders", &oc)
	load("downstream", &dc)
	load("eventbus", &bc)
	want := map[string]sinkauth.Connection{
		"http://" + sc.Listen + "/events":           sc.Auth,
		"http://" + oc.Processor.Listen + "/events": oc.Processor.Auth,
		"http://" + dc.Listen + "/events":           dc.EventsAuth,
	}
	seen := 0
	for _, r := range bc.Rules {
		for _, tg := range r.Targets {
			w, ok := want[tg.URL]
			if !ok {
				t.Errorf("rule %s target %s: %s is no shipped sink", r.Name, tg.Name, tg.URL)
				continue
			}
			seen++
			if w.IsZero() || tg.Connection != w {
				t.Errorf("rule %s target %s: its connection is not the credential %s requires", r.Name, tg.Name, tg.URL)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("%d targets checked, want one per sink (%d)", seen, len(want))
	}
}

// TestShippedDemoCredentialsRefusedOutsideTheLocalStack: each part whose
// shipped config holds a credential refuses to start with it outside the
// local stack (STRANGLER_DEV=0, or a listener off loopback), naming the
// key; in the local stack (loopback listeners) the same file loads.
func TestShippedDemoCredentialsRefusedOutsideTheLocalStack(t *testing.T) {
	cases := []struct {
		part, key string
		args      []string
	}{
		{"legacy", "mysql.dsn", []string{"legacy", "serve"}},
		{"orders", "api_keys[0].key", []string{"orders", "serve"}},
		{"syncback", "auth.api_key_value", []string{"syncback", "serve"}},
		{"downstream", "admin_token", []string{"dev", "downstream"}},
		{"eventbus", "admin_token", []string{"dev", "eventbus"}},
		{"loadgen", "retail_key", []string{"loadgen"}},
		{"proxy", "admin.token", []string{"proxy", "serve"}},
	}
	for _, tc := range cases {
		t.Run(tc.part, func(t *testing.T) {
			file := "../../configs/" + tc.part + ".yaml"
			cfg, _ := defaultsFor(tc.part)
			t.Setenv(config.DevEnv, "")
			if err := config.Load(config.Source{Part: tc.part, File: file}, cfg); err != nil {
				t.Fatalf("in the local stack: %v", err)
			}
			t.Setenv(config.DevEnv, "0")
			code, _, stderr := runCLI(t, append(tc.args, "--config", file)...)
			if code != exitConfig || !strings.Contains(stderr, `"`+tc.key+`"`) || !strings.Contains(stderr, "demo credential") {
				t.Errorf("with STRANGLER_DEV=0: exit %d, want %d naming %s; stderr:\n%s", code, exitConfig, tc.key, stderr)
			}
		})
	}
	t.Run("public listener", func(t *testing.T) {
		t.Setenv(config.DevEnv, "")
		t.Setenv("STRANGLER_SYNCBACK_LISTEN", "0.0.0.0:0")
		code, _, stderr := runCLI(t, "syncback", "serve", "--config", "../../configs/syncback.yaml")
		if code != exitConfig || !strings.Contains(stderr, `"auth.api_key_value"`) || !strings.Contains(stderr, "0.0.0.0:0") {
			t.Errorf("exit %d, want %d naming auth.api_key_value and the listener; stderr:\n%s", code, exitConfig, stderr)
		}
		if strings.Contains(stderr, "dev-syncback-sink-key") {
			t.Errorf("the refusal shows the secret:\n%s", stderr)
		}
	})
}
