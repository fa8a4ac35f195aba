package console_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/console"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/proxy"
	"github.com/anycompany/strangler/proxy/plan"
	"github.com/anycompany/strangler/proxy/shadow"
)

const adminToken = "console-test-admin-token-0123"

// backend answers every call with 200 and {"backend": name, "path": …};
// fail makes it answer 500 to everything but /readyz.
type backend struct {
	url  string
	fail atomic.Bool
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if b.fail.Load() {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"backend":%q,"path":%q,"total":"10.00"}`, name, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	b.url = s.URL
	return b
}

// fakeCDC serves the cdc's metrics listener: /metrics and /status.
func fakeCDC(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			fmt.Fprint(w, "# TYPE strangler_cdc_lag_seconds gauge\n"+
				"strangler_cdc_lag_seconds{stage=\"read\"} 0.4\nstrangler_cdc_lag_seconds{stage=\"applied\"} 1.2\nstrangler_cdc_lag_seconds{stage=\"checkpointed\"} 2.5\n"+
				"# TYPE strangler_cdc_events_published_total counter\nstrangler_cdc_events_published_total 1200\n"+
				"# TYPE strangler_cdc_dead_letters_total counter\nstrangler_cdc_dead_letters_total 3\n")
		case "/status":
			fmt.Fprint(w, `{"leading":true,"source":"0-1-90","checkpoint":"0-1-88","behind":2,"lag_seconds":2.5}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// fakeSyncback serves sync-back's /metrics.
func fakeSyncback(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "# TYPE strangler_syncback_events_total counter\nstrangler_syncback_events_total{outcome=\"applied\"} 40\nstrangler_syncback_events_total{outcome=\"stale\"} 2\n"+
			"# TYPE strangler_syncback_lag_seconds gauge\nstrangler_syncback_lag_seconds 0.83\n")
	}))
	t.Cleanup(s.Close)
	return s.URL
}

type env struct {
	proxyURL string
	console  string
	newSide  *backend
	admin    *proxy.AdminClient
	dead     *deadFixture
}

