package proxy

import (
	"sync"
	"time"
)

// CircuitState is a breaker's state.
type CircuitState int

// The breaker states, in the order of the proxy_circuit_state gauge.
const (
	CircuitClosed CircuitState = iota
	CircuitHalfOpen
	CircuitOpen
)

func (s CircuitState) String() string {
	switch s {
	case CircuitHalfOpen:
		return "half-open"
	case CircuitOpen:
		return "open"
	}
	return "closed"
}

// breakerSlots is the most seconds a breaker window may span.
const breakerSlots = 120

// Breaker is a circuit breaker on one backend's error ratio over a sliding
// window of one-second slots. Closed, it lets everything through and opens
// when the window holds at least MinRequests and the ratio of errors exceeds
// MaxErrorRatio; open, it refuses for OpenFor; then half-open, it lets
// Probes requests through and closes when all succeed, reopening on the
// first failure. Time comes from the injected clock. Never copy one.
type Breaker struct {
	cfg      CircuitConfig
	now      func() time.Time
	onChange func(CircuitState)

	mu        sync.Mutex
	state     CircuitState
	openUntil time.Time
	admitted  int // probes let through while half-open
	succeeded int // probes that succeeded
	slots     [breakerSlots]breakerSlot
}

type breakerSlot struct {
	sec      int64
	n, fails int
}

// NewBreaker returns a closed breaker. onChange, when not nil, is called
// (under the breaker's lock: keep it short) on every state change.
func NewBreaker(cfg CircuitConfig, now func() time.Time, onChange func(CircuitState)) *Breaker {
	return &Breaker{cfg: cfg, now: now, onChange: onChange}
}

// SetConfig applies new thresholds (a config reload). The window's counts
// and the state stay; an open circuit keeps its current open period.
func (b *Breaker) SetConfig(cfg CircuitConfig) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cfg = cfg
}

// Allow reports whether a request may go to the backend now.
func (b *Breaker) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case CircuitOpen:
		if b.now().Before(b.openUntil) {
			return false
		}
		b.set(CircuitHalfOpen)
		b.admitted, b.succeeded = 0, 0
		fallthrough
	case CircuitHalfOpen:
		if b.admitted >= b.cfg.Probes {
			// Probes lost (clients gone) never report: start over after OpenFor.
			if b.now().After(b.openUntil.Add(b.cfg.OpenFor)) {
				b.admitted, b.succeeded = 0, 0
				b.openUntil = b.now()
			} else {
				return false
			}
		}
		b.admitted++
		return true
	}
	return true
}

// Record reports the outcome of one request that Allow let through.
func (b *Breaker) Record(failed bool) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case CircuitHalfOpen:
		if failed {
			b.trip(now)
			return
		}
		if b.succeeded++; b.succeeded >= b.cfg.Probes {
			b.slots = [breakerSlots]breakerSlot{}
			b.set(CircuitClosed)
		}
		return
	case CircuitOpen:
		return
	}
	sec := now.Unix()
	s := &b.slots[sec%breakerSlots]
	if s.sec != sec {
		*s = breakerSlot{sec: sec}
	}
	s.n++
	if failed {
		s.fails++
	}
	if !failed {
		return
	}
	n, fails := 0, 0
	from := sec - int64(b.cfg.Window/time.Second) + 1
	for i := range b.slots {
		if b.slots[i].sec >= from && b.slots[i].sec <= sec {
			n += b.slots[i].n
			fails += b.slots[i].fails
		}
	}
	if n >= b.cfg.MinRequests && float64(fails) > b.cfg.MaxErrorRatio*float64(n) {
		b.trip(now)
	}
}

// State returns the current state.
func (b *Breaker) State() CircuitState {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == CircuitOpen && !b.now().Before(b.openUntil) {
		return CircuitHalfOpen
	}
	return b.state
}

func (b *Breaker) trip(now time.Time) {
	b.openUntil = now.Add(b.cfg.OpenFor)
	b.set(CircuitOpen)
}

func (b *Breaker) set(s CircuitState) {
	if b.state == s {
		return
	}
	b.state = s
	if b.onChange != nil {
		b.onChange(s)
	}
}
