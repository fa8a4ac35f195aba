package plan

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	Action string    `json:"action"` // start, advance, done, rollback, pause, resume, abort, error
	Step   int       `json:"step"`
	Weight float64   `json:"weight"`
	Reason string    `json:"reason,omitempty"`
}

// Status is a plan's state, as the admin API shows it. A value may be copied.
type Status struct {
	Route string `json:"route"`
	// State is one of running, paused, aborted, done, rolled_back.
	State string `json:"state"`
	// Step is the index in Steps of the step being baked (or that failed).
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
}

// Controller runs the plans of every route. Make one with NewController; it
// must not be copied. Its methods are safe for concurrent use.
type Controller struct {
	obs     Observer
	set     Setter
	now     func() time.Time
	logger  *slog.Logger
	metrics *metrics

	mu    sync.Mutex
	plans map[string]*run
}

// run is one route's plan and progress; its mutex is held across Setter
// calls so that decisions on one route are serialised.
type run struct {
	mu sync.Mutex
}

// NewController returns a Controller that reads figures from obs, applies
// weights through set and reads the time from now. Its series are registered on reg.
func NewController(obs Observer, set Setter, now func() time.Time, logger *slog.Logger, reg prometheus.Registerer) *Controller {
	return &Controller{obs: obs, set: set, now: now, logger: logger.With("component", "plan"), metrics: newMetrics(reg), plans: map[string]*run{}}
}

// Start is StartContext with a background context.
func (c *Controller) Start(route string, p Plan, actor string) error {
	return c.StartContext(context.Background(), route, p, actor)
}

// StartContext validates p and applies its first step's weight.
func (c *Controller) StartContext(ctx context.Context, route string, p Plan, actor string) error {
	return nil
}

// Pause freezes a running plan at its current weight.
func (c *Controller) Pause(route, actor string) error { return nil }

// Resume is ResumeContext with a background context.
func (c *Controller) Resume(route, actor string) error {
	return c.ResumeContext(context.Background(), route, actor)
}

// ResumeContext continues a paused or rolled-back plan from its current step.
func (c *Controller) ResumeContext(ctx context.Context, route, actor string) error { return nil }

// Abort is AbortContext with a background context.
func (c *Controller) Abort(route, actor string) error {
	return c.AbortContext(context.Background(), route, actor)
}

// AbortContext sets the route's weight to 0 and stops the plan.
func (c *Controller) AbortContext(ctx context.Context, route, actor string) error { return nil }

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
	return Status{Route: route}, true
}

// List returns the state of every route that has had a plan, sorted by route.
func (c *Controller) List() []Status { return nil }

// Tick evaluates every running plan once; the proxy calls it every second.
func (c *Controller) Tick(ctx context.Context) {}
