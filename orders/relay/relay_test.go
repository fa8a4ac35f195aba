package relay_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/orders/outbox"
)

// TestStackPublishesOnceInOrderAndDeletes writes records of many orders,
// runs a relay: each record's event arrives exactly once (no fault, no
// crash), in seq order per order, and the outbox ends empty.
func TestStackPublishesOnceInOrderAndDeletes(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	recs := f.records("a", 40, 6)
	f.write(recs)
	r := f.start("one")
	waitFor(t, 30*time.Second, "the outbox to drain", func() bool { return f.backlog() == 0 })
	waitFor(t, 10*time.Second, "every delivery", func() bool { return len(f.recv.deliveries()) >= len(recs) })
	// The outbox is empty, so the relay published all it ever will (it
	// deletes a record only once its event was accepted): once the bus has
	// delivered everything it accepted, a duplicate would be among them.
	accepted := int(f.bus.Server.Stats().Accepted)
	waitFor(t, 10*time.Second, "the bus to deliver all it accepted", func() bool { return len(f.recv.deliveries()) >= accepted })
	if dups := checkDelivered(t, recs, f.recv.deliveries()); dups != 0 {
		t.Errorf("%d duplicates without a crash", dups)
	}
	if got := r.value(t, "strangler_relay_events_published_total"); got != float64(len(recs)) {
		t.Errorf("published metric %v, want %d", got, len(recs))
	}
	if got := r.value(t, "strangler_relay_shards_held"); got != float64(f.cfg.Shards) {
		t.Errorf("shards held %v, want %d", got, f.cfg.Shards)
	}
	// Records written while it runs are picked up too (the idle poll).
	more := f.records("b", 5, 2)
	f.write(more)
	waitFor(t, 10*time.Second, "records written later", func() bool { return len(f.recv.deliveries()) >= len(recs)+len(more) })
	waitFor(t, 10*time.Second, "the outbox to drain again", func() bool { return f.backlog() == 0 })
	checkDelivered(t, append(recs, more...), f.recv.deliveries())
}

// TestStackBusFaultsAndDeadLetter publishes through a bus that fails a
// fifth of the entries and throttles a tenth of the calls, with one record
// the bus can never accept (a detail over 256 KiB) among them: every other
// record arrives in order, the big one lands in the dead letters with its
// reason and its whole detail (too large for an item of its own: it is
// compressed), and leaves the outbox.
func TestStackBusFaultsAndDeadLetter(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{FailRatio: 0.2, ThrottleRatio: 0.1})
	recs := f.records("f", 30, 5)
	now := time.Now()
	big, err := outbox.NewRecord(change("ord_big", 1, strings.Repeat("x", 370<<10)), f.seq.Next(now), f.cfg.Shards, now)
	if err != nil {
		t.Fatal(err)
	}
	after, err := outbox.NewRecord(change("ord_big", 2, ""), f.seq.Next(now), f.cfg.Shards, now)
	if err != nil {
		t.Fatal(err)
	}
	f.write(recs)
	f.write([]outbox.Record{big, after})
	r := f.start("faulty")
	waitFor(t, 60*time.Second, "the outbox to drain", func() bool { return f.backlog() == 0 })
	waitFor(t, 30*time.Second, "every delivery", func() bool { return len(f.recv.deliveries()) >= len(recs)+1 })
	got := f.recv.deliveries()
	// The order's next record is still published: the big one is handled.
	checkDelivered(t, append(recs, after), got)
	for _, d := range got {
		if d.EventID == big.Entry().EventID {
			t.Errorf("the oversized event was delivered")
		}
	}
	dead := deadletter.NewStore(f.ddb, f.cfg.ControlTable, nil)
	list, err := dead.List(context.Background(), deadletter.Relay)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d dead letters, want 1: %v", len(list), list)
	}
	d, err := dead.Get(context.Background(), deadletter.Relay, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	ev := d.Payload.Event
	if d.ID != big.Entry().EventID || d.Key != "ord_big" || !strings.Contains(d.Reason, "256 KiB") || ev == nil ||
		ev.EventID != big.Entry().EventID || ev.Source != outbox.DefaultSource || ev.DetailType != big.DetailType {
		t.Fatalf("dead letter: %+v", d)
	}
	if got := ev.DetailBytes(); !bytes.Equal(got, big.Detail) {
		t.Errorf("the dead letter's detail is %d bytes, the record's %d: not kept whole", len(got), len(big.Detail))
	}
	st := f.bus.Server.Stats()
	if st.InjectedFailures == 0 || st.Throttled == 0 {
		t.Errorf("faults not exercised: %+v", st)
	}
	if v := r.value(t, "strangler_relay_dead_letters_total"); v != 1 {
		t.Errorf("dead letter metric %v, want 1", v)
	}
}

// TestStackMalformedRecordIsDeadLettered puts an outbox item without a
// detail among good ones: it moves to the dead letters, the rest publish.
func TestStackMalformedRecordIsDeadLettered(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	recs := f.records("m", 3, 2)
	f.write(recs)
	bad := recs[0].Item()
	bad[outbox.SK] = control.S("00000000000000000001#ord_bad")
	delete(bad, outbox.AttrDetail)
	if _, err := f.ddb.PutItem(context.Background(), putInput(f.table, bad)); err != nil {
		t.Fatal(err)
	}
	f.start("m")
	waitFor(t, 20*time.Second, "the outbox to drain", func() bool { return f.backlog() == 0 })
	waitFor(t, 10*time.Second, "every delivery", func() bool { return len(f.recv.deliveries()) >= len(recs) })
	checkDelivered(t, recs, f.recv.deliveries())
	dead, err := deadletter.NewStore(f.ddb, f.cfg.ControlTable, nil).List(context.Background(), deadletter.Relay)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != outbox.ShardKey(recs[0].Shard)+"/00000000000000000001#ord_bad" || !strings.Contains(dead[0].Reason, "malformed") {
		t.Errorf("dead letters: %+v", dead)
	}
}
