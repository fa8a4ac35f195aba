package eventbus

import "sync"

// Injector holds the faults in force and decides, call by call and entry
// by entry, which to apply. Draws come from one seeded source in call
// order, so a run with the same seed and the same calls fails the same
// entries. The zero value is not usable; make one with NewInjector. It is
// safe for concurrent use and must not be copied.
type Injector struct {
	mu     sync.Mutex
	faults FaultConfig
	random func() float64 // in [0,1); called under mu
}

// NewInjector returns an Injector with faults f drawing from random.
func NewInjector(f FaultConfig, random func() float64) *Injector {
	return &Injector{faults: f, random: random}
}

// Throttle reports whether a whole call is answered ThrottlingException.
func (in *Injector) Throttle() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.draw(in.faults.ThrottleRatio)
}

// FailEntries returns, for n entries, which ones fail with InternalFailure.
func (in *Injector) FailEntries(n int) []bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]bool, n)
	for i := range out {
		out[i] = in.draw(in.faults.FailRatio)
	}
	return out
}

// draw is true with probability ratio; 0 and 1 decide without drawing.
func (in *Injector) draw(ratio float64) bool {
	switch {
	case ratio <= 0:
		return false
	case ratio >= 1:
		return true
	}
	return in.random() < ratio
}

// Set replaces the faults in force.
func (in *Injector) Set(f FaultConfig) {
	in.mu.Lock()
	in.faults = f
	in.mu.Unlock()
}

// Get returns the faults in force.
func (in *Injector) Get() FaultConfig {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.faults
}
