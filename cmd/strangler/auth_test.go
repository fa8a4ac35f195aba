package main

import (
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/console"
	"github.com/anycompany/strangler/devstack/downstream"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/sinkauth"
	"github.com/anycompany/strangler/legacy"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/proxy"
	"github.com/anycompany/strangler/syncback"
)

// endpoint is one mutating endpoint of a part and how a caller proves who
// it is there.
type endpoint struct {
	file          string // where the route is registered
	method, path  string // the route's pattern
	url           string // a concrete request path
	right, wrong  func(http.Header)
	handler       http.Handler
	acceptedMeans string // what the right credential leads to (not 401)
}

func bearer(token string) func(http.Header) {
	return func(h http.Header) { h.Set("Authorization", "Bearer "+token) }
}

// authEndpoints builds every part's router with test credentials and lists
// its mutating endpoints.
func authEndpoints(t *testing.T) []endpoint {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	keys := orderapi.APIKeys{{Key: "test-retail-key-01", Channel: "retail"}}
	wrongKey := bearer("test-retail-key-02")

	lcfg := legacy.DefaultConfig()
	lcfg.APIKeys = keys
	legacyH := legacy.NewServer(lcfg, legacy.Deps{Logger: log}).Handler()

	ocfg := orders.DefaultConfig()
	ocfg.APIKeys, ocfg.AdminToken = keys, "test-orders-admin-token"
	ocfg.Processor.Auth = sinkauth.APIKey("X-Sink-Key", "test-processor-sink-key")
	ordersH := orders.NewServer(ocfg, orders.ServerDeps{Logger: log}).Handler()
	procH := orders.NewProcessor(ocfg, nil, log, nil).Handler()

	scfg := syncback.DefaultConfig()
	scfg.Auth = sinkauth.Basic("bus", "test-syncback-sink-password")
	syncH := syncback.NewHandler(scfg, nil, nil, "t", log, prometheus.NewRegistry()).Routes()

	dcfg := downstream.DefaultConfig()
	dcfg.AdminToken = "test-downstream-admin"
	dcfg.EventsAuth = sinkauth.APIKey("X-Sink-Key", "test-downstream-sink-key")
	downH := downstream.New(dcfg, log).Handler()

	bcfg := eventbus.DefaultConfig()
	bcfg.AdminToken = "test-eventbus-admin"
	dir := t.TempDir()
	bcfg.ArchivePath, bcfg.DeadLetterPath = filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "d.jsonl")
	bus, err := eventbus.New(bcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })

	pcfg := proxy.DefaultConfig()
	pcfg.Admin.Token = "test-proxy-admin-token"
	pcfg.Control.Table = ""
	px, err := proxy.New(t.Context(), pcfg, proxy.Deps{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	proxyH := px.AdminHandler()

	ccfg := console.DefaultConfig()
	ccfg.Proxy.AdminURL, ccfg.Proxy.Token = "http://127.0.0.1:9", "test-proxy-admin-token"
	cs, err := console.New(ccfg, console.Deps{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	consoleH := cs.Handler()
	consoleRight, consoleWrong := consoleSession(t, consoleH, "test-proxy-admin-token")

	wrongSink := sinkauth.APIKey("X-Sink-Key", "test-wrong-sink-key-0").Apply
	return []endpoint{
		{"internal/orderapi/api.go", "POST", "/v1/orders", "/v1/orders", bearer("test-retail-key-01"), wrongKey, legacyH, "legacy"},
		{"internal/orderapi/api.go", "POST", "/v1/orders/{id}/cancel", "/v1/orders/1/cancel", bearer("test-retail-key-01"), wrongKey, legacyH, "legacy"},
		{"internal/orderapi/api.go", "PATCH", "/v1/orders/{id}", "/v1/orders/1", bearer("test-retail-key-01"), wrongKey, legacyH, "legacy"},
		{"internal/orderapi/api.go", "POST", "/v1/orders", "/v1/orders", bearer("test-retail-key-01"), bearer("test-orders-admin-token"), ordersH, "orders"},
		{"internal/orderapi/api.go", "POST", "/v1/orders/{id}/cancel", "/v1/orders/ord_1/cancel", bearer("test-retail-key-01"), wrongKey, ordersH, "orders"},
		{"internal/orderapi/api.go", "PATCH", "/v1/orders/{id}", "/v1/orders/ord_1", bearer("test-retail-key-01"), wrongKey, ordersH, "orders"},
		{"orders/server.go", "PUT", "/admin/faults", "/admin/faults", bearer("test-orders-admin-token"), bearer("test-retail-key-01"), ordersH, "orders"},
		{"orders/server.go", "DELETE", "/admin/faults", "/admin/faults", bearer("test-orders-admin-token"), bearer("test-retail-key-01"), ordersH, "orders"},
		{"orders/processor.go", "POST", "/events", "/events", ocfg.Processor.Auth.Apply, wrongSink, procH, "processor"},
		{"syncback/handler.go", "POST", "/events", "/events", scfg.Auth.Apply, sinkauth.Basic("bus", "test-syncback-sink-passwore").Apply, syncH, "syncback"},
		{"devstack/downstream/server.go", "POST", "/events", "/events", dcfg.EventsAuth.Apply, wrongSink, downH, "downstream"},
		{"devstack/downstream/server.go", "PUT", "/admin/faults", "/admin/faults", bearer("test-downstream-admin"), bearer("test-eventbus-admin"), downH, "downstream"},
		{"devstack/downstream/server.go", "DELETE", "/admin/faults", "/admin/faults", bearer("test-downstream-admin"), bearer("test-eventbus-admin"), downH, "downstream"},
		{"devstack/downstream/server.go", "DELETE", "/admin/records", "/admin/records", bearer("test-downstream-admin"), bearer("test-eventbus-admin"), downH, "downstream"},
		{"devstack/eventbus/server.go", "PUT", "/admin/faults", "/admin/faults", bearer("test-eventbus-admin"), bearer("test-downstream-admin"), bus.Handler(), "eventbus"},
		{"devstack/eventbus/server.go", "DELETE", "/admin/faults", "/admin/faults", bearer("test-eventbus-admin"), bearer("test-downstream-admin"), bus.Handler(), "eventbus"},
		{"proxy/admin.go", "PUT", "/admin/routes/{route}", "/admin/routes/create-order", bearer("test-proxy-admin-token"), bearer("test-retail-key-01"), proxyH, "proxy"},
		{"console/server.go", "POST", "/api/routes/{route}", "/api/routes/create-order", consoleRight, consoleWrong, consoleH, "console"},
		{"console/server.go", "POST", "/api/routes/{route}/plan", "/api/routes/create-order/plan", consoleRight, consoleWrong, consoleH, "console"},
		{"console/server.go", "POST", "/api/deadletters/{source}/{id}/replay", "/api/deadletters/cdc/k@1/replay", consoleRight, consoleWrong, consoleH, "console"},
		{"console/server.go", "POST", "/logout", "/logout", consoleRight, consoleWrong, consoleH, "console"},
		{"proxy/admin.go", "POST", "/admin/routes/{route}/plan", "/admin/routes/create-order/plan", bearer("test-proxy-admin-token"), bearer("test-retail-key-01"), proxyH, "proxy"},
	}
}

// unauthenticated are the mutating routes that take no credential, each
// with the reason.
var unauthenticated = map[string]string{
	"devstack/downstream/server.go POST /inventory/v1/reservations": "the dev stand-in of an external service the legacy monolith calls",
	"devstack/downstream/server.go POST /accounting/v1/entries":     "the dev stand-in of an external service the legacy monolith calls",
	"devstack/eventbus/server.go POST /{$}":                         "PutEvents of the local bus, which like EventBridge Local takes any SigV4 credentials",
	"console/server.go POST /login":                                 "the login itself: its credential (the admin token) is the form it posts; a wrong one gets 401 (console.TestWrongTokenRefused)",
}

// consoleSession logs in to the console h and returns the session cookie
// and the page's CSRF token, as a browser sends them with an action.
func consoleSession(t *testing.T, h http.Handler, token string) (right, wrong func(http.Header)) {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(w, r)
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("console login: %d %s, no session cookie", w.Code, w.Body)
	}
	c := cookies[0]
	w = httptest.NewRecorder()
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(c)
	h.ServeHTTP(w, r)
	m := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("console page without a CSRF token: %s", w.Body)
	}
	right = func(hd http.Header) { hd.Set("Cookie", c.Name+"="+c.Value); hd.Set("X-CSRF-Token", m[1]) }
	wrong = func(hd http.Header) { hd.Set("Cookie", c.Name+"="+c.Value+"x"); hd.Set("X-CSRF-Token", m[1]) }
	return right, wrong
}

// TestEveryMutatingEndpointRefusesAMissingOrWrongCredential sends each
// mutating endpoint of every part a request without a credential and one
// with a wrong credential (another part's, or one changed in its last
// character): both get 401 problem+json. The right credential passes the
// check (any answer but 401), so the test fails if a check refuses all. A
// mutating route registered in the source that is not in the table fails
// the test too.
func TestEveryMutatingEndpointRefusesAMissingOrWrongCredential(t *testing.T) {
	eps := authEndpoints(t)
	listed := map[string]bool{}
	for _, ep := range eps {
		listed[ep.file+" "+ep.method+" "+ep.path] = true
		t.Run(ep.acceptedMeans+" "+ep.method+" "+ep.path, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				set  func(http.Header)
			}{{"missing", func(http.Header) {}}, {"wrong", ep.wrong}} {
				w := send(ep, tc.set)
				if w.Code != http.StatusUnauthorized || w.Header().Get("Content-Type") != "application/problem+json" {
					t.Errorf("%s credential: %d %s %s, want 401 problem+json", tc.name, w.Code, w.Header().Get("Content-Type"), w.Body)
				}
			}
			if w := send(ep, ep.right); w.Code == http.StatusUnauthorized {
				t.Errorf("the right credential is refused: %s", w.Body)
			}
		})
	}
	for _, route := range mutatingRoutes(t) {
		if !listed[route] && unauthenticated[route] == "" {
			t.Errorf("%s is a mutating route this test does not check: add it to authEndpoints", route)
		}
	}
}

// send serves one request with body "{" (malformed, so an accepted call
// stops at decoding); a panic past the credential check (a dependency the
// test left nil) counts as accepted.
func send(ep endpoint, set func(http.Header)) (w *httptest.ResponseRecorder) {
	w = httptest.NewRecorder()
	r := httptest.NewRequest(ep.method, ep.url, strings.NewReader("{"))
	r.Header.Set("Content-Type", "application/json")
	set(r.Header)
	defer func() {
		if recover() != nil {
			w.Code = http.StatusTeapot
		}
	}()
	ep.handler.ServeHTTP(w, r)
	return w
}

// mutatingRoutes lists "file METHOD pattern" of every POST, PUT, PATCH and
// DELETE route registered on a ServeMux in the module's non-test code.
func mutatingRoutes(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`Handle(?:Func)?\("(POST|PUT|PATCH|DELETE) ([^"]+)"`)
	var out []string
	root := "../.."
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != root) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			out = append(out, filepath.ToSlash(rel)+" "+m[1]+" "+m[2])
		}
		return nil
	})
	if err != nil || len(out) == 0 {
		t.Fatalf("reading the routes: %v (%d found)", err, len(out))
	}
	slices.Sort(out)
	return out
}
