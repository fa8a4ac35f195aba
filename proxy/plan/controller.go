package plan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/internal/config"
)

// Window is one backend's figures for a route since a point in time. The
// zero value is an empty window.
type Window struct {
	Requests, Errors5xx int
	P99                 time.Duration
}

// Observer reports a route's live figures; the proxy implements it. backend is
// BackendLegacy or BackendNew.
type Observer interface {
	Window(route string, backend string, since time.Time) Window
}

// Setter changes a route's weight; the proxy implements it (atomically,
// persisted and audited). It must not call back into the Controller.
type Setter interface {
	SetWeight(ctx context.Context, route string, weight float64, actor, reason string) error
}

// Backend names passed to Observer.Window.
const (
	BackendLegacy = "legacy"
	BackendNew    = "new"
)

// States of a plan, in Status.State.
const (
	StateRunning    = "running"
	StatePaused     = "paused"
	StateAborted    = "aborted"
	StateDone       = "done"
	StateRolledBack = "rolled_back"
)

// Actor is the actor the Controller names when it changes a weight on its own.
const Actor = "plan"

var (
	// ErrNoPlan is returned for a route that has never had a plan.
	ErrNoPlan = errors.New("no plan for route")
	// ErrState is returned when the plan's state does not allow the action
	// (Start while running, Pause while not running, …).
	ErrState = errors.New("plan state does not allow this")
)

// Event is one entry of a plan's history.
type Event struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"` // start, advance, done, rollback, pause, resume, abort, restore
	Step   int       `json:"step"`
	Weight float64   `json:"weight"`
	Reason string    `json:"reason,omitempty"`
}

// Status is a plan's state, as the admin API shows it. A value may be copied.
type Status struct {
	Route string `json:"route"`
	// State is one of running, paused, aborted, done, rolled_back.
	State string `json:"state"`
	// Step is the index in Steps (from 0) of the step being baked, or that
	// failed; Event.Step counts the same way.
	Step int `json:"step"`
	// Steps are the plan's weights.
	Steps []float64 `json:"steps"`
	// Weight is the weight the Controller last applied.
	Weight float64 `json:"weight"`
	// LastSafeWeight is where a breach drops the route: the previous step's
	// weight, or 0 at the first step.
	LastSafeWeight float64 `json:"last_safe_weight"`
	// Reason says why the plan is in its state.
	Reason        string    `json:"reason"`
	StepStartedAt time.Time `json:"step_started_at"`
	// NextStepAt is the earliest time the step can advance (zero unless running).
	NextStepAt time.Time `json:"next_step_at"`
	// History is the plan's recent events, oldest first.
	History []Event `json:"history"`
	// Bake and SLO are the plan's (the console draws the SLO lines); SLO
	// keeps its Go field names in JSON, as PlanRecord stores it.
	Bake time.Duration `json:"bake_ns"`
	SLO  SLO           `json:"slo"`
}

// Controller runs the plans of every route: Start, Pause, Resume and Abort
// come from operators, Tick (every second, from the proxy) advances a step
// whose bake time passed inside the SLO and rolls a breaching step back.
//
// The breach rule, judged on the new backend's Window since the step
// started and only once it holds at least SLO.MinRequests requests:
//   - its 5xx ratio is above SLO.Max5xxRatio, or
//   - SLO.MaxP99 is set and its p99 is above it,
//
// and in either case it is also worse than legacy's figure over the same
// window by more than 10% (legacyTolerance), so a shared fault (the database
// slowing both down) does not blame the candidate. When legacy served fewer
// than SLO.MinRequests in the window (at 100 % it serves none) it is no
// baseline and the absolute limit alone decides. A figure over the limit
// that legacy matches is a shared fault: the plan holds (neither advances
// nor rolls back, Status.Reason says why) until the window is inside again.
//
// A breach sets the route at once to LastSafeWeight (the previous step's
// weight, 0 at the first step) with actor "plan" and a reason holding the
// figures, and leaves the plan rolled_back until an operator resumes it.
//
// Make one with NewController; it must not be copied. Its methods are safe
// for concurrent use.
type Controller struct {
	obs     Observer
	set     Setter
	now     func() time.Time
	logger  *slog.Logger
	metrics *metrics

	mu    sync.Mutex // guards plans (the map, not the runs)
	plans map[string]*run
}