// start runs a proxy on a fresh control table with fake backends (route
// get-order in canary with a plan, route get-customer in shadow) and the
// console in front of its admin API.
func start(t *testing.T) *env {
	t.Helper()
	legacy, nw := startBackend(t, "legacy"), startBackend(t, "new")
	p := plan.Plan{Steps: []float64{10, 50, 100}, Bake: time.Hour, SLO: plan.SLO{Max5xxRatio: 0.05, MaxP99: 500 * time.Millisecond, MinRequests: 5}}
	sh := shadow.DefaultConfig()
	cfg := proxy.DefaultConfig()
	cfg.Admin.Token = adminToken
	cfg.Backends.Legacy, cfg.Backends.New = legacy.url, nw.url
	ddb := stacktest.DynamoDB(t)
	cfg.Control.Table = stacktest.TableName(t, ddb, "console")
	cfg.Control.Poll = 100 * time.Millisecond
	cfg.DynamoDB = stacktest.DynamoDBEndpoint()
	cfg.Health.Interval = 50 * time.Millisecond
	cfg.Circuit.MinRequests = 1000 // leave the failures to the plan
	cfg.Routes = []proxy.RouteConfig{
		{Name: "get-order", Match: "GET /v1/orders/{id}", Mode: proxy.ModeLegacy, Sticky: "path:id", Plan: &p},
		{Name: "get-customer", Match: "GET /v1/customers/{id}", Mode: proxy.ModeShadow, Sticky: "path:id", Shadow: &sh},
		{Name: "create-order", Match: "POST /v1/orders", Sticky: "body:customer_id"},
	}
	// One write group (no cdc here: its lag gate is off).
	cfg.WriteGroups = []proxy.WriteGroupConfig{{Name: "writes", Routes: []string{"create-order"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("proxy config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := proxy.New(ctx, cfg, proxy.Deps{Logger: log, DynamoDB: ddb, PlanTick: 50 * time.Millisecond,
		HistoryEvery: 100 * time.Millisecond})
	if err != nil {
		cancel()
		t.Fatalf("starting the proxy: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	ps, as := httptest.NewServer(srv.Handler()), httptest.NewServer(srv.AdminHandler())
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy Run: %v", err)
		}
		ps.Close()
		as.Close()
	})

	ccfg := console.DefaultConfig()
	ccfg.Proxy.AdminURL, ccfg.Proxy.Token = as.URL, adminToken
	ccfg.CDCURL, ccfg.SyncbackURL = fakeCDC(t), fakeSyncback(t)
	ccfg.Refresh = 200 * time.Millisecond
	ccfg.Migration.DynamoDB, ccfg.Migration.ControlTable = stacktest.DynamoDBEndpoint(), cfg.Control.Table
	seedMigration(t, ddb, cfg.Control.Table)
	dead := newDeadFixture(t, ddb, cfg.Control.Table)
	if err := ccfg.Validate(); err != nil {
		t.Fatalf("console config: %v", err)
	}
	c, err := console.New(ccfg, console.Deps{Logger: log, DynamoDB: ddb, DeadLetters: dead.deadLetters()})
	if err != nil {
		t.Fatal(err)
	}
	cs := httptest.NewServer(c.Handler())
	t.Cleanup(cs.Close)
	return &env{proxyURL: ps.URL, console: cs.URL, newSide: nw, admin: &proxy.AdminClient{BaseURL: as.URL, Token: adminToken}, dead: dead}
}

// seedMigration writes a backfill job half done (2 of 4 chunks, 500 of
// 1000 rows, started 10 s ago) and verify's last result, as the migrator
// writes them (migrator's tests read them back with the same functions).
func seedMigration(t *testing.T, ddb *dynamodb.Client, table string) {
	t.Helper()
	job := map[string]types.AttributeValue{
		control.PK: control.S(control.BackfillPK("orders")), control.SK: control.S(control.BackfillJobSK),
		"state": control.S("planned"), "chunks": control.N(4), "total_rows": control.N(1000),
		"created": control.S(time.Now().Add(-10 * time.Second).UTC().Format(time.RFC3339)), "updated_ms": control.N(time.Now().UnixMilli()),
	}
	items := []map[string]types.AttributeValue{job}
	for n, st := range []string{"done", "done", "leased", "pending"} {
		items = append(items, map[string]types.AttributeValue{control.PK: control.S(control.BackfillPK("orders")),
			control.SK: control.S(fmt.Sprintf("chunk#%d", n)), "state": control.S(st), "rows": control.N(250)})
	}
	items = append(items, control.VerifyItem("orders", control.VerifyResult{At: time.Now(), Equal: true, Rows: 500, Items: 500, Sample: 100}))
	for _, it := range items {
		if _, err := ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &table, Item: it}); err != nil {
			t.Fatal(err)
		}
	}
}

// browser starts headless Chromium (Debian's chromium, installed by
// scripts/stack.sh) for at most a minute.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (%v): run make stack-up, which installs it (apt-get install chromium)", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // the first Run starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	// The page's script errors fail the test.
	if err := chromedp.Listen(ctx, func(ev any) {
		if ex, ok := ev.(*runtime.EventExceptionThrown); ok {
			d := ex.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			t.Errorf("script error in the page at %s:%d: %s", d.URL, d.LineNumber, desc)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// artifacts is where the screenshots go: .artifacts/console at the repository root.
func artifacts(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".artifacts", "console"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, dir, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		buf, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return fmt.Errorf("screenshot %s: %w", name, err)
		}
		path := filepath.Join(dir, name+".png")
		t.Logf("screenshot: %s", path)
		return os.WriteFile(path, buf, 0o644)
	})
}

// waitText waits until the element sel holds text want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want)
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(20*time.Second))
}

// setInput sets an input's value as typing does (an input event follows).
func setInput(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event("input", { bubbles: true })); return e.value; })()`, sel, v)
		got, err := chromedp.Evaluate[string](js)(ctx, tg)
		if err == nil && got != v {
			err = fmt.Errorf("%s holds %q after setting %q", sel, got, v)
		}
		return err
	})
}

// focused is the id of the focused element.
func focused(id *string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		v, err := chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`)(ctx, tg)
		*id = v
		return err
	})
}

func run(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 25*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		text, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("%s: %v; the page reads:\n%s", step, err, text)
	}
}

