package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/proxy"
)

// heldPins is a DynamoDB endpoint in front of DynamoDB Local that holds
// every pin PutItem until release is closed (then forwards it) or its
// caller gives up; everything else goes straight through.
func heldPins(t *testing.T) (endpoint string, release func()) {
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
			select {
			case <-r.Context().Done():
				return
			case <-stop:
			}
		}
		rp.ServeHTTP(w, r)
	}))
	var once sync.Once
	release = func() { once.Do(func() { close(stop) }) }
	t.Cleanup(slow.Close)
	t.Cleanup(release)
	return slow.URL, release
}

// pinProxy starts a proxy whose control table (table, or a fresh one when
// "") is reached through endpoint; it returns the table's name too.
func pinProxy(t *testing.T, endpoint, table string) (*harness, string) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, table, orderRoutes(0)...)
	cfg.DynamoDB = awsconf.Local(endpoint)
	cfg.Idempotency.PinBudget = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	api, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return startProxy(t, cfg, proxy.Deps{DynamoDB: api}), cfg.Control.Table
}

func setWeight(t *testing.T, h *harness, route string, weight int) {
	t.Helper()
	body := fmt.Sprintf(`{"mode":"canary","weight":%d,"actor":"test","reason":"pin test"}`, weight)
	if a := call(t, "PUT", h.admin+"/admin/routes/"+route, body, "Authorization", "Bearer "+adminToken); a.status != 200 {
		t.Fatalf("setting %s to %d: %d %s", route, weight, a.status, a.body)
	}
}

// TestPinBudgetFailsOpen: with a control table whose pin writes hang, on a
// route that sent creates to new within a pin's TTL (so a key may be
// pinned there), a create with an Idempotency-Key still reaches legacy
// within the pin budget, counted as fail_open; nothing waits on the new
// stack.
func TestPinBudgetFailsOpen(t *testing.T) {
	endpoint, _ := heldPins(t)
	h, _ := pinProxy(t, endpoint, "")
	setWeight(t, h, "create-order", 50)
	setWeight(t, h, "create-order", 0)
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

// TestPinBehindOnAnAllLegacyRoute: on a route that has never sent anything
// to new, no key can be pinned there, so the pin is written behind the
// request: creates reach legacy at once while the pin store hangs (no
// fail_open), and once the writes land, a retry after the route moved to
// new still goes to legacy, where its key was first seen.
func TestPinBehindOnAnAllLegacyRoute(t *testing.T) {
	endpoint, release := heldPins(t)
	h, table := pinProxy(t, endpoint, "")
	for i := range 3 {
		start := time.Now()
		a := call(t, "POST", h.url+"/v1/orders", `{"customer_id":"c"}`, "Idempotency-Key", fmt.Sprintf("behind-%d", i))
		if took := time.Since(start); a.status != 200 || a.backend != "legacy" || took >= 100*time.Millisecond {
			t.Fatalf("create %d: %d from %s after %v, want 200 from legacy without waiting for the pin", i, a.status, a.backend, took)
		}
	}
	metrics := func() string {
		return grepLines(string(call(t, "GET", h.admin+"/metrics", "").body), "proxy_idempotency_pins_total")
	}
	if m := metrics(); !strings.Contains(m, `result="behind"} 3`) || strings.Contains(m, `result="fail_open"`) {
		t.Fatalf("want 3 pins written behind and no fail_open:\n%s", m)
	}
	release()
	// A second proxy on the same control table has no LRU: it must read the pins from the store.
	h2, _ := pinProxy(t, endpoint, table)
	setWeight(t, h2, "create-order", 100)
	waitFor(t, 10*time.Second, "the behind pins to land and a retry to follow its pin", func() bool {
		a := call(t, "POST", h2.url+"/v1/orders", `{"customer_id":"c"}`, "Idempotency-Key", "behind-2")
		return a.status == 200 && a.backend == "legacy"
	})
	if a := call(t, "POST", h2.url+"/v1/orders", `{"customer_id":"c"}`, "Idempotency-Key", "fresh-key"); a.backend != "new" {
		t.Errorf("a new key at weight 100 went to %s, want new", a.backend)
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
