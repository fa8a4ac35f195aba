package main

import (
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/anycompany/strangler/internal/stacktest"
)

// TestDevTraceSpanTree runs `strangler dev trace` against the local stack:
// one create is one trace, proxy -> orders -> relay -> (bus) -> processor
// and downstream, each span made by its part, and the tree and its summary
// line (which the demo's summary shows) are printed.
func TestDevTraceSpanTree(t *testing.T) {
	url := stacktest.DynamoDBEndpoint().URL
	spans, err := traceOneCreate(t.Context(), traceOptions{DynamoDB: url, Legacy: "http://127.0.0.1:1", Timeout: time.Minute}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		if _, dup := byName[s.Name]; dup {
			t.Errorf("two spans named %q", s.Name)
		}
		byName[s.Name] = s
		if s.SpanContext.TraceID() != spans[0].SpanContext.TraceID() {
			t.Errorf("%s is in trace %s, not %s", s.Name, s.SpanContext.TraceID(), spans[0].SpanContext.TraceID())
		}
	}
	root := byName["proxy create-order"]
	if root.Parent.IsValid() {
		t.Errorf("the proxy's span has parent %s, want none (the client sent no traceparent)", root.Parent.SpanID())
	}
	for _, link := range []struct{ child, parent, part string }{
		{"POST /v1/orders", "proxy create-order", "orders"},
		{"publish OrderCreated", "POST /v1/orders", "relay"},
		{"consume OrderCreated", "publish OrderCreated", "downstream"},
		{"inventory OrderCreated", "consume OrderCreated", "downstream"},
		{"accounting OrderCreated", "consume OrderCreated", "downstream"},
		{"process OrderCreated", "publish OrderCreated", "processor"},
		{"publish OrderStatusChanged", "process OrderCreated", "relay"},
		{"consume OrderStatusChanged", "publish OrderStatusChanged", "downstream"},
	} {
		c, p := byName[link.child], byName[link.parent]
		if c.Name == "" || p.Name == "" {
			t.Errorf("missing %q or %q among %d spans", link.child, link.parent, len(spans))
			continue
		}
		if c.Parent.SpanID() != p.SpanContext.SpanID() {
			t.Errorf("%s: parent %s, want %s (%s)", link.child, c.Parent.SpanID(), p.SpanContext.SpanID(), link.parent)
		}
		if v, _ := c.Resource.Set().Value("service.name"); v.AsString() != link.part {
			t.Errorf("%s made by %q, want %s", link.child, v.AsString(), link.part)
		}
	}

	var out strings.Builder
	printSpanTree(&out, spans)
	t.Logf("\n%s", out.String())
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^proxy create-order\s+proxy\s+span [0-9a-f]{16}  parent -$`),
		regexp.MustCompile(`(?m)^└─ POST /v1/orders\s+orders\s+span`),
		regexp.MustCompile(`(?m)^\s+└─ publish OrderCreated\s+relay\s+span`),
		regexp.MustCompile(`(?m)[├└]─ bus → consume OrderCreated\s+downstream\s+span`),
		regexp.MustCompile(`(?m)^9 spans in 1 trace\(s\) across proxy, orders, relay, `),
	} {
		if !want.MatchString(out.String()) {
			t.Errorf("the tree lacks %q", want)
		}
	}

	// The command prints the same.
	code, stdout, stderr := runCLI(t, "dev", "trace", "--dynamodb-url", url, "--legacy-url", "http://127.0.0.1:1", "--log-level", "error")
	if code != 0 || !regexp.MustCompile(`(?m)^9 spans in 1 trace\(s\) across proxy, orders, relay, `).MatchString(stdout) {
		t.Errorf("strangler dev trace: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
