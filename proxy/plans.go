package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/proxy/plan"
)

// PlanRecord is a route's plan with its progress, saved so that a restarted
// proxy resumes it (plan.Controller.Restore). It is a plain value.
type PlanRecord struct {
	Plan   plan.Plan   `json:"plan"`
	Status plan.Status `json:"status"`
}

// PlanStore persists plan records by route.
type PlanStore interface {
	SavePlan(ctx context.Context, route string, rec PlanRecord) error
	LoadPlans(ctx context.Context) (map[string]PlanRecord, error)
}

// planKeeper wraps the plan controller for the admin API and saves every
// plan's progress after each operator action and each tick, so a restart
// restores running plans (with their bake clock and automatic rollback)
// instead of forgetting them. The weights themselves are persisted by the
// Switch.
//
// Exactly one replica drives plans: the holder of the plan lease in the
// control table (lease non-nil; with state in memory there is one replica
// and it always drives). The holder restores the saved plans when it takes
// the lease and ticks them; the others keep serving traffic and applying
// route states from the control table, report the saved plans read-only,
// and refuse plan actions with ErrNotPlanDriver naming the holder. A holder
// that cannot renew before its lease lapses stops driving at once. Never
// copy one.
type planKeeper struct {
	ctl    *plan.Controller
	store  PlanStore
	lease  *control.Lease // nil: always the driver
	routes func() map[string]bool
	now    func() time.Time
	log    *slog.Logger

	mu      sync.Mutex
	driving bool
	until   time.Time             // the lease is ours until then (when driving)
	holder  string                // the last holder seen
	remote  map[string]PlanRecord // the saved plans, as non-drivers report them
	plans   map[string]plan.Plan  // the plan each route started with
	saved   map[string]string     // last saved status, as JSON
}

var _ PlanRunner = (*planKeeper)(nil)

// ErrNotPlanDriver is a plan action sent to a replica that does not hold
// the plan lease: send it to the holder's admin API.
var ErrNotPlanDriver = errors.New("another replica drives the progressive plans")

func newPlanKeeper(ctl *plan.Controller, store PlanStore, lease *control.Lease, routes func() map[string]bool, now func() time.Time, logger *slog.Logger) *planKeeper {
	return &planKeeper{ctl: ctl, store: store, lease: lease, routes: routes, now: now, log: logger,
		driving: lease == nil, plans: map[string]plan.Plan{}, saved: map[string]string{}}
}

// drives reports whether this replica drives plans now: it holds the lease
// and the lease has not lapsed.
func (k *planKeeper) drives() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.drivesLocked()
}

func (k *planKeeper) drivesLocked() bool {
	return k.driving && (k.lease == nil || k.now().Before(k.until))
}

// notDriver is the error of a plan action on a replica that does not drive.
func (k *planKeeper) notDriver() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.holder == "" || k.lease != nil && k.holder == k.lease.Owner() {
		return fmt.Errorf("%w (the plan lease is free right now: retry in a few seconds)", ErrNotPlanDriver)
	}
	return fmt.Errorf("%w: %s holds the plan lease; use its admin API", ErrNotPlanDriver, k.holder)
}

// runLease takes or renews the plan lease every TTL/3 until ctx ends, then
// releases it. Taking it restores the saved plans; losing it (another
// holder, or no renewal before it lapsed) forgets them.
func (k *planKeeper) runLease(ctx context.Context) error {
	if k.lease == nil {
		return nil
	}
	t := time.NewTicker(k.lease.TTL() / 3)
	defer t.Stop()
	for {
		k.leaseOnce(ctx)
		select {
		case <-ctx.Done():
			k.stopDriving("shutting down")
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := k.lease.Release(rctx); err != nil {
				k.log.Warn("releasing the plan lease failed; it lapses on its own", "err", err)
			}
			return nil
		case <-t.C:
		}
	}
}

// leaseOnce is one round of runLease.
func (k *planKeeper) leaseOnce(ctx context.Context) {
	until, ok, err := k.lease.Acquire(ctx)
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return
		}
		k.mu.Lock()
		lapsed := k.driving && !k.now().Before(k.until)
		k.mu.Unlock()
		k.log.Warn("renewing the plan lease failed", "err", err)
		if lapsed {
			k.stopDriving("the plan lease lapsed before it could be renewed")
		}
	case ok:
		k.mu.Lock()
		was := k.driving
		if was {
			k.until = until
		}
		k.mu.Unlock()
		if !was {
			k.takeOver(ctx, until)
		}
	default:
		k.stopDriving("another replica holds the plan lease")
		st, held, err := k.lease.Load(ctx)
		recs, perr := k.store.LoadPlans(ctx)
		k.mu.Lock()
		if err == nil {
			k.holder = ""
			if held {
				k.holder = st.Owner
			}
		}
		if perr == nil {
			k.remote = recs
		}
		k.mu.Unlock()
	}
}

