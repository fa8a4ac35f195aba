package control_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/stacktest"
)

// clock is a settable clock shared by the leases of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestLeaseOneHolder: on DynamoDB Local, one owner holds the lease at a
// time; the holder renews it; another takes it only once it lapsed or was
// released; a lapsed holder cannot renew.
func TestLeaseOneHolder(t *testing.T) {
	ctx := context.Background()
	api := stacktest.DynamoDB(t)
	table := stacktest.TableName(t, api, "lease")
	if _, err := ddbtable.Ensure(ctx, api, control.Spec(table)); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	a := control.NewLease(api, table, "test#x", "lease", "a", 10*time.Second, clk.now)
	b := control.NewLease(api, table, "test#x", "lease", "b", 10*time.Second, clk.now)

	take := func(l *control.Lease, want bool) {
		t.Helper()
		until, ok, err := l.Acquire(ctx)
		if err != nil {
			t.Fatalf("%s: %v", l.Owner(), err)
		}
		if ok != want {
			t.Fatalf("%s acquired %v, want %v", l.Owner(), ok, want)
		}
		if ok && !until.Equal(clk.now().Add(10*time.Second)) {
			t.Fatalf("%s holds until %v, want now + TTL", l.Owner(), until)
		}
	}
	holder := func(want string) {
		t.Helper()
		st, ok, err := a.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := map[bool]string{true: st.Owner}[ok]; got != want {
			t.Fatalf("holder %q, want %q", got, want)
		}
	}

	holder("")
	take(a, true)
	take(b, false)
	clk.add(9 * time.Second)
	take(a, true) // renewed: until now + 10 s
	clk.add(9 * time.Second)
	take(b, false)
	holder("a")
	clk.add(2 * time.Second) // a lapsed
	take(b, true)
	take(a, false)
	holder("b")
	if err := a.Release(ctx); err != nil { // not a's: a no-op
		t.Fatal(err)
	}
	holder("b")
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	holder("")
	take(a, true)
}
