package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestOrdersBadConfig(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"shards", map[string]string{"STRANGLER_ORDERS_OUTBOX_SHARDS": "0"}, []string{"orders", "serve"}, []string{`"outbox.shards"`, "1 to 1024"}},
		{"error ratio", map[string]string{"STRANGLER_ORDERS_FAULTS_ERROR_RATIO": "2"}, []string{"orders", "serve"}, []string{`"faults.error_ratio"`}},
		{"delay", map[string]string{"STRANGLER_ORDERS_FAULTS_DELAY": "soon"}, []string{"orders", "serve"}, []string{"config orders", "delay"}},
		{"processor listen flag", nil, []string{"orders", "process", "--listen", "nowhere"}, []string{`"processor.listen"`, `"nowhere"`}},
		{"listen flag", nil, []string{"orders", "serve", "--listen", "nowhere"}, []string{`"listen"`, `"nowhere"`}},
		{"table", map[string]string{"STRANGLER_ORDERS_TABLE": "x"}, []string{"orders", "init"}, []string{`"table"`}},
		{"api keys", map[string]string{"STRANGLER_ORDERS_API_KEYS": "abcdefgh123=resale"}, []string{"orders", "serve"}, []string{`"api_keys[0].channel"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
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

func TestOrdersAdminTokenNeverPrinted(t *testing.T) {
	t.Setenv("STRANGLER_ORDERS_ADMIN_TOKEN", "sekrit7")
	code, _, stderr := runCLI(t, "orders", "serve")
	if code != exitConfig || !strings.Contains(stderr, `"admin_token"`) || strings.Contains(stderr, "sekrit7") {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
}

// TestOrdersMissingTables needs the local stack's DynamoDB: serve, process
// and init refuse to run without the orders table and say what creates it.
func TestOrdersMissingTables(t *testing.T) {
	t.Setenv("STRANGLER_ORDERS_TABLE", fmt.Sprintf("orders_missing_%d", time.Now().UnixNano()))
	t.Setenv("STRANGLER_ORDERS_API_KEYS", "test-retail-key=retail")
	t.Setenv("STRANGLER_ORDERS_ADMIN_TOKEN", "test-orders-admin")
	t.Setenv("STRANGLER_ORDERS_PROCESSOR_AUTH_API_KEY_NAME", "X-Sink-Key")
	t.Setenv("STRANGLER_ORDERS_PROCESSOR_AUTH_API_KEY_VALUE", "test-processor-sink-key")
	for _, args := range [][]string{{"orders", "serve", "--listen", "127.0.0.1:0"}, {"orders", "process", "--listen", "127.0.0.1:0"}, {"orders", "init"}} {
		code, _, stderr := runCLI(t, args...)
		if code != exitFailed || !strings.Contains(stderr, "run `strangler migrate init` first") {
			t.Errorf("%v: exit %d; stderr:\n%s", args, code, stderr)
		}
	}
}
