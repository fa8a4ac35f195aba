package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/orders/relay"
)

// TestStackLeaseOneRelayPerShard runs two relays on one table: the second
// publishes nothing while the first holds every shard, and takes every
// shard over once the first stops.
func TestStackLeaseOneRelayPerShard(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	a := f.start("a")
	waitFor(t, 10*time.Second, "a to hold every shard", func() bool { return a.value(t, "strangler_relay_shards_held") == float64(f.cfg.Shards) })
	b := f.start("b")
	recs := f.records("l", 20, 5)
	f.write(recs)
	waitFor(t, 20*time.Second, "the outbox to drain", func() bool { return f.backlog() == 0 })
	if v := b.value(t, "strangler_relay_events_published_total"); v != 0 {
		t.Errorf("b published %v events while a held every shard", v)
	}
	if v := b.value(t, "strangler_relay_shards_held"); v != 0 {
		t.Errorf("b holds %v shards while a holds them", v)
	}
	leases := relay.NewLeases(f.ddb, f.table, "observer", time.Second, nil)
	holders := func(want string) bool {
		for s := range f.cfg.Shards {
			if owner, _, err := leases.Holder(context.Background(), s); err != nil || owner != want {
				return false
			}
		}
		return true
	}
	if !holders("a") {
		t.Errorf("a does not hold every lease")
	}

	a.stop() // releases its leases: b need not wait for them to expire
	stopped := time.Now()
	waitFor(t, f.cfg.Lease.TTL+5*time.Second, "b to take every shard", func() bool { return holders("b") })
	t.Logf("b held every shard %v after a stopped", time.Since(stopped).Round(time.Millisecond))
	more := f.records("m", 10, 3)
	f.write(more)
	waitFor(t, 20*time.Second, "the outbox to drain", func() bool { return f.backlog() == 0 })
	waitFor(t, 10*time.Second, "every delivery", func() bool { return len(f.recv.deliveries()) >= len(recs)+len(more) })
	if v := b.value(t, "strangler_relay_events_published_total"); v != float64(len(more)) {
		t.Errorf("b published %v events, want %d", v, len(more))
	}
	checkDelivered(t, append(recs, more...), f.recv.deliveries())
}

// TestStackMaxShardsSplitsTheWork runs two relays limited to half the
// shards each: each holds its half, and together they publish everything.
func TestStackMaxShardsSplitsTheWork(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	f.cfg.MaxShards = f.cfg.Shards / 2
	a, b := f.start("a"), f.start("b")
	half := float64(f.cfg.Shards / 2)
	waitFor(t, 10*time.Second, "each relay to hold half the shards", func() bool {
		return a.value(t, "strangler_relay_shards_held") == half && b.value(t, "strangler_relay_shards_held") == half
	})
	recs := f.records("s", 40, 3)
	f.write(recs)
	waitFor(t, 20*time.Second, "the outbox to drain", func() bool { return f.backlog() == 0 })
	waitFor(t, 10*time.Second, "every delivery", func() bool { return len(f.recv.deliveries()) >= len(recs) })
	pa, pb := a.value(t, "strangler_relay_events_published_total"), b.value(t, "strangler_relay_events_published_total")
	if pa == 0 || pb == 0 || pa+pb != float64(len(recs)) {
		t.Errorf("a published %v, b %v, want both some and %d in all", pa, pb, len(recs))
	}
	checkDelivered(t, recs, f.recv.deliveries())
}
