package proxy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// TestRingKeepsTheLastSamples: the ring keeps its size's newest samples,
// oldest first, before and after it wraps.
func TestRingKeepsTheLastSamples(t *testing.T) {
	r := &ring{buf: make([]HistorySample, 3)}
	at := func(s ...int) []HistorySample {
		out := []HistorySample{}
		for _, n := range s {
			out = append(out, HistorySample{At: time.Unix(int64(n), 0)})
		}
		return out
	}
	for n, want := range [][]HistorySample{at(), at(0), at(0, 1), at(0, 1, 2), at(1, 2, 3), at(2, 3, 4), at(3, 4, 5), at(4, 5, 6)} {
		if diff := cmp.Diff(want, r.samples()); diff != "" {
			t.Fatalf("after %d samples (-want +got):\n%s", n, diff)
		}
		r.add(HistorySample{At: time.Unix(int64(n), 0)})
	}
}

// TestHistorySamples: each sample holds the last minute's figures of a
// route (a write group's: its members' together) at the injected clock's
// time; a name gone from the table is dropped, and memory stays bounded.
func TestHistorySamples(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	st := NewStats(NewMetrics(prometheus.NewRegistry()), clock)
	h := NewHistory(st, clock, 10*time.Second, 4)
	units := map[string][]string{"a": {"a"}, "b": {"b"}, "g": {"a", "b"}}
	for i := range 6 {
		st.route("a").backend(BackendLegacy).record(now, 200, 3*time.Millisecond)
		st.route("b").backend(BackendNew).record(now, 500, 40*time.Millisecond)
		h.sample(units)
		if i < 5 {
			now = now.Add(10 * time.Second)
		}
	}
	got, ok := h.Samples("g")
	if !ok || len(got) != 4 {
		t.Fatalf("group g: %d samples (known %v), want the last 4", len(got), ok)
	}
	if !got[0].At.Equal(now.Add(-30*time.Second)) || !got[3].At.Equal(now) {
		t.Errorf("group g's samples from %v to %v, want %v to %v", got[0].At, got[3].At, now.Add(-30*time.Second), now)
	}
	// The last minute holds all 6 requests of each backend (5 10-s steps).
	last := got[3]
	if last.Legacy.Requests != 6 || last.Legacy.Errors != 0 || last.New.Requests != 6 || last.New.Errors != 6 {
		t.Errorf("group g's last sample %+v, want 6 legacy requests without errors and 6 new ones all 5xx", last)
	}
	if last.New.P99ms < 40 || last.New.P99ms > 46 {
		t.Errorf("group g's new p99 %.1f ms, want about 40", last.New.P99ms)
	}
	a, _ := h.Samples("a")
	if a[3].New.Requests != 0 || a[3].Legacy.Requests != 6 {
		t.Errorf("route a's last sample %+v, want only its own legacy requests", a[3])
	}
	delete(units, "b")
	h.sample(units)
	if _, ok := h.Samples("b"); ok {
		t.Errorf("route b is gone from the table but still has a history")
	}
}
