package proxy_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/proxy"
)

// TestPinBudgetFailsOpen: with a control table whose pin writes hang (a
// DynamoDB endpoint that holds every pin PutItem until the caller gives
// up), a create with an Idempotency-Key still reaches legacy within the
// pin budget, counted as fail_open; nothing waits on the new stack.
func TestPinBudgetFailsOpen(t *testing.T) {
	local, err := url.Parse(stacktest.DynamoDBEndpoint().URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(local)
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".PutItem") && bytes.Contains(body, []byte("#pin#")) {
			select { // a pin write does not answer while the test runs
			case <-r.Context().Done():
			case <-stop:
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(stop) })

	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, "", orderRoutes(0)...)
	cfg.DynamoDB = awsconf.Local(slow.URL)
	cfg.Idempotency.PinBudget = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	api, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := startProxy(t, cfg, proxy.Deps{DynamoDB: api})
	for i := range 3 {
		start := time.Now()
		a := call(t, "POST", h.url+"/v1/orders", `{"customer_id":"c"}`, "Idempotency-Key", "k-"+string(rune('a'+i)))
		if took := time.Since(start); a.status != 200 || a.backend != "legacy" || took > 2*time.Second {
			t.Fatalf("create %d with the pin store hanging: %d from %s after %v, want 200 from legacy within the budget", i, a.status, a.backend, took)
		}
	}
	m := call(t, "GET", h.admin+"/metrics", "")
	if !strings.Contains(string(m.body), `proxy_idempotency_pins_total{result="fail_open"} 3`) {
		t.Errorf("fail_open not counted 3 times:\n%s", grepLines(string(m.body), "proxy_idempotency_pins_total"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
