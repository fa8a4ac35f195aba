package cdc_test

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/migrator"
)

// inOrder asserts that, in the bus's acceptance order, every order's events
// come in source position order.
func inOrder(t *testing.T, evs []event) {
	t.Helper()
	last := map[string]string{}
	bad := 0
	for _, e := range evs {
		id := jsonID(e.Detail.Order["id"])
		if p, ok := last[id]; ok && !lessNum(p, e.Detail.SourcePosition) {
			bad++
			if bad < 5 {
				t.Errorf("order %s: event at %s accepted after one at %s", id, e.Detail.SourcePosition, p)
			}
		}
		last[id] = e.Detail.SourcePosition
	}
}

// TestStackBusFaults publishes through a bus failing 20% of entries and
// throttling 20% of calls: nothing is lost, nothing is accepted out of
// per-order order, DynamoDB ends equal.
func TestStackBusFaults(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{FailRatio: 0.2, ThrottleRatio: 0.2})
	f.cfg.Apply.MaxBatch = 500
	r := f.start(cdc.Options{From: f.current()}, "a")
	changes := f.workload(300, 6)
	f.verify(30 * time.Second)
	evs := f.waitEvents(changes, 30*time.Second)
	if dups := f.checkEvents(evs, changes); dups != 0 {
		t.Errorf("%d duplicates without a crash", dups)
	}
	inOrder(t, evs)
	st := f.bus.Server.Stats()
	t.Logf("%d changes, %d events; bus stats %+v", changes, len(evs), st)
	r.stop(t)
}

// TestStackRotationAndReconnect crosses binlog rotations (max_binlog_size
// 4096) and a killed replication connection mid-stream.
func TestStackRotationAndReconnect(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	var size int64
	if err := f.db.QueryRow("SELECT @@GLOBAL.max_binlog_size").Scan(&size); err != nil {
		t.Fatal(err)
	}
	f.exec("SET GLOBAL max_binlog_size = 4096")
	t.Cleanup(func() { _, _ = f.db.Exec("SET GLOBAL max_binlog_size = ?", size) })
	files := func() int {
		rows, err := f.db.Query("SHOW BINARY LOGS")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		cols, _ := rows.Columns()
		dest := make([]any, len(cols))
		for i := range dest {
			dest[i] = new(any)
		}
		for rows.Next() {
			_ = rows.Scan(dest...)
			n++
		}
		return n
	}
	before := files()
	r := f.start(cdc.Options{From: f.current()}, "a")
	changes := f.workload(200, 3)
	// Break the replication connection(s) mid-stream; the cdc reconnects.
	killed := 0
	var ids []int64
	for deadline := time.Now().Add(15 * time.Second); len(ids) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		rows, err := f.db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1)")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			_ = rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
	}
	for _, id := range ids {
		if _, err := f.db.Exec("KILL CONNECTION ?", id); err == nil {
			killed++
		}
	}
	changes += f.workload(200, 3)
	f.verify(30 * time.Second)
	evs := f.waitEvents(changes, 20*time.Second)
	f.checkEvents(evs, changes)
	rotations := files() - before
	t.Logf("%d changes across %d new binlog files; killed %d replication connections", changes, rotations, killed)
	if rotations < 5 || killed == 0 {
		t.Errorf("rotations %d, killed connections %d: the test did not exercise them", rotations, killed)
	}
	r.stop(t)
}