// legacyTolerance is how much worse than legacy (relative) the new backend
// must be for a figure over the SLO to count as its own fault.
const legacyTolerance = 1.10

// maxHistory bounds each plan's history; the oldest events go first.
const maxHistory = 100

// run is one route's plan and progress. Its mutex is held across Observer
// and Setter calls so that decisions on one route are serialised; the zero
// value (state "") is a route whose plan never started.
type run struct {
	mu            sync.Mutex
	plan          Plan
	state         string
	step          int
	weight        float64
	lastSafe      float64
	reason        string
	holding       string // why a running plan holds on a shared fault; "" when it does not
	stepStartedAt time.Time
	history       []Event
}

// NewController returns a Controller that reads figures from obs, applies
// weights through set and reads the time from now. Its series are registered on reg.
func NewController(obs Observer, set Setter, now func() time.Time, logger *slog.Logger, reg prometheus.Registerer) *Controller {
	return &Controller{obs: obs, set: set, now: now, logger: logger.With("component", "plan"), metrics: newMetrics(reg), plans: map[string]*run{}}
}

// Action is an operator's request to a route's plan (Controller.Act).
type Action struct {
	// Kind is start, pause, resume or abort. Required.
	Kind string
	// Plan is the plan to start. Required for start only.
	Plan Plan
	// Actor says who acts. Required.
	Actor string
	// Reason is the operator's why: it leads the reason recorded in the
	// plan's history and, with the weight it sets, the audit log. Optional:
	// empty records only what the plan did.
	Reason string
}

// ErrAction is returned by Act for an unknown Action.Kind.
var ErrAction = errors.New("the action must be start, pause, resume or abort")

// Act applies an operator's action to route's plan, as Start, Pause,
// Resume and Abort do, with the operator's reason.
func (c *Controller) Act(ctx context.Context, route string, a Action) error {
	switch a.Kind {
	case "start":
		return c.start(ctx, route, a.Plan, a.Actor, a.Reason)
	case "pause":
		return c.pause(route, a.Actor, a.Reason)
	case "resume":
		return c.resume(ctx, route, a.Actor, a.Reason)
	case "abort":
		return c.abort(ctx, route, a.Actor, a.Reason)
	}
	return fmt.Errorf("plan action %q for %s: %w", a.Kind, route, ErrAction)
}

// because puts the operator's why before what the plan did.
func because(what, why string) string {
	if why = strings.TrimSpace(why); why == "" {
		return what
	}
	return why + " (" + what + ")"
}

// Start is StartContext with a background context; the Setter bounds its own call.
func (c *Controller) Start(route string, p Plan, actor string) error {
	return c.StartContext(context.Background(), route, p, actor)
}

// StartContext validates p and applies its first step's weight, replacing a
// plan that is aborted, done or rolled back (its history is kept). A running
// or paused plan must be aborted first (ErrState). On a Setter error nothing changes.
func (c *Controller) StartContext(ctx context.Context, route string, p Plan, actor string) error {
	return c.start(ctx, route, p, actor, "")
}

