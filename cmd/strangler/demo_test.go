package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoEndToEnd runs the demo's whole story (scripts/demo.sh) on the local
// stack in a shorter form: fewer historical orders, less load, shorter plan
// steps. It is the automated version of `make demo`'s final check: the demo
// itself fails when verify finds a difference or an order the load generator
// got a 201 for is missing from either store, and the summary must say so.
//
// It needs the stack (make test brings it up) and the ports the demo and the
// bus's rules use (8080-8091): it fails loudly when something else holds them.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Fatal("the end-to-end demo test has no short form: run it without -short (make test does)")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "strangler")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the binary: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repo, "scripts", "demo.sh"))
	cmd.Dir = repo
	cmd.Env = append(os.Environ(),
		"BIN="+bin,
		"DEMO_DATABASE=strangler_demo_test",
		"DEMO_SEED_ORDERS=3000",
		"DEMO_RATE=120",
		"DEMO_STEPS=10,50,100",
		"DEMO_BAKE=3s",
		"DEMO_MIN_REQUESTS=3",
		"DEMO_SHADOW=3",
	)
	var out bytes.Buffer
	cmd.Stdout = &out // one writer for both: exec copies them in one goroutine
	cmd.Stderr = &out
	cmd.WaitDelay = 10 * time.Second
	runErr := cmd.Run()
	text := out.String()
	if runErr != nil {
		t.Fatalf("scripts/demo.sh failed: %v\n%s", runErr, tail(text, 120))
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`verify \(MySQL = DynamoDB\)\s+EQUAL`),
		regexp.MustCompile(`lost orders\s+.*\b0 lost\b`),
		regexp.MustCompile(`automatic rollbacks\s+[1-9]`),
		regexp.MustCompile(`routes\s+get-order=done@100%.*order-writes=done@100%`),
		regexp.MustCompile(`console\s+http://127\.0\.0\.1:8095`),
		regexp.MustCompile(`one create traced\s+\d+ spans in 1 trace\(s\) across proxy, orders, relay, `),
	} {
		if !want.MatchString(text) {
			t.Errorf("the demo's summary lacks %q:\n%s", want, tail(text, 40))
		}
	}
	t.Logf("demo summary:\n%s", tail(text, 16))
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
