package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestBadConfigExitsTwoNamingTheKey(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"bad listen from env", map[string]string{"STRANGLER_LEGACY_LISTEN": "nowhere"},
			[]string{"legacy", "serve"}, []string{`"listen"`, `"nowhere"`, "host:port"}},
		{"bad channel", map[string]string{"STRANGLER_LEGACY_API_KEYS": "abcdefgh123=resale"},
			[]string{"legacy", "serve"}, []string{`"api_keys[0].channel"`, `"resale"`, "retail or wholesale"}},
		{"bad duration", map[string]string{"STRANGLER_LEGACY_DOWNSTREAM_TIMEOUT": "soon"},
			[]string{"legacy", "serve"}, []string{"config legacy", "timeout"}},
		{"bad log level", nil, []string{"legacy", "serve", "--log-level", "loud"}, []string{"--log-level", "loud"}},
		{"unknown flag", nil, []string{"legacy", "serve", "--nope"}, []string{"--nope"}},
		{"bad loadgen url", map[string]string{"STRANGLER_LOADGEN_BASE_URL": "ftp://x"},
			[]string{"loadgen"}, []string{`"base_url"`, "ftp://x"}},
		{"bad downstream ratio", map[string]string{"STRANGLER_DOWNSTREAM_INVENTORY_FAIL_RATIO": "2"},
			[]string{"dev", "downstream"}, []string{"inventory.fail_ratio"}},
		{"removed proxy key from env", map[string]string{"STRANGLER_PROXY_TRANSPORT_CLIENT": "lean"},
			[]string{"proxy", "serve"}, []string{`"transport.client"`, "STRANGLER_PROXY_TRANSPORT_CLIENT", "removed", "delete it"}},
		{"console's cdc config unreadable", map[string]string{"STRANGLER_CONSOLE_PROXY_TOKEN": "test-console-token-0123", "STRANGLER_CONSOLE_CDC_CONFIG": "/nonexistent/cdc.yaml"},
			[]string{"console"}, []string{"cdc_config", "/nonexistent/cdc.yaml", "dead_letters: false"}},
		{"unknown trace exporter", map[string]string{"STRANGLER_TRACE_EXPORTER": "jaeger", "STRANGLER_DOWNSTREAM_EVENTS_AUTH_USERNAME": "bus", "STRANGLER_DOWNSTREAM_EVENTS_AUTH_PASSWORD": "test-downstream-sink-password", "STRANGLER_DOWNSTREAM_ADMIN_TOKEN": "test-downstream-admin"},
			[]string{"dev", "downstream"}, []string{"STRANGLER_TRACE_EXPORTER", `"jaeger"`, "stdout"}},
		{"otlp endpoint not a URL", map[string]string{"STRANGLER_TRACE_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318", "STRANGLER_DOWNSTREAM_EVENTS_AUTH_USERNAME": "bus", "STRANGLER_DOWNSTREAM_EVENTS_AUTH_PASSWORD": "test-downstream-sink-password", "STRANGLER_DOWNSTREAM_ADMIN_TOKEN": "test-downstream-admin"},
			[]string{"dev", "downstream"}, []string{"OTEL_EXPORTER_OTLP_ENDPOINT", `"collector:4318"`, "http://localhost:4318"}},
		{"plan action without a reason", nil, []string{"route", "plan", "get-order", "pause"}, []string{"--reason is required"}},
		{"removed proxy key as a flag", nil, []string{"proxy", "serve", "--transport-client", "lean"}, []string{"unknown flag: --transport-client"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The credentials the shipped configs would give (outside
			// the repository root, the built-in defaults hold none).
			t.Setenv("STRANGLER_LEGACY_API_KEYS", "test-retail-key=retail")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := runCLI(t, tc.args...)
			if code != exitConfig {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitConfig, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestConfigFileWithUnknownKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "legacy.yaml")
	if err := os.WriteFile(p, []byte("listne: 127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "legacy", "serve", "--config", p)
	if code != exitConfig || !strings.Contains(stderr, `"listne"`) || !strings.Contains(stderr, "listen") {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
}

// TestRemovedProxyKeyInFile: a proxy config file that still sets
// transport.client is refused at start, naming the key and what to do.
func TestRemovedProxyKeyInFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(p, []byte("transport:\n  client: stdlib\n  max_idle_conns_per_host: 64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "proxy", "serve", "--config", p)
	for _, want := range []string{`"transport.client"`, p, "removed", "delete it", "http.Transport"} {
		if code != exitConfig || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, stderr)
		}
	}
}

// TestShippedConfigsLoad proves every configs/*.yaml is accepted as shipped.
func TestShippedConfigsLoad(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs found: %v", err)
	}
	a := &app{}
	root := newRootCmd(a)
	for _, f := range files {
		part := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(part, func(t *testing.T) {
			cfg, ok := defaultsFor(part)
			if !ok {
				t.Fatalf("configs/%s.yaml has no part in defaultsFor", part)
			}
			a.configFile = f
			if err := a.load(root, part, cfg, nil); err != nil {
				t.Fatalf("configs/%s.yaml: %v", part, err)
			}
		})
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	var walk func(c *cobra.Command)
	var paths [][]string
	walk = func(c *cobra.Command) {
		path := strings.Fields(c.CommandPath())[1:]
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			if sub.Name() != "help" && sub.Name() != "completion" {
				walk(sub)
			}
		}
	}
	walk(newRootCmd(&app{}))
	for _, p := range paths {
		code, out, stderr := runCLI(t, append(p, "--help")...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%v --help: exit %d, stdout %q, stderr %q", p, code, out, stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "strangler ") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
}