// takeOver restores the saved plans once this replica holds the lease, and
// only then drives (until then Status and plan actions see a non-driver);
// when the restore fails it does not drive, and takes over again next round.
func (k *planKeeper) takeOver(ctx context.Context, until time.Time) {
	if err := k.restore(ctx, k.routes()); err != nil {
		k.log.Warn("restoring the saved plans after taking the plan lease failed; retrying", "err", err)
		return
	}
	k.mu.Lock()
	k.driving, k.until, k.holder = true, until, k.lease.Owner()
	k.mu.Unlock()
	k.log.Info("this replica holds the plan lease: it drives the progressive plans", "owner", k.lease.Owner())
}

// stopDriving forgets the local plans when this replica drove them.
func (k *planKeeper) stopDriving(why string) {
	k.mu.Lock()
	was := k.driving
	k.driving = false
	if was && k.lease != nil {
		for _, route := range k.ctl.Routes() {
			k.ctl.Forget(route)
		}
		k.plans = map[string]plan.Plan{}
		k.saved = map[string]string{}
	}
	k.mu.Unlock()
	if was && k.lease != nil {
		k.log.Warn("this replica no longer drives the progressive plans", "reason", why)
	}
}

// restore replaces the local plans by the saved plans of the given routes.
func (k *planKeeper) restore(ctx context.Context, routes map[string]bool) error {
	recs, err := k.store.LoadPlans(ctx)
	if err != nil {
		return err
	}
	k.mu.Lock()
	for _, route := range k.ctl.Routes() {
		k.ctl.Forget(route)
	}
	k.plans = map[string]plan.Plan{}
	k.saved = map[string]string{}
	for route, rec := range recs {
		if !routes[route] {
			continue
		}
		if err := k.ctl.Restore(route, rec.Plan, rec.Status, "restart"); err != nil {
			k.log.Warn("a saved plan could not be restored", "route", route, "err", err)
			continue
		}
		b, _ := json.Marshal(rec.Status)
		k.plans[route] = rec.Plan
		k.saved[route] = string(b)
		k.log.Info("plan restored", "route", route, "state", rec.Status.State, "step", rec.Status.Step+1, "weight", rec.Status.Weight)
	}
	k.mu.Unlock()
	return nil
}

// save writes every plan whose status changed since it was last saved,
// when this replica drives them.
func (k *planKeeper) save(ctx context.Context) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.drivesLocked() {
		return
	}
	for route, p := range k.plans {
		st, ok := k.ctl.Status(route)
		if !ok {
			continue
		}
		b, _ := json.Marshal(st)
		if k.saved[route] == string(b) {
			continue
		}
		if err := k.store.SavePlan(ctx, route, PlanRecord{Plan: p, Status: st}); err != nil {
			k.log.Warn("saving plan progress failed; retrying on the next tick", "route", route, "err", err)
			continue
		}
		k.saved[route] = string(b)
	}
}

// tick evaluates the running plans once and saves their progress.
func (k *planKeeper) tick(ctx context.Context) {
	if !k.drives() {
		return
	}
	k.ctl.Tick(ctx)
	k.save(ctx)
}

// Act implements PlanRunner: it acts on the driver only, and saves the
// plan (and on start, the plan started) at once.
func (k *planKeeper) Act(ctx context.Context, route string, a plan.Action) error {
	if !k.drives() {
		return k.notDriver()
	}
	if err := k.ctl.Act(ctx, route, a); err != nil {
		return err
	}
	if a.Kind == "start" {
		k.mu.Lock()
		k.plans[route] = a.Plan
		k.mu.Unlock()
	}
	k.save(ctx)
	return nil
}

// Status implements PlanRunner: the live status on the driver, the last
// saved one (read every lease round) elsewhere.
func (k *planKeeper) Status(route string) (plan.Status, bool) {
	k.mu.Lock()
	local := k.driving // even when a slow renewal let the lease lapse a moment: its plans are still here
	rec, ok := k.remote[route]
	k.mu.Unlock()
	if local {
		return k.ctl.Status(route)
	}
	return rec.Status, ok
}

// Driver reports whether this replica drives the plans, and the holder of
// the plan lease as last seen.
func (k *planKeeper) Driver() (driving bool, holder string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lease == nil {
		return true, ""
	}
	return k.drivesLocked(), k.holder
}
