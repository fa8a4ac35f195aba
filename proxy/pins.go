package proxy

import (
	"container/list"
	"context"
	"fmt"
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
// is deduplicated there instead of creating the order twice. An LRU of
// recent pins sits in front of the store; expired pins leave it at the next
// pin remembered. Never copy one.
type Pinner struct {
	store PinStore
	ttl   time.Duration
	now   func() time.Time
	m     *Metrics

	mu    sync.Mutex
	size  int
	lru   *list.List // of *pinEntry, most recent first
	byKey map[string]*list.Element
}

type pinEntry struct {
	key     string
	backend Backend
	expires time.Time
}

// NewPinner returns a Pinner over store keeping size pins in memory.
func NewPinner(store PinStore, ttl time.Duration, size int, now func() time.Time, m *Metrics) *Pinner {
	return &Pinner{store: store, ttl: ttl, now: now, m: m, size: size, lru: list.New(), byKey: map[string]*list.Element{}}
}

// SetLimits applies a new TTL (to pins made from now on) and LRU size (a
// smaller one drops the least recent pins at once; they stay in the store).
func (p *Pinner) SetLimits(ttl time.Duration, size int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ttl, p.size = ttl, size
	for p.lru.Len() > p.size {
		e := p.lru.Back()
		p.lru.Remove(e)
		delete(p.byKey, e.Value.(*pinEntry).key)
	}
}

// Pin returns the backend key is pinned to, pinning it to b when it is new.
func (p *Pinner) Pin(ctx context.Context, key string, b Backend) (Backend, error) {
	now := p.now()
	p.mu.Lock()
	ttl := p.ttl
	p.mu.Unlock()
	if got, ok := p.cached(key, now); ok {
		p.m.pins.WithLabelValues("cached").Inc()
		return got, nil
	}
	got, expires, err := p.store.Pin(ctx, key, b, now, ttl)
	if err != nil {
		p.m.pins.WithLabelValues("error").Inc()
		return "", fmt.Errorf("pinning idempotency key: %w", err)
	}
	if got == b {
		p.m.pins.WithLabelValues("created").Inc()
	} else {
		p.m.pins.WithLabelValues("existing").Inc()
	}
	p.remember(key, got, expires)
	return got, nil
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
