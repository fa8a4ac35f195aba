package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/history"
	"github.com/anycompany/strangler/internal/orderitem"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/proxy"
)

// cdcChild, when set in the environment, makes this test binary a cdc
// process (TestMain): the history test kills it with SIGKILL.
const cdcChild = "STRANGLER_E2E_CDC_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(cdcChild) != "" {
		os.Exit(runCDCChild())
	}
	os.Exit(m.Run())
}

// runCDCChild runs `strangler cdc run` as the parent configured it through
// the environment, until SIGTERM (or SIGKILL).
func runCDCChild() int {
	env := func(k string) string { return os.Getenv(cdcChild + "_" + k) }
	cfg := cdc.DefaultConfig()
	cfg.MySQL.DSN = config.Secret(env("DSN"))
	cfg.MySQL.Reconnect = 500 * time.Millisecond
	cfg.DynamoDB = stacktest.DynamoDBEndpoint()
	cfg.EventBridge = awsconf.Local(env("BUS"))
	cfg.Table, cfg.ControlTable = env("TABLE"), env("CONTROL")
	cfg.MetricsListen = env("METRICS")
	cfg.CheckpointInterval = 0
	cfg.Lease.TTL = 2 * time.Second
	cfg.Lease.Owner = env("OWNER")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := cfg.Validate(); err != nil {
		log.Error("cdc child config", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := cdc.Run(ctx, cfg, cdc.Options{From: env("FROM")}, cdc.Env{Log: log, Out: io.Discard}); err != nil {
		log.Error("cdc child", "err", err)
		return 1
	}
	return 0
}

// cdcProcess runs the cdc as a child process that can be killed.
type cdcProcess struct {
	t       *testing.T
	env     []string
	metrics string
	logs    *logBuffer
	mu      sync.Mutex
	cmd     *exec.Cmd
	started int
}

func (c *cdcProcess) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started++
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s_OWNER=history-cdc-%d", cdcChild, c.started))
	cmd.Stdout, cmd.Stderr = c.logs, c.logs
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("starting the cdc process: %v", err)
	}
	c.cmd = cmd
}

// kill9 kills the running cdc with SIGKILL and reaps it.
func (c *cdcProcess) kill9() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

func (c *cdcProcess) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// recorder keeps every call of the history's clients.
type recorder struct {
	mu  sync.Mutex
	ops []history.Op
	// orders are the created ids with the last status a client saw.
	orders map[string]string
	ids    []string
}

func (r *recorder) add(op history.Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	if op.Result == nil {
		return
	}
	if _, ok := r.orders[op.Order]; !ok {
		r.ids = append(r.ids, op.Order)
	}
	r.orders[op.Order] = op.Result.Status
}

// pick returns a created order (an open one, mostly) and its last status:
// four times in five one of the ten newest, so that clients contend on
// the same orders when the write group flips.
func (r *recorder) pick(rng *rand.Rand) (string, string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) == 0 {
		return "", "", false
	}
	from := 0
	if rng.IntN(5) > 0 {
		from = max(0, len(r.ids)-10)
	}
	for range 4 {
		id := r.ids[from+rng.IntN(len(r.ids)-from)]
		if st := r.orders[id]; st != "shipped" && st != "cancelled" {
			return id, st, true
		}
	}
	id := r.ids[rng.IntN(len(r.ids))]
	return id, r.orders[id], true
}

func (r *recorder) created() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// do sends one call through the proxy and records it.
func (s *stack) do(rec *recorder, worker int, kind history.Kind, id, arg string, key string) {
	method, path, body := http.MethodPost, "/v1/orders", ""
	switch kind {
	case history.Create:
		body = fmt.Sprintf(`{"customer_id":"hist-%d","currency":"EUR","items":[{"sku":"SKU-1","name":"Soap","quantity":%d,"unit_price":"2.50"}],`+
			`"shipping_address":{"name":"Ann","line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"}}`, worker, 1+worker)
	case history.Update:
		method, path, body = http.MethodPatch, "/v1/orders/"+id, `{"status":"`+arg+`"}`
	case history.Cancel:
		path = "/v1/orders/" + id + "/cancel"
	}
	op := history.Op{Worker: worker, Kind: kind, Order: id, Arg: arg, Start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, s.ProxyURL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+retailKey)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	op.End = time.Now()
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		op.Status, op.Backend = resp.StatusCode, resp.Header.Get(proxy.HeaderBackend)
		var o struct {
			ID      string `json:"id"`
			Status  string `json:"status"`
			Version uint64 `json:"version"`
		}
		if op.Status/100 == 2 && json.Unmarshal(b, &o) == nil && o.ID != "" {
			op.Order, op.Result = o.ID, &history.State{Version: o.Version, Status: o.Status}
		}
	}
	rec.add(op)
}