// TestStackAddedColumn starts the cdc after a column was added (in the
// middle of the row) from a position before it: older events are decoded
// with their own columns, newer ones carry the new column.
func TestStackAddedColumn(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	from := f.current()
	a := f.insert("c1", "accepted", "1.00")
	f.exec("ALTER TABLE orders ADD COLUMN loyalty_tier VARCHAR(16) NULL AFTER customer_id")
	b := f.insert("c2", "accepted", "2.00")
	f.exec("UPDATE orders SET loyalty_tier = 'gold' WHERE id IN (?, ?)", a, b)
	f.start(cdc.Options{From: from}, "a")
	f.verify(15 * time.Second)
	// A column added while it runs.
	f.exec("ALTER TABLE orders ADD COLUMN referrer VARCHAR(32) NULL")
	f.exec("UPDATE orders SET referrer = 'ad', status = 'processing' WHERE id = ?", a)
	f.verify(15 * time.Second)
	evs := f.waitEvents(5, 10*time.Second)
	last := byOrder(evs)[jsonID(float64(a))]
	if len(last) == 0 {
		t.Fatalf("no events for order %d", a)
	}
	o := last[len(last)-1].Detail.Order
	if o["referrer"] != "ad" || o["loyalty_tier"] != "gold" || o["status"] != "processing" {
		t.Errorf("latest event of order %d: %v", a, o)
	}
}

// TestStackBackfillConcurrentUnderLoad runs the backfill (guarded
// transact mode) while the cdc streams and writers keep changing the table:
// verify reports equal.
func TestStackBackfillConcurrentUnderLoad(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	f.workload(3000, 0)
	from := f.current()
	ctx, stop := context.WithCancel(context.Background())
	var (
		wg     sync.WaitGroup
		ops    atomic.Int64 // changes the writers made
		lo, hi int64
	)
	if err := f.db.QueryRow("SELECT MIN(id), MAX(id) FROM orders").Scan(&lo, &hi); err != nil {
		t.Fatal(err)
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for ctx.Err() == nil {
				id := lo + rng.Int64N(hi-lo+1)
				switch rng.IntN(10) {
				case 0:
					_, _ = f.db.Exec("DELETE FROM orders WHERE id = ?", id)
				case 1, 2:
					_, _ = f.db.Exec(insertOrder, "load", "retail", "pending", "[]", "3.30", nil, nil, time.Now().UTC(), time.Now().UTC())
				default:
					_, _ = f.db.Exec("UPDATE orders SET version = version + 1, total = total + 0.01, status = IF(status = 'accepted', 'processing', 'accepted') WHERE id = ?", id)
				}
				ops.Add(1)
			}
		}()
	}
	f.start(cdc.Options{From: from}, "a")
	mcfg := f.mcfg
	mcfg.Backfill.ChunkSize = 250
	mcfg.Backfill.Workers = 4
	sum, err := migrator.RunBackfill(context.Background(), mcfg, migrator.Env{Log: f.log, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	// The writers go on past the backfill's end, so the cdc also applies
	// changes newer than every chunk.
	after := ops.Load()
	waitFor(t, "writes after the backfill", 30*time.Second, func() bool { return ops.Load() >= after+200 })
	stop()
	wg.Wait()
	f.verify(30 * time.Second)
	t.Logf("backfill: %d rows read, %d written, %d skipped as older while the cdc ran under load", sum.RowsRead, sum.RowsWritten, sum.RowsSkipped)
}

// TestStackBusOutage: the bus throttles every call until a batch failed
// twice past the publisher's own attempts (the errors show on /metrics):
// the batch is applied again until the bus is back, and nothing is lost.
func TestStackBusOutage(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	f.cfg.Events.MaxAttempts = 2
	r := f.start(cdc.Options{From: f.current()}, "a")
	f.bus.Server.SetFaults(eventbus.FaultConfig{ThrottleRatio: 1})
	changes := f.workload(100, 2)
	// The outage lasts until a batch failed past the publisher's own
	// attempts twice: the cdc applies it again.
	waitFor(t, "a batch failed twice in the outage", 30*time.Second, func() bool { return labelled(r.reg, "strangler_cdc_errors_total", "apply") >= 2 })
	f.bus.Server.SetFaults(eventbus.FaultConfig{})
	f.verify(30 * time.Second)
	evs := f.waitEvents(changes, 30*time.Second)
	f.checkEvents(evs, changes)
	t.Logf("%d changes through a bus outage; %v batch attempts failed", changes, labelled(r.reg, "strangler_cdc_errors_total", "apply"))
}
