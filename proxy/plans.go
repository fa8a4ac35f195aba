package proxy

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

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
// Switch. Plans run on the replica that started or restored them. Never copy one.
type planKeeper struct {
	ctl   *plan.Controller
	store PlanStore
	log   *slog.Logger

	mu    sync.Mutex
	plans map[string]plan.Plan // the plan each route started with
	saved map[string]string    // last saved status, as JSON
}

var _ PlanRunner = (*planKeeper)(nil)

func newPlanKeeper(ctl *plan.Controller, store PlanStore, logger *slog.Logger) *planKeeper {
	return &planKeeper{ctl: ctl, store: store, log: logger, plans: map[string]plan.Plan{}, saved: map[string]string{}}
}

// restore reinstates the saved plans of the given routes.
func (k *planKeeper) restore(ctx context.Context, routes map[string]bool) error {
	recs, err := k.store.LoadPlans(ctx)
	if err != nil {
		return err
	}
	for route, rec := range recs {
		if !routes[route] {
			continue
		}
		if err := k.ctl.Restore(route, rec.Plan, rec.Status, "restart"); err != nil {
			k.log.Warn("a saved plan could not be restored", "route", route, "err", err)
			continue
		}
		k.mu.Lock()
		k.plans[route] = rec.Plan
		k.mu.Unlock()
		k.log.Info("plan restored", "route", route, "state", rec.Status.State, "step", rec.Status.Step+1, "weight", rec.Status.Weight)
	}
	k.save(ctx)
	return nil
}

// save writes every plan whose status changed since it was last saved.
func (k *planKeeper) save(ctx context.Context) {
	k.mu.Lock()
	defer k.mu.Unlock()
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
	k.ctl.Tick(ctx)
	k.save(ctx)
}

// StartContext implements PlanRunner.
func (k *planKeeper) StartContext(ctx context.Context, route string, p plan.Plan, actor string) error {
	if err := k.ctl.StartContext(ctx, route, p, actor); err != nil {
		return err
	}
	k.mu.Lock()
	k.plans[route] = p
	k.mu.Unlock()
	k.save(ctx)
	return nil
}

// Pause implements PlanRunner.
func (k *planKeeper) Pause(route, actor string) error {
	if err := k.ctl.Pause(route, actor); err != nil {
		return err
	}
	k.save(context.Background())
	return nil
}

// ResumeContext implements PlanRunner.
func (k *planKeeper) ResumeContext(ctx context.Context, route, actor string) error {
	if err := k.ctl.ResumeContext(ctx, route, actor); err != nil {
		return err
	}
	k.save(ctx)
	return nil
}

// AbortContext implements PlanRunner.
func (k *planKeeper) AbortContext(ctx context.Context, route, actor string) error {
	if err := k.ctl.AbortContext(ctx, route, actor); err != nil {
		return err
	}
	k.save(ctx)
	return nil
}

// Status implements PlanRunner.
func (k *planKeeper) Status(route string) (plan.Status, bool) { return k.ctl.Status(route) }
