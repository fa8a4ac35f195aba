package cdc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/events"
)

// workload makes orders orders (inserts in transactions of 100 rows), then
// rounds updates of every order (transactions of 500 rows, version+1 each),
// then deletes every 50th order: orders*(1+rounds)+orders/50 row changes.
func (f *fixture) workload(orders, rounds int) int {
	f.t.Helper()
	n := 0
	for start := 0; start < orders; start += 100 {
		var vals []string
		for i := start; i < min(start+100, orders); i++ {
			vals = append(vals, fmt.Sprintf("('w%d', 'wholesale', 'accepted', 'USD', '[]', %d.25, NULL, NULL, NOW(6), NOW(6))", i, i))
			n++
		}
		f.exec("INSERT INTO orders (customer_id, channel, status, currency, items, total, shipping_address, notes, created_at, updated_at) VALUES " + strings.Join(vals, ", "))
	}
	var lo, hi int64
	if err := f.db.QueryRow("SELECT MIN(id), MAX(id) FROM orders").Scan(&lo, &hi); err != nil {
		f.t.Fatal(err)
	}
	for r := 0; r < rounds; r++ {
		for from := lo; from <= hi; from += 500 {
			res, err := f.db.Exec("UPDATE orders SET version = version + 1, total = total + 1, updated_at = NOW(6) WHERE id BETWEEN ? AND ?", from, from+499)
			if err != nil {
				f.t.Fatal(err)
			}
			c, _ := res.RowsAffected()
			n += int(c)
		}
	}
	res, err := f.db.Exec("DELETE FROM orders WHERE id % 50 = 0")
	if err != nil {
		f.t.Fatal(err)
	}
	c, _ := res.RowsAffected()
	return n + int(c)
}

// checkEvents asserts at-least-once delivery in order: every change has an
// event (per order: created with version 1, then each version once, ending
// at MySQL's version or a delete), duplicates share their event_id.
func (f *fixture) checkEvents(evs []event, changes int) (dups int) {
	f.t.Helper()
	idOf := map[string]string{} // position+key -> event id
	distinct := map[string]event{}
	for _, e := range evs {
		k := e.Detail.SourcePosition + "/" + jsonID(e.Detail.Order["id"])
		if id, ok := idOf[k]; ok {
			dups++
			if id != e.Detail.EventID {
				f.t.Errorf("change %s published with event ids %s and %s", k, id, e.Detail.EventID)
			}
			continue
		}
		idOf[k] = e.Detail.EventID
		distinct[k] = e
	}
	if len(distinct) != changes {
		f.t.Errorf("%d distinct events for %d changes", len(distinct), changes)
	}
	var l []event
	for _, e := range distinct {
		l = append(l, e)
	}
	versions := map[string]int64{}
	rows, err := f.db.Query("SELECT id, version FROM orders")
	if err != nil {
		f.t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var v int64
		if err := rows.Scan(&id, &v); err != nil {
			f.t.Fatal(err)
		}
		versions[id] = v
	}
	rows.Close()
	gaps := 0
	for id, seq := range byOrder(l) {
		want := int64(1)
		for i, e := range seq {
			if e.DetailType == events.OrderDeleted {
				if i != len(seq)-1 {
					f.t.Errorf("order %s: events after its delete", id)
				}
				if _, alive := versions[id]; alive {
					f.t.Errorf("order %s: deleted event but the row exists", id)
				}
				continue
			}
			v, _ := e.Detail.Order["version"].(float64)
			if int64(v) != want {
				gaps++
				if gaps < 5 {
					f.t.Errorf("order %s: event %d has version %v, want %d (a gap)", id, i, v, want)
				}
			}
			want = int64(v) + 1
		}
		if mv, alive := versions[id]; alive && mv != want-1 {
			f.t.Errorf("order %s: last event version %d, MySQL has %d", id, want-1, mv)
		}
	}
	return dups
}

// TestStackKillNineTakeover runs the cdc as a child process with a standby
// beside it, drives a 50,000-change workload, kills the active one with
// SIGKILL mid-stream: the standby takes over from the checkpoint within
// seconds, DynamoDB ends equal to MySQL, every change has an accepted event,
// duplicates share their event id, and no order's event sequence has a gap.
func TestStackKillNineTakeover(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	f.cfg.Apply.MaxBatch = 3000 // updates of a key coalesce across rounds; the kill lands inside a batch
	from := f.current()
	active := f.spawn("active", from)
	waitFor(t, "the active cdc takes the lease", 30*time.Second, func() bool { return f.leaseOwner() == "active" })
	f.spawn("standby", from)

	changes := f.workload(2000, 24)
	t.Logf("workload: %d row changes", changes)
	// Kill once a good part is through, never at a quiet moment.
	deadline := time.Now().Add(60 * time.Second)
	seen := 0
	for seen = int(f.bus.Server.Stats().Accepted); seen < changes/4; seen = int(f.bus.Server.Stats().Accepted) {
		if time.Now().After(deadline) {
			t.Fatalf("the cdc published only %d events in 60s", seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
	killedAt := time.Now()
	active.kill()

	// The standby takes over from the checkpoint: the lease moves.
	var took time.Duration
	for {
		var owner string
		out, err := f.ddb.GetItem(context.Background(), leaseKey(f))
		if err == nil && out.Item != nil {
			owner = itemString(out.Item, "owner")
		}
		if owner == "standby" {
			took = time.Since(killedAt)
			break
		}
		if time.Since(killedAt) > 20*time.Second {
			t.Fatalf("the standby did not take the lease within 20s (holder %q)", owner)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("killed the active cdc after at least %d events; the standby took over %v after the kill (lease ttl %v)", seen, took.Round(time.Millisecond), f.cfg.Lease.TTL)
	if took > f.cfg.Lease.TTL+3*time.Second {
		t.Errorf("takeover took %v", took)
	}

	f.verify(90 * time.Second)
	evs := f.waitEvents(changes, 60*time.Second)
	dups := f.checkEvents(evs, changes)
	t.Logf("%d events accepted for %d changes: %d duplicates after the crash", len(evs), changes, dups)
}
