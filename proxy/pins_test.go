package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMemoryPinsEvicted: the memory store sweeps expired pins and never
// keeps more than MaxPins, and a live pin still holds after a sweep.
func TestMemoryPinsEvicted(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore()
	m.MaxPins = 5000
	t0 := time.Unix(1_000_000, 0)
	for i := range 3000 {
		if _, _, err := m.Pin(ctx, fmt.Sprintf("old-%d", i), BackendLegacy, t0, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	t1 := t0.Add(2 * time.Minute)
	if got, _, _ := m.Pin(ctx, "live", BackendNew, t1, time.Hour); got != BackendNew {
		t.Fatalf("live pin: %s", got)
	}
	for i := range 2100 {
		_, _, _ = m.Pin(ctx, fmt.Sprintf("new-%d", i), BackendLegacy, t1, time.Hour)
	}
	if n := len(m.pins); n > 2200 {
		t.Errorf("%d pins kept after the first 3000 expired, want at most 2200", n)
	}
	if got, _, _ := m.Pin(ctx, "live", BackendLegacy, t1, time.Hour); got != BackendNew {
		t.Errorf("the live pin was lost in a sweep: %s", got)
	}
	for i := range 20000 {
		_, _, _ = m.Pin(ctx, fmt.Sprintf("flood-%d", i), BackendLegacy, t1, time.Hour)
	}
	if n := len(m.pins); n > m.MaxPins {
		t.Errorf("%d live pins kept, MaxPins %d", n, m.MaxPins)
	}
}

// TestPinnerDropsExpired: the Pinner's LRU lets expired pins go at the next
// pin remembered, not only when its size is reached.
func TestPinnerDropsExpired(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	p := NewPinner(NewMemoryStore(), IdempotencyConfig{TTL: time.Minute, CacheSize: 1000, PinBudget: time.Second},
		func() time.Time { return now }, NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
	for i := range 100 {
		if _, err := p.Pin(context.Background(), fmt.Sprintf("k%d", i), BackendLegacy); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * time.Minute)
	if _, err := p.Pin(context.Background(), "fresh", BackendNew); err != nil {
		t.Fatal(err)
	}
	if n := p.lru.Len(); n != 1 {
		t.Errorf("%d pins in the LRU after the others expired, want 1", n)
	}
}
