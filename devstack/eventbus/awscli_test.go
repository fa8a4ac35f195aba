package eventbus_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anycompany/strangler/devstack/eventbus"
)

// cli is the real aws CLI, run with dummy credentials and no user
// configuration. It is safe for concurrent use.
type cli struct {
	bin, home string
}

// requireCLI finds aws. It fails the test (never skips) when aws is not
// installed: scripts/stack.sh up installs it.
func requireCLI(t *testing.T) cli {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Fatalf("the aws CLI is not installed (%v): run `make stack-up` (scripts/stack.sh up installs Debian's awscli)", err)
	}
	return cli{bin: bin, home: t.TempDir()}
}

// run runs aws against the endpoint url.
func (c cli) run(t *testing.T, url string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(t.Context(), c.bin, append([]string{"--endpoint-url", url, "--region", "us-east-1", "--output", "json"}, args...)...)
	home := c.home
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID=dummy", "AWS_SECRET_ACCESS_KEY=dummy", "AWS_SESSION_TOKEN=",
		"AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
		"AWS_PAGER=", "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard", "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func TestAWSCLIPutEvents(t *testing.T) {
	aws := requireCLI(t)
	tg := newTarget(t)
	b := newBus(t, func(c *eventbus.Config) {
		c.Rules = []eventbus.RuleConfig{rule("orders", ordersPattern, eventbus.TargetConfig{Name: "t", URL: tg.URL})}
	})

	// A whole-call error reaches the CLI as the service's error code. It
	// runs alongside the first call: the CLI takes a second or two to start.
	type result struct {
		stderr string
		err    error
	}
	elevenDone := make(chan result, 1)
	go func() {
		eleven := "[" + strings.Repeat(`{"Source":"s","DetailType":"d","Detail":"{}"},`, 10) + `{"Source":"s","DetailType":"d","Detail":"{}"}]`
		_, stderr, err := aws.run(t, b.url, "events", "put-events", "--entries", eleven)
		elevenDone <- result{stderr, err}
	}()

	// ListRules (strangler doctor's call) reaches the CLI in the service's shape.
	type listed struct {
		stdout, stderr string
		err            error
	}
	rulesDone := make(chan listed, 1)
	go func() {
		stdout, stderr, err := aws.run(t, b.url, "events", "list-rules", "--event-bus-name", "default")
		rulesDone <- listed{stdout, stderr, err}
	}()

	entries := `[
	  {"Source":"com.anycompany.orders","DetailType":"OrderCreated","Detail":"{\"event_id\":\"cli-1\",\"order\":{\"id\":\"7\"}}","Resources":["orders/7"]},
	  {"Source":"com.anycompany.orders","DetailType":"OrderCreated","Detail":"not json"}
	]`
	stdout, stderr, err := aws.run(t, b.url, "events", "put-events", "--entries", entries)
	if err != nil {
		t.Fatalf("aws events put-events: %v\nstderr: %s", err, stderr)
	}
	var got struct {
		FailedEntryCount int
		Entries          []map[string]string
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if got.FailedEntryCount != 1 || len(got.Entries) != 2 || got.Entries[0]["EventId"] != "ev-1" ||
		got.Entries[1]["ErrorCode"] != "MalformedDetail" || got.Entries[1]["ErrorMessage"] != "Detail is malformed." {
		t.Fatalf("output:\n%s", stdout)
	}
	b.waitIdle(t)
	if r := tg.received(); len(r) != 1 || r[0].ID != "ev-1" || r[0].Resources[0] != "orders/7" || string(r[0].Detail) != `{"event_id":"cli-1","order":{"id":"7"}}` {
		t.Errorf("target received %+v", r)
	}

	rules := <-rulesDone
	var rs struct{ Rules []map[string]string }
	if rules.err != nil || json.Unmarshal([]byte(rules.stdout), &rs) != nil || len(rs.Rules) != 1 ||
		rs.Rules[0]["Name"] != "orders" || rs.Rules[0]["State"] != "ENABLED" || rs.Rules[0]["EventPattern"] != ordersPattern {
		t.Errorf("aws events list-rules: %v\nstdout: %s\nstderr: %s", rules.err, rules.stdout, rules.stderr)
	}

	res := <-elevenDone
	var exit *exec.ExitError
	if !errors.As(res.err, &exit) || !strings.Contains(res.stderr, "ValidationException") {
		t.Errorf("11 entries: err %v, stderr %s", res.err, res.stderr)
	}
}