// work runs one client until stop closes. Clients 0 and 1 create the
// total orders (each with an Idempotency-Key of its own); the others update
// or cancel created orders, a fifth of the time a cancel.
func (s *stack) work(rec *recorder, worker, total int, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	rng := rand.New(rand.NewPCG(uint64(worker), 15))
	for i := 0; ; i++ {
		pace := time.Duration(10+rng.IntN(30)) * time.Millisecond
		if worker < 2 {
			pace = 20 * time.Millisecond
		}
		select {
		case <-stop:
			return
		case <-time.After(pace): // the pacing of a client, not a wait for a condition
		}
		if worker < 2 {
			if rec.created() < total {
				s.do(rec, worker, history.Create, "", "", fmt.Sprintf("hist-%d-%d", worker, i))
			}
			continue
		}
		id, status, ok := rec.pick(rng)
		switch {
		case !ok:
		case rng.IntN(5) == 0:
			s.do(rec, worker, history.Cancel, id, "", "")
		case status == "processing":
			s.do(rec, worker, history.Update, id, "shipped", "")
		default:
			s.do(rec, worker, history.Update, id, "processing", "")
		}
	}
}

// flip sets the write group to weight, retrying while the cdc gate is
// closed (a raise waits for the cdc), for at most within.
func (s *stack) flip(weight float64, within time.Duration) (refusals int) {
	s.t.Helper()
	admin := &proxy.AdminClient{BaseURL: s.AdminURL, Token: adminToken}
	deadline := time.Now().Add(within)
	for {
		_, err := admin.SetRoute(context.Background(), "order-writes",
			proxy.SetRouteRequest{Weight: &weight, Actor: "history", Reason: fmt.Sprintf("flip to %v %%", weight)})
		if err == nil {
			s.Log.Info("write group flipped", "weight", weight, "refusals", refusals)
			return refusals
		}
		if !strings.Contains(err.Error(), "Write gate closed") || time.Now().After(deadline) {
			s.t.Errorf("flipping the write group to %v %%: %v", weight, err)
			return refusals
		}
		refusals++
		s.Log.Info("write gate closed; retrying the flip", "weight", weight, "err", err)
		time.Sleep(200 * time.Millisecond) // the gate is polled: the cdc is catching up
	}
}

// finalStates reads every order's version and status from both stores:
// legacy by its id (an order of the new service by its ref), DynamoDB by pk
// (tombstones left out).
func (s *stack) finalStates() (legacy, dynamo map[string]history.State) {
	s.t.Helper()
	legacy, dynamo = map[string]history.State{}, map[string]history.State{}
	rows, err := s.DB.QueryContext(s.t.Context(), "SELECT id, order_ref, status, version FROM orders")
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id  uint64
			ref *string
			st  history.State
		)
		if err := rows.Scan(&id, &ref, &st.Status, &st.Version); err != nil {
			s.t.Fatal(err)
		}
		key := strconv.FormatUint(id, 10)
		if ref != nil {
			key = *ref
		}
		legacy[key] = st
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	ddb := stacktest.DynamoDB(s.t)
	p := dynamodb.NewScanPaginator(ddb, &dynamodb.ScanInput{TableName: aws.String(s.Migrator.Table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(s.t.Context())
		if err != nil {
			s.t.Fatal(err)
		}
		for _, it := range page.Items {
			o, err := orderitem.FromItem(it)
			if errors.Is(err, orderitem.ErrTombstone) {
				continue
			}
			if err != nil {
				s.t.Fatalf("decoding an item: %v", err)
			}
			dynamo[o.ID] = history.State{Version: uint64(o.Version), Status: string(o.Status)}
		}
	}
	return legacy, dynamo
}

// events returns the order events the bus accepted.
func (s *stack) events() []history.Event {
	s.t.Helper()
	var out []history.Event
	for _, e := range s.Bus.Accepted(s.t) {
		var d struct {
			EventID  string         `json:"event_id"`
			Order    map[string]any `json:"order"`
			Previous map[string]any `json:"previous"`
		}
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			s.t.Fatalf("an event's detail: %v: %s", err, e.Detail)
		}
		v, _ := d.Order["version"].(float64)
		st, _ := d.Order["status"].(string)
		prev, _ := d.Previous["status"].(string)
		out = append(out, history.Event{ID: d.EventID, DetailType: e.DetailType, Order: fmt.Sprint(d.Order["id"]),
			State: history.State{Version: uint64(v), Status: st}, Previous: prev})
	}
	return out
}