func (c *Controller) start(ctx context.Context, route string, p Plan, actor, why string) error {
	ck := config.NewChecker("plan")
	p.Validate(ck, "plan")
	if err := ck.Err(); err != nil {
		return fmt.Errorf("starting plan for %s: %w", route, err)
	}
	r := c.run(route)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == StateRunning || r.state == StatePaused {
		return fmt.Errorf("starting plan for %s: it is %s, abort it first: %w", route, r.state, ErrState)
	}
	w := p.Steps[0]
	reason := because(fmt.Sprintf("plan started by %s: step 1/%d at %g%%", actor, len(p.Steps), w), why)
	if err := c.set.SetWeight(ctx, route, w, actor, reason); err != nil {
		return fmt.Errorf("starting plan for %s: setting weight %g%%: %w", route, w, err)
	}
	p.Steps = slices.Clone(p.Steps)
	r.plan, r.state, r.step, r.weight, r.lastSafe, r.reason, r.stepStartedAt = p, StateRunning, 0, w, 0, reason, c.now()
	c.record(route, r, actor, "start")
	return nil
}

// Pause freezes a running plan at its current weight: Tick leaves it alone
// until Resume.
func (c *Controller) Pause(route, actor string) error { return c.pause(route, actor, "") }

func (c *Controller) pause(route, actor, why string) error {
	r, err := c.lookup(route, "pausing")
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if r.state != StateRunning {
		return fmt.Errorf("pausing plan for %s: it is %s, not running: %w", route, r.state, ErrState)
	}
	r.state, r.reason = StatePaused, because("paused by "+actor, why)
	c.record(route, r, actor, "pause")
	return nil
}

// Resume is ResumeContext with a background context; the Setter bounds its own call.
func (c *Controller) Resume(route, actor string) error {
	return c.ResumeContext(context.Background(), route, actor)
}

// ResumeContext continues a paused or rolled-back plan at its current step,
// restarting that step's bake. A rolled-back plan first gets the failed
// step's weight again (a paused one still has it). On a Setter error nothing changes.
func (c *Controller) ResumeContext(ctx context.Context, route, actor string) error {
	return c.resume(ctx, route, actor, "")
}

func (c *Controller) resume(ctx context.Context, route, actor, why string) error {
	r, err := c.lookup(route, "resuming")
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	w := r.plan.Steps[r.step]
	reason := because(fmt.Sprintf("resumed by %s at step %d/%d (%g%%)", actor, r.step+1, len(r.plan.Steps), w), why)
	switch r.state {
	case StatePaused:
	case StateRolledBack:
		if err := c.set.SetWeight(ctx, route, w, actor, reason); err != nil {
			return fmt.Errorf("resuming plan for %s: setting weight %g%%: %w", route, w, err)
		}
	default:
		return fmt.Errorf("resuming plan for %s: it is %s, not paused or rolled back: %w", route, r.state, ErrState)
	}
	r.state, r.weight, r.reason, r.stepStartedAt = StateRunning, w, reason, c.now()
	c.record(route, r, actor, "resume")
	return nil
}

// Abort is AbortContext with a background context; the Setter bounds its own call.
func (c *Controller) Abort(route, actor string) error {
	return c.AbortContext(context.Background(), route, actor)
}

// AbortContext stops a running, paused or rolled-back plan and sends the
// whole route back to legacy (weight 0), not to the last safe weight: an
// operator who aborts distrusts the candidate; one who only wants to hold
// the current weight pauses. A done plan cannot be aborted (set the weight
// instead). On a Setter error nothing changes.
func (c *Controller) AbortContext(ctx context.Context, route, actor string) error {
	return c.abort(ctx, route, actor, "")
}

func (c *Controller) abort(ctx context.Context, route, actor, why string) error {
	r, err := c.lookup(route, "aborting")
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	switch r.state {
	case StateRunning, StatePaused, StateRolledBack:
	default:
		return fmt.Errorf("aborting plan for %s: it is %s: %w", route, r.state, ErrState)
	}
	reason := because(fmt.Sprintf("aborted by %s at step %d/%d: back to 0%%", actor, r.step+1, len(r.plan.Steps)), why)
	if err := c.set.SetWeight(ctx, route, 0, actor, reason); err != nil {
		return fmt.Errorf("aborting plan for %s: setting weight 0%%: %w", route, err)
	}
	r.state, r.weight, r.reason = StateAborted, 0, reason
	c.record(route, r, actor, "abort")
	return nil
}

