package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/orders/relay"
)

// TestStackKillNineMidPublish runs the relay as a child process over 2,000
// records of 100 orders, kills it with SIGKILL once about half the events
// were accepted, and starts another relay (another owner, so it must wait
// for the dead one's leases to expire): every record's event is received at
// least once, repeats share their event_id, per order the first occurrences
// come in seq order, and the outbox ends empty.
func TestStackKillNineMidPublish(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	f.cfg.Poll.PageSize = 20 // many pages in flight when the kill lands
	recs := f.records("k", 100, 20)
	f.write(recs)

	first := f.spawn("first")
	deadline := time.Now().Add(60 * time.Second)
	for f.bus.Server.Stats().Accepted < int64(len(recs)/2) {
		if time.Now().After(deadline) {
			t.Fatalf("the relay published only %d events in 60s", f.bus.Server.Stats().Accepted)
		}
		time.Sleep(2 * time.Millisecond)
	}
	first.kill()
	killedAt := time.Now()
	accepted, left := f.bus.Server.Stats().Accepted, f.backlog()
	t.Logf("killed the relay after %d accepted events; %d records left in the outbox", accepted, left)
	if left == 0 {
		t.Fatalf("the kill came after the outbox drained: the test proves nothing")
	}

	f.spawn("second")
	leases := relay.NewLeases(f.ddb, f.table, "observer", time.Second, nil)
	waitFor(t, f.cfg.Lease.TTL+10*time.Second, "the second relay to take every shard", func() bool {
		for s := range f.cfg.Shards {
			owner, _, err := leases.Holder(context.Background(), s)
			if err != nil || owner != "second" {
				return false
			}
		}
		return true
	})
	took := time.Since(killedAt)
	t.Logf("the second relay held every shard %v after the kill (lease ttl %v)", took.Round(time.Millisecond), f.cfg.Lease.TTL)
	if took > f.cfg.Lease.TTL+3*time.Second {
		t.Errorf("takeover took %v", took)
	}
	waitFor(t, 60*time.Second, "the outbox to drain", func() bool { return f.backlog() == 0 })
	waitFor(t, 30*time.Second, "every delivery", func() bool { return len(f.recv.deliveries()) >= len(recs) })
	time.Sleep(200 * time.Millisecond)
	dups := checkDelivered(t, recs, f.recv.deliveries())
	t.Logf("%d events received for %d records: %d duplicates after the crash", len(f.recv.deliveries()), len(recs), dups)
}