// TestHistoryOneWriter is a Jepsen-style history check of issue 15's
// "one writer per order": 8 clients create, update and cancel the same 200
// orders through the proxy while its write group flips 0 -> 50 -> 100 -> 0
// % and the cdc (a process of its own) is killed with SIGKILL once and
// restarted. Every call is recorded; once everything settled, the checker
// (internal/history) proves offline that every acknowledged write is in the
// final state of both stores or superseded by a later one, and that each
// order's event history is one chain ending in that state.
func TestHistoryOneWriter(t *testing.T) {
	metrics := freePort(t)
	logs := &logBuffer{}
	var proc *cdcProcess
	s := startStackWith(t, stackOptions{
		cdc: func(t *testing.T, cfg cdc.Config, from string) {
			proc = &cdcProcess{t: t, metrics: metrics, logs: logs, env: []string{
				cdcChild + "=1", cdcChild + "_DSN=" + cfg.MySQL.DSN.Reveal(), cdcChild + "_BUS=" + cfg.EventBridge.URL,
				cdcChild + "_TABLE=" + cfg.Table, cdcChild + "_CONTROL=" + cfg.ControlTable,
				cdcChild + "_METRICS=" + metrics, cdcChild + "_FROM=" + from,
			}}
			proc.start()
			t.Cleanup(proc.stop)
		},
		proxy: func(c *proxy.Config) {
			for i := range c.Routes {
				switch c.Routes[i].Name {
				case "create-order", "cancel-order", "update-order":
					c.Routes[i].Mode = ""
				}
			}
			c.WriteGroups = []proxy.WriteGroupConfig{{Name: "order-writes", Routes: []string{"create-order", "cancel-order", "update-order"},
				Mode: proxy.ModeCanary, CDCStatus: "http://" + metrics + "/status", MaxCDCLag: 5 * time.Second, SettleWait: 3 * time.Second}}
		},
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cdc process logs:\n%s", logs.String())
		}
	})

	rec := &recorder{orders: map[string]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go s.work(rec, w, 200, stop, &wg)
	}
	began := time.Now()
	at := func(d time.Duration) { time.Sleep(time.Until(began.Add(d))) } // the schedule of the faults
	refusals := 0
	at(4 * time.Second)
	refusals += s.flip(50, 20*time.Second)
	at(9 * time.Second)
	proc.kill9()
	proc.start()
	at(11 * time.Second)
	refusals += s.flip(100, 20*time.Second) // refused until the new cdc holds the lease and caught up
	at(19 * time.Second)
	refusals += s.flip(0, 5*time.Second)
	at(25 * time.Second)
	close(stop)
	wg.Wait()

	// Settle: the cdc, the relay, the bus and the sync-back deliver what is
	// left; then the stores agree and each order's history ends in its state.
	var rep history.Report
	eventually(t, 30*time.Second, "the stores and the event histories settle", func() string {
		legacy, dynamo := s.finalStates()
		rep = history.Check(rec.ops, legacy, dynamo, s.events())
		if len(rep.Inconsistent) > 0 {
			return rep.Inconsistent[0]
		}
		return ""
	})
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "history: %s; gate refusals %d; cdc processes %d (one killed with SIGKILL)\n", rep, refusals, proc.started)
	byBackend, byStatus := map[string]int{}, map[string]int{}
	for _, op := range rec.ops {
		if op.Acknowledged() {
			byBackend[op.Backend]++
		}
		byStatus[fmt.Sprintf("%s %d", op.Kind, op.Status)]++
	}
	fmt.Fprintf(&buf, "history: acknowledged by legacy %d, by new %d; answers %v\n", byBackend["legacy"], byBackend["new"], byStatus)
	t.Log(buf.String())
	for _, l := range rep.Lost {
		t.Errorf("lost: %s", l)
	}
	if rec.created() < 200 || byBackend["legacy"] == 0 || byBackend["new"] == 0 || proc.started != 2 {
		t.Errorf("the history is too thin to judge: %d orders created, acknowledged by legacy %d and new %d, %d cdc processes",
			rec.created(), byBackend["legacy"], byBackend["new"], proc.started)
	}
}