// Restore reinstates a plan saved from Status (for example from the control
// table after a restart) without touching the weight, which the Setter
// already persisted: a running plan keeps baking from st.StepStartedAt and
// keeps its automatic rollback. The route must have no running or paused
// plan (ErrState); p must be the plan st came from.
func (c *Controller) Restore(route string, p Plan, st Status, actor string) error {
	ck := config.NewChecker("plan")
	p.Validate(ck, "plan")
	if err := ck.Err(); err != nil {
		return fmt.Errorf("restoring plan for %s: %w", route, err)
	}
	switch st.State {
	case StateRunning, StatePaused, StateAborted, StateDone, StateRolledBack:
	default:
		return fmt.Errorf("restoring plan for %s: unknown state %q: %w", route, st.State, ErrState)
	}
	if st.Step < 0 || st.Step >= len(p.Steps) {
		return fmt.Errorf("restoring plan for %s: step %d outside the plan's %d steps: %w", route, st.Step, len(p.Steps), ErrState)
	}
	r := c.run(route)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == StateRunning || r.state == StatePaused {
		return fmt.Errorf("restoring plan for %s: it is %s here already: %w", route, r.state, ErrState)
	}
	p.Steps = slices.Clone(p.Steps)
	r.plan, r.state, r.step, r.weight, r.lastSafe, r.stepStartedAt = p, st.State, st.Step, st.Weight, st.LastSafeWeight, st.StepStartedAt
	r.history = slices.Clone(st.History)
	r.reason = "restored by " + actor + ": " + st.Reason
	c.record(route, r, actor, "restore")
	return nil
}

// Forget drops route's plan from this Controller without touching the
// route's weight: Tick no longer evaluates it and Status no longer reports
// it. A replica that stops driving plans (it lost their lease) forgets
// them, so that the next holder's progress, restored later, is not refused
// as a plan "running here already". It waits for an evaluation in progress.
func (c *Controller) Forget(route string) {
	c.mu.Lock()
	r, ok := c.plans[route]
	delete(c.plans, route)
	c.mu.Unlock()
	if ok {
		// An evaluate in progress finishes first; the run is then dead.
		r.mu.Lock()
		r.state = ""
		r.mu.Unlock()
	}
}

// Routes returns the routes this Controller has a plan for, sorted.
func (c *Controller) Routes() []string {
	var out []string
	for _, rr := range c.runs() {
		out = append(out, rr.route)
	}
	return out
}