// historyBefore sends requests to get-order before the page is opened and
// waits until the proxy's history holds them.
func historyBefore(t *testing.T, e *env) {
	t.Helper()
	for i := range 5 {
		resp, err := http.Get(fmt.Sprintf("%s/v1/orders/early%d", e.proxyURL, i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := e.admin.History(context.Background(), "get-order")
		if err != nil {
			t.Fatal(err)
		}
		if n := len(v.Samples); n > 0 && v.Samples[n-1].Legacy.Requests == 5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy's history of get-order never held the 5 early requests: %+v", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsoleInBrowser drives the console in headless Chromium: a wrong
// token is refused, a weight raised with a reason from the keyboard alone
// shows in the route table and the audit log, a plan started, paused,
// resumed, aborted and started again from the keyboard alone rolls back
// with its reason when new breaks, a route's charts start with the proxy's
// history from before the page was opened, a shadow diff is read, the data path shown
// with a dead letter of the cdc, which is replayed from the keyboard alone
// and verified equal to its row.
func TestConsoleInBrowser(t *testing.T) {
	e := start(t)
	historyBefore(t, e)
	ctx := browser(t)
	dir := artifacts(t)

	var id string
	run(t, ctx, "a wrong token is refused",
		chromedp.Navigate(e.console),
		chromedp.SendKeys(chromedp.CSS("#name"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
		waitText("#login-error", "Wrong token"))

	run(t, ctx, "log in",
		chromedp.SendKeys(chromedp.CSS("#token"), adminToken),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#row-get-order")),
		waitText("#row-get-order .mode", "legacy"),
		waitText("#health-new", "healthy"))

	run(t, ctx, "the charts hold the history from before the page, with the plan's SLO lines",
		chromedp.Click(chromedp.CSS("#open-get-order")),
		chromedp.Poll[chromedp.Void](`(() => { const c = charts["chart-req"]; if (!c) return false; const d = c.u.data;
			return d[0].some((t, i) => t < openedAt && d[1][i] > 0); })()`, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Poll[chromedp.Void](`charts["chart-err"].u.series.length === 4 && charts["chart-err"].u.data[3][0] === 0.05 &&
			charts["chart-p99"].u.series.length === 4 && charts["chart-p99"].u.data[3][0] === 500`, chromedp.WithPollingTimeout(20*time.Second)))

	// Mode and weight from the keyboard alone: "c" picks canary in the
	// focused select, Tab, the weight, Tab, the reason, Enter submits.
	run(t, ctx, "raise a weight from the keyboard alone",
		chromedp.Focus(chromedp.CSS("#set-mode")),
		chromedp.KeyEvent("c"), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent("5"), chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent("raise to 5 for the canary"), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		waitText("#confirm-text", "Set get-order to mode canary, weight 5%"),
		focused(&id))
	if id != "confirm-cancel" {
		t.Fatalf("the confirmation opens with focus on %q, want confirm-cancel (the safe choice)", id)
	}
	run(t, ctx, "raise a weight",
		chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Enter),
		waitText("#action-result", "Done"),
		chromedp.Navigate(e.console+"/#overview"),
		waitText("#row-get-order .weight", "5%"),
		waitText("#row-get-order .mode", "canary"),
		chromedp.Navigate(e.console+"/#audit"),
		waitText("#audit tbody", "raise to 5 for the canary"),
		waitText("#audit tbody", "alice"),
		chromedp.SendKeys(chromedp.CSS("#audit-text"), "raise to 5"),
		waitText("#audit tbody", "canary 5%"))

	run(t, ctx, "set a write group's weight",
		chromedp.Navigate(e.console+"/#overview"),
		waitText("#grow-writes", "create-order"),
		chromedp.Click(chromedp.CSS("#gopen-writes")),
		waitText("#route-state", "write group writes"),
		chromedp.SetValue(chromedp.CSS("#set-mode"), "canary"),
		chromedp.SetValue(chromedp.CSS("#set-weight"), "2"),
		chromedp.SetValue(chromedp.CSS("#set-reason"), "first writes"),
		chromedp.Click(chromedp.CSS("#set-apply")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		waitText("#action-result", "Done: Set writes"),
		chromedp.Navigate(e.console+"/#overview"),
		waitText("#grow-writes", "canary"),
		waitText("#grow-writes", "2%"),
		waitText("#row-create-order", "writes"))

	run(t, ctx, "start the plan from the keyboard alone",
		chromedp.Navigate(e.console+"/#route"),
		waitText("#route-pick", "get-order"),
		chromedp.SetValue(chromedp.CSS("#route-pick"), "get-order"),
		chromedp.SetValue(chromedp.CSS("#set-weight"), ""),
		chromedp.Focus(chromedp.CSS("#route-pick")),
		chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab), // mode, weight, reason, Apply
		focused(&id))
	if id != "set-apply" {
		t.Fatalf("four tabs from the route picker reach %q, want set-apply (focus order: mode, weight, reason, Apply)", id)
	}
	run(t, ctx, "plan reason by keyboard",
		chromedp.KeyEvent(kb.Tab), focused(&id))
	if id != "plan-reason" {
		t.Fatalf("tab after Apply reaches %q, want plan-reason", id)
	}
	run(t, ctx, "start by keyboard",
		chromedp.KeyEvent("start the canary plan"),
		chromedp.KeyEvent(kb.Tab), focused(&id))
	if id != "plan-start" {
		t.Fatalf("tab after the plan reason reaches %q, want plan-start", id)
	}
	run(t, ctx, "confirm by keyboard",
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		focused(&id))
	if id != "confirm-cancel" {
		t.Fatalf("the confirmation opens with focus on %q, want confirm-cancel (the safe choice)", id)
	}
	run(t, ctx, "confirm start",
		chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Enter),
		waitText("#action-result", "Done"),
		waitText("#route-state", "running"),
		focused(&id))
	if id != "plan-start" {
		t.Errorf("after the action focus is on %q, want back on plan-start", id)
	}

	// Pause, resume and abort it, then start it again, from the keyboard
	// alone: Shift+Tab back from the last button to the (emptied) reason,
	// type it, Tab to the action's button, Enter, Tab to Confirm, Enter.
	for _, a := range []struct {
		button, reason, state string
		back, forth           int // Shift+Tabs to the reason, Tabs to the button
	}{
		{"plan-pause", "hold for a deploy of new", "paused", 1, 2},
		{"plan-resume", "the deploy is done", "running", 2, 3},
		{"plan-abort", "abort before the fault", "aborted", 3, 4},
		{"plan-start", "start the canary plan again", "running", 4, 1},
	} {
		keys := []chromedp.Action[chromedp.Void]{}
		for range a.back {
			keys = append(keys, chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
		}
		keys = append(keys, focused(&id))
		run(t, ctx, a.button+" by keyboard: back to the reason", keys...)
		if id != "plan-reason" {
			t.Fatalf("%d Shift+Tab from the last action reach %q, want plan-reason", a.back, id)
		}
		keys = []chromedp.Action[chromedp.Void]{chromedp.KeyEvent(a.reason)}
		for range a.forth {
			keys = append(keys, chromedp.KeyEvent(kb.Tab))
		}
		run(t, ctx, a.button+" by keyboard: its button", append(keys, focused(&id))...)
		if id != a.button {
			t.Fatalf("tabs from the plan reason reach %q, want %s", id, a.button)
		}
		run(t, ctx, a.button+" by keyboard",
			chromedp.KeyEvent(kb.Enter),
			chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
			waitText("#confirm-text", a.reason),
			chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Enter),
			waitText("#action-result", "Done"),
			waitText("#route-state", "plan "+a.state),
			waitText("#timeline", a.reason))
	}

	// Break the new service under load and watch the plan roll back.
	e.newSide.fail.Store(true)
	stop := load(e.proxyURL)
	defer stop()
	run(t, ctx, "the plan rolls back with its reason",
		waitText("#timeline", "rollback"),
		waitText("#route-state", "rolled_back"),
		waitText("#route-state", "SLO breach"),
		chromedp.Poll[chromedp.Void](`!!document.querySelector("#chart-err canvas")`, chromedp.WithPollingTimeout(20*time.Second)),
		screenshot(t, dir, "route-rollback"),
		chromedp.Navigate(e.console+"/#overview"),
		waitText("#rollback-reason", "SLO breach"),
		waitText("#health-legacy", "healthy"),
		waitText("#overview-dead", "1 dead letter waiting"),
		screenshot(t, dir, "overview"))
	stop()
	e.newSide.fail.Store(false)

	for i := range 20 {
		resp, err := http.Get(fmt.Sprintf("%s/v1/customers/c%d", e.proxyURL, i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	run(t, ctx, "read a shadow diff",
		chromedp.Navigate(e.console+"/#diffs"),
		waitText("#diffs", "get-customer"),
		chromedp.WaitVisible(chromedp.CSS("#sample-get-customer-backend")),
		chromedp.Click(chromedp.CSS("#sample-get-customer-backend")),
		waitText("#diff-legacy .del", `"legacy"`),
		waitText("#diff-new .ins", `"new"`),
		screenshot(t, dir, "diff"))

	run(t, ctx, "the data path",
		chromedp.Navigate(e.console+"/#data"),
		waitText("#cdc-dead", "3"),
		waitText("#data", "stage checkpointed"),
		waitText("#backfill-rows", "500 of 1000; chunks 2 of 4"),
		waitText("#sb-lag", "0.8 s"),
		waitText("#verify-result", "EQUAL"),
		chromedp.Poll[chromedp.Void](`/^[0-9]+ s$/.test(document.querySelector("#backfill-eta").textContent)`, chromedp.WithPollingTimeout(20*time.Second)),
		waitText("#dl-count", "1 dead letter waiting"),
		waitText("#deadletters tbody", e.dead.rec.ID),
		waitText("#deadletters tbody", "cdc"),
		waitText("#deadletters tbody", "injected fault"),
		screenshot(t, dir, "data-path"))

	// Replay the dead letter from the keyboard alone: reason, Tab to its
	// Replay button, Enter, Tab from Cancel to Confirm, Enter.
	replayID := "replay-cdc-" + regexp.MustCompile(`[^A-Za-z0-9_-]`).ReplaceAllString(e.dead.rec.ID, "_")
	run(t, ctx, "a dead letter's replay by keyboard",
		chromedp.Focus(chromedp.CSS("#dl-reason")),
		chromedp.KeyEvent("the table takes the item again"),
		chromedp.KeyEvent(kb.Tab), focused(&id))
	if id != replayID {
		t.Fatalf("tab after the replay reason reaches %q, want %s", id, replayID)
	}
	run(t, ctx, "confirm the replay by keyboard",
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		waitText("#confirm-text", "the table takes the item again"),
		focused(&id))
	if id != "confirm-cancel" {
		t.Fatalf("the replay's confirmation opens with focus on %q, want confirm-cancel (the safe choice)", id)
	}
	run(t, ctx, "the replayed dead letter is gone",
		chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Enter),
		waitText("#dl-result", "Replayed: "),
		waitText("#dl-result", "replay cdc/"+e.dead.rec.ID),
		waitText("#dl-result", `by=alice (console, confirmed): the table takes the item again`),
		waitText("#dl-count", "0 dead letters waiting"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#deadletters tbody").rows.length === 0`, chromedp.WithPollingTimeout(20*time.Second)))
	e.dead.checkReplayed(t)

	// The audit log by actor and by text: the proxy's entries and the dead
	// letters' replays, each filter hiding what it should.
	rows := func(sel, cond string) chromedp.Action[chromedp.Void] {
		js := fmt.Sprintf(`(() => { const rs = [...document.querySelectorAll(%q)]; return %s; })()`, sel+" tbody tr", cond)
		return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(20*time.Second))
	}
	run(t, ctx, "filter the audit log",
		chromedp.Navigate(e.console+"/#audit"),
		setInput("#audit-text", ""),
		setInput("#audit-actor", "alice"),
		rows("#audit", `snap.audit.some((a) => !a.actor.includes("alice")) && rs.length >= 2 && rs.every((r) => r.cells[2].textContent.includes("alice"))`),
		waitText("#dl-audit tbody", "replay cdc/"+e.dead.rec.ID),
		waitText("#dl-audit tbody", "alice (console, confirmed): the table takes the item again"),
		setInput("#audit-text", "first writes"),
		rows("#audit", `rs.length === 1 && rs[0].textContent.includes("first writes")`),
		rows("#dl-audit", `rs.length === 0`))

	entries, err := e.admin.Audit(context.Background(), "get-order", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Actor != plan.Actor || !strings.Contains(entries[0].Reason, "SLO breach") {
		t.Errorf("the proxy's audit log lacks the rollback: %+v", entries)
	}
	if !slices.ContainsFunc(entries, func(e proxy.AuditEntry) bool {
		return e.Actor == "alice" && strings.HasPrefix(e.Reason, "start the canary plan (plan started by alice")
	}) {
		t.Errorf("the proxy's audit log lacks alice's start with her reason: %+v", entries)
	}
}

// load sends GETs for ever-new order ids until stop is called.
func load(base string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if resp, err := http.Get(fmt.Sprintf("%s/v1/orders/o%d", base, i)); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			close(done)
			<-finished
		}
	}
}
