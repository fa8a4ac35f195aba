package proxy

import (
	"container/list"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// PinStore keeps the first backend that saw each idempotency key, agreed
// between replicas: Pin records b for key unless a live pin exists, and
// returns the pin that holds with its expiry.
type PinStore interface {
	Pin(ctx context.Context, key string, b Backend, now time.Time, ttl time.Duration) (Backend, time.Time, error)
}

// Pinner pins POSTs carrying an Idempotency-Key to the backend that first
// saw the key, so a retry after a weight change reaches the same system and
// is deduplicated there instead of creating the order twice. The pin is
// off the critical path of the backend it picks: a store that does not
// answer within the budget (idempotency.pin_budget) is passed over, and
// the request goes where its sticky bucket says (fail open: counted as
// proxy_idempotency_pins_total{result="fail_open"} and logged), since a
// slow control table must never stall creates on legacy. An LRU of
// recent pins sits in front of the store; expired pins leave it at the next
// pin remembered. Never copy one.
type Pinner struct {
	store PinStore
	now   func() time.Time
	m     *Metrics
	log   *slog.Logger

	mu     sync.Mutex
	ttl    time.Duration
	budget time.Duration
	size   int
	lru    *list.List // of *pinEntry, most recent first
	byKey  map[string]*list.Element
}

// pinWriteTimeout bounds a pin write that outlived its request's budget;
// behindWriteTimeout one written behind its request, which nobody waits
// for (a saturated DynamoDB Local took over 10 s).
const (
	pinWriteTimeout    = 10 * time.Second
	behindWriteTimeout = time.Minute
)

type pinEntry struct {
	key     string
	backend Backend
	expires time.Time
}

// NewPinner returns a Pinner over store with cfg's TTL, budget and LRU size.
func NewPinner(store PinStore, cfg IdempotencyConfig, now func() time.Time, m *Metrics, logger *slog.Logger) *Pinner {
	p := &Pinner{store: store, now: now, m: m, log: logger, lru: list.New(), byKey: map[string]*list.Element{}}
	p.SetLimits(cfg)
	return p
}

// SetLimits applies a new TTL (to pins made from now on), budget and LRU
// size (a smaller one drops the least recent pins at once; they stay in
// the store).
func (p *Pinner) SetLimits(cfg IdempotencyConfig) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ttl, p.budget, p.size = cfg.TTL, cfg.PinBudget, cfg.CacheSize
	for p.lru.Len() > p.size {
		e := p.lru.Back()
		p.lru.Remove(e)
		delete(p.byKey, e.Value.(*pinEntry).key)
	}
}

// Pin returns the backend key is pinned to, pinning it to b when it is
// new. When the store fails or does not answer within the budget it
// returns b (fail open); it fails only when ctx ended (the client left).
func (p *Pinner) Pin(ctx context.Context, key string, b Backend) (Backend, error) {
	now := p.now()
	p.mu.Lock()
	ttl, budget := p.ttl, p.budget
	p.mu.Unlock()
	if got, ok := p.cached(key, now); ok {
		p.m.pins.WithLabelValues("cached").Inc()
		return got, nil
	}
	// The write goes on past the budget (detached from the request, bounded
	// by pinWriteTimeout), so a retry seconds later still finds the pin.
	type result struct {
		got     Backend
		expires time.Time
		err     error
	}
	done := make(chan result, 1)
	go func() {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pinWriteTimeout)
		defer cancel()
		got, expires, err := p.store.Pin(wctx, key, b, now, ttl)
		if err == nil {
			p.remember(key, got, expires)
		}
		done <- result{got, expires, err}
	}()
	timer := time.NewTimer(budget)
	defer timer.Stop()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return "", fmt.Errorf("pinning idempotency key: %w", ctx.Err())
	case <-timer.C:
		res.err = fmt.Errorf("no answer within %v", budget)
	}
	got, err := res.got, res.err
	if err != nil {
		p.m.pins.WithLabelValues("fail_open").Inc()
		p.log.Warn("idempotency pin skipped: the store failed or was slow; the request goes by its sticky bucket",
			"backend", b, "budget", budget, "err", err)
		return b, nil
	}
	if got == b {
		p.m.pins.WithLabelValues("created").Inc()
	} else {
		p.m.pins.WithLabelValues("existing").Inc()
	}
	return got, nil
}

// PinBehind pins key to b without waiting for the store, for a route that
// sends nothing to new and has not for a pin's TTL, so no key of it can be
// pinned elsewhere: b is where a retry goes anyway. It returns the cached
// pin, or b while the write goes on behind the request (counted as
// result="behind"), so a later flip of the route still finds the key.
func (p *Pinner) PinBehind(ctx context.Context, key string, b Backend) Backend {
	now := p.now()
	if got, ok := p.cached(key, now); ok {
		p.m.pins.WithLabelValues("cached").Inc()
		return got
	}
	p.mu.Lock()
	ttl := p.ttl
	p.mu.Unlock()
	p.remember(key, b, now.Add(ttl))
	p.m.pins.WithLabelValues("behind").Inc()
	go func() {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), behindWriteTimeout)
		defer cancel()
		got, expires, err := p.store.Pin(wctx, key, b, now, ttl)
		if err != nil {
			p.m.pins.WithLabelValues("behind_failed").Inc()
			p.log.Warn("idempotency pin written behind a request failed", "backend", b, "err", err)
			return
		}
		p.remember(key, got, expires)
	}()
	return b
}

// NewPinsPossible reports whether a key may still be pinned to new by a
// route that stopped sending to new at lastNew (RFC 3339, "" for never).
func (p *Pinner) NewPinsPossible(lastNew string) bool {
	if lastNew == "" {
		return false
	}
	at, err := time.Parse(time.RFC3339Nano, lastNew)
	if err != nil {
		return true
	}
	p.mu.Lock()
	ttl := p.ttl
	p.mu.Unlock()
	return p.now().Before(at.Add(ttl))
}

func (p *Pinner) cached(key string, now time.Time) (Backend, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el, ok := p.byKey[key]
	if !ok {
		return "", false
	}
	e := el.Value.(*pinEntry)
	if !now.Before(e.expires) {
		p.lru.Remove(el)
		delete(p.byKey, key)
		return "", false
	}
	p.lru.MoveToFront(el)
	return e.backend, true
}

func (p *Pinner) remember(key string, b Backend, expires time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if el, ok := p.byKey[key]; ok {
		el.Value = &pinEntry{key: key, backend: b, expires: expires}
		p.lru.MoveToFront(el)
		return
	}
	p.byKey[key] = p.lru.PushFront(&pinEntry{key: key, backend: b, expires: expires})
	// The least recent pins are the oldest, so the first to expire: drop
	// those that did, then any past the size.
	now := p.now()
	for last := p.lru.Back(); last != nil && !now.Before(last.Value.(*pinEntry).expires); last = p.lru.Back() {
		p.lru.Remove(last)
		delete(p.byKey, last.Value.(*pinEntry).key)
	}
	for p.lru.Len() > p.size {
		last := p.lru.Back()
		p.lru.Remove(last)
		delete(p.byKey, last.Value.(*pinEntry).key)
	}
}
