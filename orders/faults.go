package orders

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/anycompany/strangler/internal/clock"
)

// Injector holds the faults in force and draws them. The zero value is not
// usable; make one with NewInjector. It is safe for concurrent use and must
// not be copied.
type Injector struct {
	mu     sync.Mutex
	f      Faults
	random func() float64 // called under mu
	sleep  func(context.Context, time.Duration) error
}

// NewInjector starts with faults f, drawing from random (nil: math/rand/v2)
// and waiting with sleep (nil: clock.Sleep).
func NewInjector(f Faults, random func() float64, sleep func(context.Context, time.Duration) error) *Injector {
	if random == nil {
		random = rand.Float64
	}
	if sleep == nil {
		sleep = clock.Sleep
	}
	return &Injector{f: f, random: random, sleep: sleep}
}

// Get returns the faults in force.
func (in *Injector) Get() Faults {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.f
}

// Set replaces the faults in force.
func (in *Injector) Set(f Faults) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.f = f
}

// Delay waits the injected delay, or until ctx ends (its error).
func (in *Injector) Delay(ctx context.Context) error {
	d := time.Duration(in.Get().Delay)
	if d <= 0 {
		return nil
	}
	return in.sleep(ctx, d)
}

// Fail draws whether this request fails.
func (in *Injector) Fail() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.f.ErrorRatio > 0 && in.random() < in.f.ErrorRatio
}
