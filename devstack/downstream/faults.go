package downstream

import (
	"sync"
	"time"
)

// injector holds the current fault of each service and decides, per call,
// whether it fails. The zero value is not usable; make one with newInjector.
// It must not be copied.
type injector struct {
	mu     sync.Mutex
	faults map[Service]Fault
	random func() float64 // in [0,1); called under mu, so it need not be safe for concurrent use
}

func newInjector(cfg Config, random func() float64) *injector {
	return &injector{
		faults: map[Service]Fault{
			Inventory:  {FailRatio: cfg.Inventory.FailRatio, Delay: Duration(cfg.Inventory.Delay)},
			Accounting: {FailRatio: cfg.Accounting.FailRatio, Delay: Duration(cfg.Accounting.Delay)},
		},
		random: random,
	}
}

// decide returns the delay to apply to one call of svc and whether the call
// then fails. A ratio of 0 never fails and 1 always does, without drawing.
func (in *injector) decide(svc Service) (time.Duration, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f := in.faults[svc]
	switch {
	case f.FailRatio <= 0:
		return time.Duration(f.Delay), false
	case f.FailRatio >= 1:
		return time.Duration(f.Delay), true
	}
	return time.Duration(f.Delay), in.random() < f.FailRatio
}

// set applies the services present in fs.
func (in *injector) set(fs Faults) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if fs.Inventory != nil {
		in.faults[Inventory] = *fs.Inventory
	}
	if fs.Accounting != nil {
		in.faults[Accounting] = *fs.Accounting
	}
}

// get returns the current faults of both services.
func (in *injector) get() Faults {
	in.mu.Lock()
	defer in.mu.Unlock()
	inv, acc := in.faults[Inventory], in.faults[Accounting]
	return Faults{Inventory: &inv, Accounting: &acc}
}
