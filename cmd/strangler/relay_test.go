package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/orders/relay"
)

// relayCLI runs `strangler orders relay args…` and returns its error and
// stderr. It hooks the relay under the orders command when that command
// does not carry it (yet).
func relayCLI(t *testing.T, args ...string) error {
	t.Helper()
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut}
	root := newRootCmd(a)
	var orders *cobra.Command
	for _, c := range root.Commands() {
		if c.Name() == "orders" {
			orders = c
		}
	}
	if orders == nil {
		orders = &cobra.Command{Use: "orders"}
		root.AddCommand(orders)
	}
	found := false
	for _, c := range orders.Commands() {
		found = found || c.Name() == "relay"
	}
	if !found {
		orders.AddCommand(newOrdersRelayCmd(a))
	}
	root.SetArgs(append([]string{"orders", "relay"}, args...))
	root.SetOut(&out)
	root.SetErr(&errOut)
	return root.ExecuteContext(context.Background())
}

func TestRelayBadConfigNamesTheKey(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		file string
		want []string
	}{
		{"page size", map[string]string{"STRANGLER_RELAY_POLL_PAGE_SIZE": "0"}, "", []string{`"poll.page_size"`, "1 to 1000"}},
		{"max shards above shards", map[string]string{"STRANGLER_RELAY_MAX_SHARDS": "9"}, "", []string{`"max_shards"`}},
		{"intervals", map[string]string{"STRANGLER_RELAY_POLL_MAX_INTERVAL": "10ms"}, "", []string{`"poll.max_interval"`, "poll.min_interval"}},
		{"lease ttl", map[string]string{"STRANGLER_RELAY_LEASE_TTL": "100ms"}, "", []string{`"lease.ttl"`, "at least 1s"}},
		{"bus url", map[string]string{"STRANGLER_RELAY_EVENTBRIDGE_URL": "ftp://bus"}, "", []string{`"eventbridge.url"`}},
		{"metrics listen", map[string]string{"STRANGLER_RELAY_METRICS_LISTEN": "nowhere"}, "", []string{`"metrics_listen"`}},
		{"unknown key", nil, "poll:\n  page_sise: 10\n", []string{`"poll.page_sise"`, "poll.page_size"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var args []string
			if tc.file != "" {
				p := filepath.Join(t.TempDir(), "relay.yaml")
				if err := os.WriteFile(p, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", p)
			}
			err := relayCLI(t, args...)
			if !config.IsConfigError(err) {
				t.Fatalf("err = %v, want a config error (exit 2)", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

// TestRelayShippedConfigIsTheDefault keeps configs/relay.yaml and
// relay.DefaultConfig saying the same.
func TestRelayShippedConfigIsTheDefault(t *testing.T) {
	cfg := relay.DefaultConfig()
	a := &app{configFile: "../../configs/relay.yaml"}
	if err := a.load(newOrdersRelayCmd(a), "relay", &cfg, nil); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(relay.DefaultConfig(), cfg); d != "" {
		t.Errorf("configs/relay.yaml differs from relay.DefaultConfig() (-default +file):\n%s", d)
	}
}
