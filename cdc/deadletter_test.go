package cdc_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/stacktest"
)

// badAddress is a JSON value the source takes and DynamoDB cannot hold, on
// either flavor: a number beyond DynamoDB's 9.9E+125. (A number of 42
// digits is not: MySQL stores it as a double, which fits.)
const badAddress = `{"street": "1 Main St", "zip": 1e200}`

// refusing is a DynamoDB endpoint in front of DynamoDB Local that, while
// on, refuses with ValidationException every write carrying marker (the
// fault a table's item rules or a bad attribute cause), and passes the rest.
type refusing struct {
	URL    string
	on     atomic.Bool
	marker string
}

func newRefusing(t *testing.T, marker string) *refusing {
	t.Helper()
	target, err := url.Parse(stacktest.DynamoDBEndpoint().URL)
	if err != nil {
		t.Fatal(err)
	}
	rf := &refusing{marker: marker}
	rf.on.Store(true)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		op := r.Header.Get("X-Amz-Target")
		if rf.on.Load() && (strings.HasSuffix(op, ".PutItem") || strings.HasSuffix(op, ".TransactWriteItems")) && bytes.Contains(body, []byte(rf.marker)) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"com.amazon.coral.validate#ValidationException","message":"injected fault: the table refuses this item"}`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rf.URL = srv.URL
	return rf
}

// TestStackDeadLetterReplay makes dead letters by an injected fault (a
// DynamoDB that refuses the items of some rows), lists them, replays one
// while the fault is still there (refused, kept, its attempt counted),
// clears the fault and replays it again: the item equals the source row
// (migrator verify). The guard refuses to replay a dead letter whose key
// has a newer image since (the dead letter is then removed as moot). A row the codec cannot encode is dead-lettered
// whole, with no item and its event withheld.
func TestStackDeadLetterReplay(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	ctx := context.Background()
	fault := newRefusing(t, "dl-refuse")
	f.cfg.DynamoDB = awsconf.Local(fault.URL)
	r := f.start(cdc.Options{From: f.current()}, "a")
	store := deadletter.NewStore(f.ddb, f.cfg.ControlTable, nil)
	list := func(n int) map[string]deadletter.Record {
		t.Helper()
		got := map[string]deadletter.Record{}
		waitFor(t, "the cdc's dead letters", 30*time.Second, func() bool {
			l, err := store.List(ctx, deadletter.CDC)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range l {
				got[d.Key] = d
			}
			return len(l) >= n
		})
		return got
	}
	now := time.Now().UTC()
	a := f.insertAt("dl-refuse-a", `{"zip": 1}`, now)
	b := f.insertAt("dl-refuse-b", `{"zip": 2}`, now)
	c := f.insertAt("dl-c", badAddress, now)
	dead := list(3)
	// b changes again, now without the marker: its newer image is written,
	// and its dead letter is stale.
	f.exec("UPDATE orders SET customer_id = 'dl-b', version = version + 1 WHERE id = ?", b)
	waitFor(t, "b's newer image", 30*time.Second, func() bool { return f.item(b) != nil })
	da, db, dc := dead[a], dead[b], dead[c]
	for _, d := range []deadletter.Record{da, db} {
		if d.Kind != deadletter.Item || !strings.Contains(d.Reason, "injected fault") || d.Position == "" {
			t.Errorf("dead letter of a refused item: %+v", d)
		}
	}
	if !strings.Contains(dc.Reason, "shipping_address") {
		t.Errorf("dead letter of a row the codec refuses: %+v", dc)
	}
	if f.item(a) != nil || f.item(c) != nil {
		t.Fatalf("a row whose item was refused has one")
	}
	withheld := events.ID(dc.Position, "orders", c)
	for _, e := range f.accepted() {
		if e.Detail.EventID == withheld {
			t.Fatalf("the event of c's failed change was published")
		}
	}
	if got, err := store.Get(ctx, deadletter.CDC, dc.ID); err != nil || got.Payload.Event == nil || got.Payload.Event.EventID != withheld {
		t.Fatalf("c's dead letter does not hold its withheld event: %+v, %v", got, err)
	}
	r.stop(t)

	// The fault is still there: the replay fails and the dead letter stays.
	rp := f.replayer(f.cfg.Mapping, fault.URL)
	if _, err := rp.Replay(ctx, deadletter.CDC, da.ID); !errors.Is(err, deadletter.ErrStillFailing) {
		t.Fatalf("replay before the fault is cleared: %v, want ErrStillFailing", err)
	}
	if got, err := store.Get(ctx, deadletter.CDC, da.ID); err != nil || got.Attempts != 1 {
		t.Fatalf("after a failed replay: %+v, %v; want it kept with 1 attempt", got, err)
	}

	// Cleared.
	fault.on.Store(false)
	line, err := rp.Replay(ctx, deadletter.CDC, da.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "replay cdc/"+da.ID) || !strings.Contains(line, "by=tester") {
		t.Errorf("audit line %q", line)
	}
	if itemString(f.item(a), "customer_id") != "dl-refuse-a" {
		t.Errorf("a's item after the replay: %v", f.item(a))
	}

	// b's dead letter is older than its item: the guard refuses it, and
	// the dead letter, moot, is removed saying so.
	before := itemString(f.item(b), "customer_id")
	line, err = rp.Replay(ctx, deadletter.CDC, db.ID)
	if err != nil || !strings.Contains(line, "item not written: the position guard refused it") {
		t.Fatalf("replay of b's stale dead letter: %q, %v; want the guard's refusal", line, err)
	}
	if after := itemString(f.item(b), "customer_id"); after != before || after != "dl-b" {
		t.Errorf("b's item changed by a stale replay: %q, was %q", after, before)
	}
	for _, d := range []deadletter.Record{dc} {
		if _, err := store.Remove(ctx, d, "drop", "tester", ""); err != nil {
			t.Fatal(err)
		}
	}
	// c cannot be encoded under this mapping; with it set aside, every
	// item, a's among them, equals its row.
	f.exec("DELETE FROM orders WHERE id = ?", c)
	f.mcfg.DynamoDB = stacktest.DynamoDBEndpoint()
	f.verify(30 * time.Second)
	if left, err := store.List(ctx, deadletter.CDC); err != nil || len(left) != 0 {
		t.Errorf("dead letters left: %v, %v", left, err)
	}
}

// insertAt inserts an order of customer with shipping address addr and
// returns its id.
func (f *fixture) insertAt(customer, addr string, at time.Time) string {
	f.t.Helper()
	res, err := f.db.Exec(insertOrder, customer, "retail", "pending", `[{"sku":"A","quantity":1}]`, "1.00", addr, nil, at, at)
	if err != nil {
		f.t.Fatal(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		f.t.Fatal(err)
	}
	return jsonID(id)
}

// replayer is a Replayer of the fixture's tables and bus decoding rows with
// mapping.
func (f *fixture) replayer(mapping codec.Config, ddbURL string) *deadletter.Replayer {
	f.t.Helper()
	eb, err := awsconf.Local(f.bus.URL).EventBridge(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	ddb, err := awsconf.Local(ddbURL).DynamoDB(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return &deadletter.Replayer{
		Store: deadletter.NewStore(f.ddb, f.cfg.ControlTable, nil),
		Items: guard.NewWriter(ddb, f.cfg.Table, guard.Put, guard.Options{}),
		By:    "tester",
		Publisher: func(source, bus string, dead events.DeadLetterSink) deadletter.Publisher {
			return events.NewPublisher(eb, events.PublisherOptions{Source: source, Bus: bus, DeadLetters: dead})
		},
		Resolve: func(ctx context.Context) (*codec.Mapping, error) {
			db, err := sql.Open("mysql", f.dsn)
			if err != nil {
				return nil, err
			}
			defer db.Close()
			return codec.Resolve(ctx, db, mapping)
		},
	}
}