// Status returns route's plan state; false when the route never had a plan.
func (c *Controller) Status(route string) (Status, bool) {
	c.mu.Lock()
	r, ok := c.plans[route]
	c.mu.Unlock()
	if !ok {
		return Status{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == "" {
		return Status{}, false
	}
	return r.status(route), true
}

// List returns the state of every route that has had a plan, sorted by route.
func (c *Controller) List() []Status {
	var out []Status
	for _, rr := range c.runs() {
		rr.r.mu.Lock()
		if rr.r.state != "" {
			out = append(out, rr.r.status(rr.route))
		}
		rr.r.mu.Unlock()
	}
	return out
}

// Tick evaluates every running plan once; the proxy calls it every second.
// It stops early when ctx ends. Setter failures are logged and retried on
// the next Tick.
func (c *Controller) Tick(ctx context.Context) {
	for _, rr := range c.runs() {
		if ctx.Err() != nil {
			return
		}
		c.evaluate(ctx, rr.route, rr.r)
	}
}

// evaluate takes at most one decision for one route: roll back, advance or wait.
func (c *Controller) evaluate(ctx context.Context, route string, r *run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != StateRunning {
		return
	}
	now := c.now()
	slo := r.plan.SLO
	nw := c.obs.Window(route, BackendNew, r.stepStartedAt)
	if nw.Requests < slo.MinRequests {
		return // too little traffic to judge either way
	}
	lw := c.obs.Window(route, BackendLegacy, r.stepStartedAt)
	elapsed := now.Sub(r.stepStartedAt)
	switch v, why := judge(slo, nw, lw); v {
	case breach:
		c.rollback(ctx, route, r, fmt.Sprintf("SLO breach at step %d/%d (%g%%) after %s: %s", r.step+1, len(r.plan.Steps), r.weight, elapsed, why))
		return
	case hold:
		r.holding = "holding on a shared fault: " + why
		return
	}
	r.holding = ""
	if elapsed < r.plan.Bake {
		return
	}
	baked := fmt.Sprintf("step %d/%d (%g%%) baked %s inside the SLO (new: %s)", r.step+1, len(r.plan.Steps), r.weight, elapsed, describe(nw))
	if r.step == len(r.plan.Steps)-1 {
		r.state, r.lastSafe, r.reason = StateDone, r.weight, baked+"; plan done"
		c.record(route, r, Actor, "done")
		c.logger.Info("plan done", "route", route, "weight", r.weight)
		return
	}
	next := r.plan.Steps[r.step+1]
	reason := fmt.Sprintf("%s; advancing to %g%%", baked, next)
	if err := c.set.SetWeight(ctx, route, next, Actor, reason); err != nil {
		c.logger.Error("plan advance failed, retrying on the next tick", "route", route, "weight", next, "err", err)
		return
	}
	r.lastSafe, r.weight, r.step, r.reason, r.stepStartedAt = r.weight, next, r.step+1, reason, now
	c.record(route, r, Actor, "advance")
	c.logger.Info("plan advanced", "route", route, "step", r.step+1, "weight", next)
}

// rollback drops the route to its last safe weight. If the Setter fails the
// plan stays running, so the next Tick sees the breach again and retries.
func (c *Controller) rollback(ctx context.Context, route string, r *run, why string) {
	reason := fmt.Sprintf("%s; rolled back to %g%%", why, r.lastSafe)
	if err := c.set.SetWeight(ctx, route, r.lastSafe, Actor, reason); err != nil {
		c.logger.Error("plan rollback failed, retrying on the next tick", "route", route, "weight", r.lastSafe, "breach", why, "err", err)
		return
	}
	r.state, r.weight, r.reason = StateRolledBack, r.lastSafe, reason
	c.metrics.rollbacks.WithLabelValues(route).Inc()
	c.record(route, r, Actor, "rollback")
	c.logger.Warn("plan rolled back", "route", route, "weight", r.lastSafe, "reason", reason)
}

// verdict is judge's answer on one step's windows.
type verdict int

const (
	inside verdict = iota // inside the SLO: the step may advance once baked
	hold                  // over the SLO, but legacy is as bad: neither advance nor roll back
	breach                // over the SLO and worse than legacy: roll back
)

// judge applies the Controller's breach rule to the new and legacy windows
// of one step and says why when the verdict is not inside. It assumes nw
// holds at least slo.MinRequests requests.
func judge(slo SLO, nw, lw Window) (verdict, string) {
	baseline := lw.Requests >= slo.MinRequests && lw.Requests > 0
	var breaches, holds []string
	nr, lr := ratio(nw), ratio(lw)
	if nr > slo.Max5xxRatio {
		switch {
		case !baseline:
			breaches = append(breaches, fmt.Sprintf("new 5xx ratio %s > max %.2f%% (legacy no baseline: %d requests)", pct(nw), 100*slo.Max5xxRatio, lw.Requests))
		case nr > lr*legacyTolerance:
			breaches = append(breaches, fmt.Sprintf("new 5xx ratio %s > max %.2f%% and > legacy's %s", pct(nw), 100*slo.Max5xxRatio, pct(lw)))
		default:
			holds = append(holds, fmt.Sprintf("new 5xx ratio %s > max %.2f%% but legacy's is %s", pct(nw), 100*slo.Max5xxRatio, pct(lw)))
		}
	}
	if slo.MaxP99 > 0 && nw.P99 > slo.MaxP99 {
		switch {
		case !baseline:
			breaches = append(breaches, fmt.Sprintf("new p99 %s > max %s (legacy no baseline: %d requests)", nw.P99, slo.MaxP99, lw.Requests))
		case float64(nw.P99) > float64(lw.P99)*legacyTolerance:
			breaches = append(breaches, fmt.Sprintf("new p99 %s > max %s and > legacy's %s", nw.P99, slo.MaxP99, lw.P99))
		default:
			holds = append(holds, fmt.Sprintf("new p99 %s > max %s but legacy's is %s", nw.P99, slo.MaxP99, lw.P99))
		}
	}
	switch {
	case len(breaches) > 0:
		return breach, strings.Join(breaches, "; ")
	case len(holds) > 0:
		return hold, strings.Join(holds, "; ")
	}
	return inside, ""
}

func ratio(w Window) float64 {
	if w.Requests == 0 {
		return 0
	}
	return float64(w.Errors5xx) / float64(w.Requests)
}

func pct(w Window) string {
	return fmt.Sprintf("%.2f%% (%d/%d)", 100*ratio(w), w.Errors5xx, w.Requests)
}

func describe(w Window) string {
	return fmt.Sprintf("%d requests, 5xx %s, p99 %s", w.Requests, pct(w), w.P99)
}

// record appends an event for the run's current state and updates the gauges.
func (c *Controller) record(route string, r *run, actor, action string) {
	r.holding = ""
	r.history = append(r.history, Event{At: c.now(), Actor: actor, Action: action, Step: r.step, Weight: r.weight, Reason: r.reason})
	if len(r.history) > maxHistory {
		r.history = slices.Delete(r.history, 0, len(r.history)-maxHistory)
	}
	applied := 0 // 1-based index of the step whose weight is applied
	for i, s := range r.plan.Steps {
		if s == r.weight {
			applied = i + 1
		}
	}
	c.metrics.step.WithLabelValues(route).Set(float64(applied))
	c.metrics.weight.WithLabelValues(route).Set(r.weight)
}

func (r *run) status(route string) Status {
	s := Status{
		Route: route, State: r.state, Step: r.step, Steps: slices.Clone(r.plan.Steps),
		Weight: r.weight, LastSafeWeight: r.lastSafe, Reason: r.reason,
		StepStartedAt: r.stepStartedAt, History: slices.Clone(r.history),
		Bake: r.plan.Bake, SLO: r.plan.SLO,
	}
	if r.state == StateRunning {
		s.NextStepAt = r.stepStartedAt.Add(r.plan.Bake)
		if r.holding != "" {
			s.Reason = r.holding
		}
	}
	return s
}

// run returns route's run, creating an unstarted one.
func (c *Controller) run(route string) *run {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.plans[route]
	if !ok {
		r = &run{}
		c.plans[route] = r
	}
	return r
}

// lookup returns route's run locked, or ErrNoPlan when the route never had
// a plan started. The caller unlocks it.
func (c *Controller) lookup(route, doing string) (*run, error) {
	c.mu.Lock()
	r, ok := c.plans[route]
	c.mu.Unlock()
	if ok {
		r.mu.Lock()
		if r.state != "" {
			return r, nil
		}
		r.mu.Unlock()
	}
	return nil, fmt.Errorf("%s plan for %s: %w", doing, route, ErrNoPlan)
}

type routeRun struct {
	route string
	r     *run
}

// runs returns every route's run, sorted by route.
func (c *Controller) runs() []routeRun {
	c.mu.Lock()
	out := make([]routeRun, 0, len(c.plans))
	for route, r := range c.plans {
		out = append(out, routeRun{route, r})
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b routeRun) int { return strings.Compare(a.route, b.route) })
	return out
}
