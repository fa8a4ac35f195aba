package plan_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/proxy/plan"
)

// clock is a fake time source moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// observer is a fake plan.Observer answering the windows the test sets,
// whatever the route; it remembers the since it was asked for.
type observer struct {
	mu     sync.Mutex
	win    map[string]plan.Window // by backend
	sinces []time.Time
}

func (o *observer) set(newW, legacyW plan.Window) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.win = map[string]plan.Window{plan.BackendNew: newW, plan.BackendLegacy: legacyW}
}

func (o *observer) Window(_ string, backend string, since time.Time) plan.Window {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sinces = append(o.sinces, since)
	return o.win[backend]
}

// setter is a fake plan.Setter recording "route weight actor" per call; it
// fails while fail is set.
type setter struct {
	mu    sync.Mutex
	calls []string
	fail  error
}

func (s *setter) SetWeight(_ context.Context, route string, weight float64, actor, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		return errors.New("empty reason")
	}
	if s.fail != nil {
		return s.fail
	}
	s.calls = append(s.calls, fmt.Sprintf("%s %g %s", route, weight, actor))
	return nil
}

func (s *setter) failWith(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

func (s *setter) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

type fixture struct {
	clk *clock
	obs *observer
	set *setter
	reg *prometheus.Registry
	c   *plan.Controller
}

func newFixture() *fixture {
	f := &fixture{clk: newClock(), obs: &observer{}, set: &setter{}, reg: prometheus.NewRegistry()}
	f.c = plan.NewController(f.obs, f.set, f.clk.now, slog.New(slog.NewTextHandler(io.Discard, nil)), f.reg)
	return f
}

func testPlan() plan.Plan {
	return plan.Plan{
		Steps: []float64{10, 50, 100},
		Bake:  time.Minute,
		SLO:   plan.SLO{Max5xxRatio: 0.01, MaxP99: 200 * time.Millisecond, MinRequests: 100},
	}
}

var (
	good      = plan.Window{Requests: 500, Errors5xx: 1, P99: 50 * time.Millisecond}
	legGood   = plan.Window{Requests: 1000, Errors5xx: 2, P99: 60 * time.Millisecond}
	failing   = plan.Window{Requests: 500, Errors5xx: 50, P99: 50 * time.Millisecond}   // 10 % 5xx
	slow      = plan.Window{Requests: 500, Errors5xx: 0, P99: 900 * time.Millisecond}   // p99 over 200ms
	legBad    = plan.Window{Requests: 1000, Errors5xx: 100, P99: 60 * time.Millisecond} // legacy as bad as failing
	legSlow   = plan.Window{Requests: 1000, Errors5xx: 0, P99: 850 * time.Millisecond}
	fewBad    = plan.Window{Requests: 99, Errors5xx: 99, P99: 5 * time.Second}
	legacyOff = plan.Window{}
)

// step is one moment of a scenario: the clock moves by after, the
// observer answers newW and legW, op (if any) is applied by "alice", then
// Tick runs and the plan must be in wantState at wantWeight.
type step struct {
	after      time.Duration
	newW, legW plan.Window
	op         string // "", "pause", "resume", "abort", "start"
	wantState  string
	wantWeight float64
}

func TestControllerScenarios(t *testing.T) {
	tests := []struct {
		name     string
		steps    []step
		wantSets []string
	}{
		{
			name: "advances through all steps",
			steps: []step{
				{after: time.Minute, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 50},
				{after: time.Minute, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 100},
				{after: time.Minute, newW: good, legW: legacyOff, wantState: plan.StateDone, wantWeight: 100},
				{after: time.Hour, newW: failing, legW: legacyOff, wantState: plan.StateDone, wantWeight: 100},
			},
			wantSets: []string{"r 10 alice", "r 50 plan", "r 100 plan"},
		},
		{
			name: "waits for the bake time",
			steps: []step{
				{after: 30 * time.Second, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 10},
				{after: 29 * time.Second, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 10},
				{after: time.Second, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 50},
				{after: 59 * time.Second, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 50},
			},
			wantSets: []string{"r 10 alice", "r 50 plan"},
		},
		{
			name: "rolls back to the previous step on a 5xx breach",
			steps: []step{
				{after: time.Minute, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 50},
				{after: 10 * time.Second, newW: failing, legW: legGood, wantState: plan.StateRolledBack, wantWeight: 10},
				{after: time.Hour, newW: good, legW: legGood, wantState: plan.StateRolledBack, wantWeight: 10},
			},
			wantSets: []string{"r 10 alice", "r 50 plan", "r 10 plan"},
		},
		{
			name: "rolls back to 0 on a 5xx breach at the first step",
			steps: []step{
				{after: time.Second, newW: failing, legW: legGood, wantState: plan.StateRolledBack, wantWeight: 0},
			},
			wantSets: []string{"r 10 alice", "r 0 plan"},
		},
		{
			name: "rolls back on a p99 breach",
			steps: []step{
				{after: time.Minute, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 50},
				{after: time.Second, newW: slow, legW: legGood, wantState: plan.StateRolledBack, wantWeight: 10},
			},
			wantSets: []string{"r 10 alice", "r 50 plan", "r 10 plan"},
		},
		{
			name: "rolls back on the absolute limit when legacy has no traffic to compare",
			steps: []step{
				{after: time.Minute, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 50},
				{after: time.Minute, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 100},
				{after: time.Second, newW: failing, legW: legacyOff, wantState: plan.StateRolledBack, wantWeight: 50},
			},
			wantSets: []string{"r 10 alice", "r 50 plan", "r 100 plan", "r 50 plan"},
		},
		{
			name: "holds without rolling back when legacy is equally bad (5xx)",
			steps: []step{
				{after: 10 * time.Second, newW: failing, legW: legBad, wantState: plan.StateRunning, wantWeight: 10},
				{after: time.Hour, newW: failing, legW: legBad, wantState: plan.StateRunning, wantWeight: 10},
				{after: time.Second, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 50},
			},
			wantSets: []string{"r 10 alice", "r 50 plan"},
		},
		{
			name: "holds without rolling back when legacy is equally slow",
			steps: []step{
				{after: time.Hour, newW: slow, legW: legSlow, wantState: plan.StateRunning, wantWeight: 10},
			},
			wantSets: []string{"r 10 alice"},
		},
		{
			name: "takes no decision below min requests",
			steps: []step{
				{after: time.Second, newW: fewBad, legW: legGood, wantState: plan.StateRunning, wantWeight: 10},
				{after: time.Hour, newW: fewBad, legW: legGood, wantState: plan.StateRunning, wantWeight: 10},
				{after: time.Second, newW: plan.Window{Requests: 99}, legW: legGood, wantState: plan.StateRunning, wantWeight: 10},
			},
			wantSets: []string{"r 10 alice"},
		},
		{
			name: "pause freezes and resume restarts the bake",
			steps: []step{
				{after: 50 * time.Second, newW: good, legW: legGood, op: "pause", wantState: plan.StatePaused, wantWeight: 10},
				{after: time.Hour, newW: failing, legW: legGood, wantState: plan.StatePaused, wantWeight: 10},
				{after: time.Second, newW: good, legW: legGood, op: "resume", wantState: plan.StateRunning, wantWeight: 10},
				{after: 59 * time.Second, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 10},
				{after: time.Second, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 50},
			},
			wantSets: []string{"r 10 alice", "r 50 plan"},
		},
		{
			name: "abort sends the route back to 0 and stops",
			steps: []step{
				{after: time.Minute, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 50},
				{after: time.Second, newW: good, legW: legGood, op: "abort", wantState: plan.StateAborted, wantWeight: 0},
				{after: time.Hour, newW: good, legW: legGood, wantState: plan.StateAborted, wantWeight: 0},
			},
			wantSets: []string{"r 10 alice", "r 50 plan", "r 0 alice"},
		},
		{
			name: "abort while paused",
			steps: []step{
				{after: time.Second, newW: good, legW: legGood, op: "pause", wantState: plan.StatePaused, wantWeight: 10},
				{after: time.Second, newW: good, legW: legGood, op: "abort", wantState: plan.StateAborted, wantWeight: 0},
			},
			wantSets: []string{"r 10 alice", "r 0 alice"},
		},
		{
			name: "resume after a rollback re-applies the failed step and bakes it again",
			steps: []step{
				{after: time.Minute, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 50},
				{after: 10 * time.Second, newW: failing, legW: legGood, wantState: plan.StateRolledBack, wantWeight: 10},
				{after: time.Minute, newW: good, legW: legGood, op: "resume", wantState: plan.StateRunning, wantWeight: 50},
				{after: 59 * time.Second, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 50},
				{after: time.Second, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 100},
				{after: time.Minute, newW: good, legW: legacyOff, wantState: plan.StateDone, wantWeight: 100},
			},
			wantSets: []string{"r 10 alice", "r 50 plan", "r 10 plan", "r 50 alice", "r 100 plan"},
		},
		{
			name: "start again after a rollback begins at the first step",
			steps: []step{
				{after: time.Minute, newW: good, legW: legGood, wantState: plan.StateRunning, wantWeight: 50},
				{after: time.Second, newW: slow, legW: legGood, wantState: plan.StateRolledBack, wantWeight: 10},
				{after: time.Second, newW: good, legW: legGood, op: "start", wantState: plan.StateRunning, wantWeight: 10},
			},
			wantSets: []string{"r 10 alice", "r 50 plan", "r 10 plan", "r 10 alice"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			if err := f.c.Start("r", testPlan(), "alice"); err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				f.clk.add(s.after)
				f.obs.set(s.newW, s.legW)
				var err error
				switch s.op {
				case "pause":
					err = f.c.Pause("r", "alice")
				case "resume":
					err = f.c.Resume("r", "alice")
				case "abort":
					err = f.c.Abort("r", "alice")
				case "start":
					err = f.c.Start("r", testPlan(), "alice")
				}
				if err != nil {
					t.Fatalf("step %d: %s: %v", i, s.op, err)
				}
				f.c.Tick(t.Context())
				st, ok := f.c.Status("r")
				if !ok {
					t.Fatalf("step %d: no status", i)
				}
				if st.State != s.wantState || st.Weight != s.wantWeight {
					t.Fatalf("step %d: state %s at %g%%, want %s at %g%% (reason: %s)", i, st.State, st.Weight, s.wantState, s.wantWeight, st.Reason)
				}
			}
			if diff := cmp.Diff(tt.wantSets, f.set.got()); diff != "" {
				t.Errorf("SetWeight calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRollbackStatus(t *testing.T) {
	f := newFixture()
	start := f.clk.now()
	if err := f.c.Start("r", testPlan(), "alice"); err != nil {
		t.Fatal(err)
	}
	f.obs.set(good, legGood)
	f.clk.add(time.Minute)
	f.c.Tick(t.Context())
	advanced := f.clk.now()
	f.obs.set(failing, legGood)
	f.clk.add(10 * time.Second)
	f.c.Tick(t.Context())

	st, _ := f.c.Status("r")
	for _, figure := range []string{"10.00% (50/500)", "0.20% (2/1000)", "rolled back to 10%"} {
		if !strings.Contains(st.Reason, figure) {
			t.Errorf("reason %q does not state %q", st.Reason, figure)
		}
	}
	st.Reason = ""
	var actions []string
	for _, e := range st.History {
		actions = append(actions, e.Actor+" "+e.Action)
	}
	st.History = nil
	want := plan.Status{
		Route: "r", State: plan.StateRolledBack, Step: 1, Steps: []float64{10, 50, 100},
		Weight: 10, LastSafeWeight: 10, StepStartedAt: advanced, Bake: testPlan().Bake, SLO: testPlan().SLO,
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"alice start", "plan advance", "plan rollback"}, actions); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	// Every window asked for starts when its step started.
	for _, since := range f.obs.sinces {
		if !since.Equal(start) && !since.Equal(advanced) {
			t.Errorf("window since %v, want a step start (%v or %v)", since, start, advanced)
		}
	}
	if got := metric(t, f.reg, "proxy_plan_rollbacks_total", "r"); got != 1 {
		t.Errorf("proxy_plan_rollbacks_total = %g, want 1", got)
	}
	if got := metric(t, f.reg, "proxy_plan_step", "r"); got != 1 {
		t.Errorf("proxy_plan_step = %g, want 1 (the first step's weight is applied)", got)
	}
}

func TestRunningStatusShowsNextStep(t *testing.T) {
	f := newFixture()
	if err := f.c.Start("r", testPlan(), "alice"); err != nil {
		t.Fatal(err)
	}
	st, ok := f.c.Status("r")
	if !ok || !st.NextStepAt.Equal(f.clk.now().Add(time.Minute)) {
		t.Errorf("status %+v, want next step a bake time from now", st)
	}
	if got := metric(t, f.reg, "proxy_plan_step", "r"); got != 1 {
		t.Errorf("proxy_plan_step = %g, want 1", got)
	}
	if got := metric(t, f.reg, "proxy_plan_weight", "r"); got != 10 {
		t.Errorf("proxy_plan_weight = %g, want 10", got)
	}
	if diff := cmp.Diff([]plan.Status{st}, f.c.List()); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func TestStateErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fixture) // after Start of route "r"
		act   func(c *plan.Controller) error
		want  error
	}{
		{name: "pause unknown route", act: func(c *plan.Controller) error { return c.Pause("other", "a") }, want: plan.ErrNoPlan},
		{name: "resume unknown route", act: func(c *plan.Controller) error { return c.Resume("other", "a") }, want: plan.ErrNoPlan},
		{name: "abort unknown route", act: func(c *plan.Controller) error { return c.Abort("other", "a") }, want: plan.ErrNoPlan},
		{name: "start while running", act: func(c *plan.Controller) error { return c.Start("r", testPlan(), "a") }, want: plan.ErrState},
		{name: "resume while running", act: func(c *plan.Controller) error { return c.Resume("r", "a") }, want: plan.ErrState},
		{
			name:  "pause while paused",
			setup: func(f *fixture) { _ = f.c.Pause("r", "a") },
			act:   func(c *plan.Controller) error { return c.Pause("r", "a") },
			want:  plan.ErrState,
		},
		{
			name:  "start while paused",
			setup: func(f *fixture) { _ = f.c.Pause("r", "a") },
			act:   func(c *plan.Controller) error { return c.Start("r", testPlan(), "a") },
			want:  plan.ErrState,
		},
		{
			name:  "resume after abort",
			setup: func(f *fixture) { _ = f.c.Abort("r", "a") },
			act:   func(c *plan.Controller) error { return c.Resume("r", "a") },
			want:  plan.ErrState,
		},
		{
			name:  "abort after abort",
			setup: func(f *fixture) { _ = f.c.Abort("r", "a") },
			act:   func(c *plan.Controller) error { return c.Abort("r", "a") },
			want:  plan.ErrState,
		},
		{
			name: "abort when done",
			setup: func(f *fixture) {
				f.obs.set(good, legGood)
				for range 3 {
					f.clk.add(time.Minute)
					f.c.Tick(context.Background())
				}
			},
			act:  func(c *plan.Controller) error { return c.Abort("r", "a") },
			want: plan.ErrState,
		},
		{
			name:  "start after abort",
			setup: func(f *fixture) { _ = f.c.Abort("r", "a") },
			act:   func(c *plan.Controller) error { return c.Start("r", testPlan(), "a") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			if err := f.c.Start("r", testPlan(), "alice"); err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				tt.setup(f)
			}
			if err := tt.act(f.c); !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestStartRefusesAnInvalidPlan(t *testing.T) {
	f := newFixture()
	p := testPlan()
	p.Steps = []float64{50, 10}
	err := f.c.Start("r", p, "alice")
	if !config.IsConfigError(err) {
		t.Fatalf("error %v, want a config error", err)
	}
	if _, ok := f.c.Status("r"); ok {
		t.Error("a refused plan has a status")
	}
	if len(f.set.got()) != 0 {
		t.Errorf("weights set: %v", f.set.got())
	}
}

func TestSetterFailures(t *testing.T) {
	f := newFixture()
	down := errors.New("control table unavailable")
	f.set.failWith(down)
	if err := f.c.Start("r", testPlan(), "alice"); !errors.Is(err, down) {
		t.Fatalf("start error %v, want %v", err, down)
	}
	if _, ok := f.c.Status("r"); ok {
		t.Fatal("a plan whose first weight was never set has a status")
	}
	if err := f.c.Pause("r", "alice"); !errors.Is(err, plan.ErrNoPlan) {
		t.Fatalf("pause error %v, want ErrNoPlan", err)
	}

	f.set.failWith(nil)
	if err := f.c.Start("r", testPlan(), "alice"); err != nil {
		t.Fatal(err)
	}
	// A rollback that cannot be applied is retried on the next tick.
	f.obs.set(failing, legGood)
	f.set.failWith(down)
	f.clk.add(time.Second)
	f.c.Tick(t.Context())
	if st, _ := f.c.Status("r"); st.State != plan.StateRunning || st.Weight != 10 {
		t.Fatalf("after a failed rollback: %s at %g%%, want running at 10%%", st.State, st.Weight)
	}
	f.set.failWith(nil)
	f.clk.add(time.Second)
	f.c.Tick(t.Context())
	if st, _ := f.c.Status("r"); st.State != plan.StateRolledBack || st.Weight != 0 {
		t.Fatalf("after the retry: %s at %g%%, want rolled_back at 0%%", st.State, st.Weight)
	}
	// A resume that cannot be applied changes nothing.
	f.set.failWith(down)
	if err := f.c.Resume("r", "alice"); !errors.Is(err, down) {
		t.Fatalf("resume error %v, want %v", err, down)
	}
	if st, _ := f.c.Status("r"); st.State != plan.StateRolledBack {
		t.Fatalf("after a failed resume: %s, want rolled_back", st.State)
	}
	if diff := cmp.Diff([]string{"r 10 alice", "r 0 plan"}, f.set.got()); diff != "" {
		t.Errorf("SetWeight calls (-want +got):\n%s", diff)
	}
}

func TestTickStopsWhenContextEnds(t *testing.T) {
	f := newFixture()
	if err := f.c.Start("r", testPlan(), "alice"); err != nil {
		t.Fatal(err)
	}
	f.obs.set(failing, legGood)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f.c.Tick(ctx)
	if st, _ := f.c.Status("r"); st.State != plan.StateRunning {
		t.Errorf("state %s after a cancelled tick, want running", st.State)
	}
}

// TestConcurrentUse runs ticks, operator actions and reads on several
// routes at once; -race checks the locking.
func TestConcurrentUse(t *testing.T) {
	f := newFixture()
	f.obs.set(good, legGood)
	routes := []string{"a", "b", "c", "d"}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 200 {
			f.clk.add(10 * time.Second)
			f.c.Tick(t.Context())
		}
	})
	for _, r := range routes {
		wg.Go(func() {
			for i := range 50 {
				_ = f.c.Start(r, testPlan(), "alice")
				_ = f.c.Pause(r, "alice")
				_ = f.c.Resume(r, "alice")
				if i%3 == 0 {
					_ = f.c.Abort(r, "alice")
				}
				f.c.Status(r)
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			f.c.List()
		}
	})
	wg.Wait()
	if got := len(f.c.List()); got != len(routes) {
		t.Errorf("List has %d plans, want %d", got, len(routes))
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(p *plan.Plan)
		wantKeys []string
	}{
		{name: "valid", edit: func(*plan.Plan) {}},
		{name: "p99 optional", edit: func(p *plan.Plan) { p.SLO.MaxP99 = 0 }},
		{name: "no steps", edit: func(p *plan.Plan) { p.Steps = nil }, wantKeys: []string{"route.plan.steps"}},
		{name: "not ascending", edit: func(p *plan.Plan) { p.Steps = []float64{1, 5, 5} }, wantKeys: []string{"route.plan.steps[2]"}},
		{name: "out of range", edit: func(p *plan.Plan) { p.Steps = []float64{0, 150} }, wantKeys: []string{"route.plan.steps[0]", "route.plan.steps[1]"}},
		{name: "no bake", edit: func(p *plan.Plan) { p.Bake = 0 }, wantKeys: []string{"route.plan.bake"}},
		{
			name:     "bad slo",
			edit:     func(p *plan.Plan) { p.SLO = plan.SLO{Max5xxRatio: 1, MaxP99: -1, MinRequests: 0} },
			wantKeys: []string{"route.plan.slo.max_5xx_ratio", "route.plan.slo.max_p99", "route.plan.slo.min_requests"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPlan()
			tt.edit(&p)
			ck := config.NewChecker("proxy")
			p.Validate(ck, "route.plan")
			if diff := cmp.Diff(tt.wantKeys, errorKeys(ck.Err())); diff != "" {
				t.Errorf("failing keys (-want +got):\n%s", diff)
			}
		})
	}
}

// errorKeys lists the keys of every *config.Error joined in err.
func errorKeys(err error) []string {
	if err == nil {
		return nil
	}
	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *config.Error
		if errors.As(e, &ce) {
			keys = append(keys, ce.Key)
		}
	}
	return keys
}

// metric returns the value of the series name{route=route} in reg.
func metric(t *testing.T, reg *prometheus.Registry, name, route string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					return m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{route=%q}", name, route)
	return 0
}

func TestRestoreKeepsBakingAndRollingBack(t *testing.T) {
	f := newFixture()
	if err := f.c.Start("r", testPlan(), "alice"); err != nil {
		t.Fatal(err)
	}
	f.obs.set(good, legGood)
	f.clk.add(time.Minute)
	f.c.Tick(t.Context())
	saved, _ := f.c.Status("r")

	// A new Controller (the proxy restarted) picks the plan up where it was.
	g := newFixture()
	g.clk, g.reg = f.clk, prometheus.NewRegistry()
	g.c = plan.NewController(g.obs, g.set, g.clk.now, slog.New(slog.NewTextHandler(io.Discard, nil)), g.reg)
	if err := g.c.Restore("r", testPlan(), saved, "proxy"); err != nil {
		t.Fatal(err)
	}
	if err := g.c.Restore("r", testPlan(), saved, "proxy"); !errors.Is(err, plan.ErrState) {
		t.Errorf("second restore: %v, want ErrState", err)
	}
	got, _ := g.c.Status("r")
	if got.State != plan.StateRunning || got.Step != 1 || got.Weight != 50 || got.LastSafeWeight != 10 || !got.StepStartedAt.Equal(saved.StepStartedAt) {
		t.Fatalf("restored %+v, want running at step 1 (50%%, last safe 10%%) since %v", got, saved.StepStartedAt)
	}
	g.obs.set(failing, legGood)
	g.clk.add(time.Second)
	g.c.Tick(t.Context())
	if diff := cmp.Diff([]string{"r 10 plan"}, g.set.got()); diff != "" {
		t.Errorf("SetWeight calls after restore (-want +got):\n%s", diff)
	}
}

func TestRestoreRefusesAStatusThatDoesNotFit(t *testing.T) {
	tests := []struct {
		name string
		st   plan.Status
	}{
		{name: "unknown state", st: plan.Status{State: "sideways"}},
		{name: "step outside the plan", st: plan.Status{State: plan.StateRunning, Step: 3}},
		{name: "negative step", st: plan.Status{State: plan.StateRunning, Step: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			if err := f.c.Restore("r", testPlan(), tt.st, "proxy"); !errors.Is(err, plan.ErrState) {
				t.Errorf("error %v, want ErrState", err)
			}
			if _, ok := f.c.Status("r"); ok {
				t.Error("a refused restore left a status")
			}
		})
	}
}

// TestActCarriesTheReason: an operator's reason leads the reason each
// action records (history and the weight it sets); an unknown action is
// refused.
func TestActCarriesTheReason(t *testing.T) {
	f := newFixture()
	ctx := context.Background()
	for _, a := range []plan.Action{
		{Kind: "start", Plan: testPlan(), Actor: "alice", Reason: "first canary"},
		{Kind: "pause", Actor: "bob", Reason: "a deploy of new"},
		{Kind: "resume", Actor: "bob", Reason: "deploy done"},
		{Kind: "abort", Actor: "carol", Reason: "new drops the coupon"},
	} {
		if err := f.c.Act(ctx, "r", a); err != nil {
			t.Fatalf("%s: %v", a.Kind, err)
		}
		st, _ := f.c.Status("r")
		last := st.History[len(st.History)-1]
		if last.Action != a.Kind || last.Actor != a.Actor || !strings.HasPrefix(last.Reason, a.Reason+" (") || st.Reason != last.Reason {
			t.Errorf("%s: history %+v, status reason %q; want the action by %s, its reason led by %q", a.Kind, last, st.Reason, a.Actor, a.Reason)
		}
	}
	if err := f.c.Act(ctx, "r", plan.Action{Kind: "restart", Actor: "alice", Reason: "x"}); !errors.Is(err, plan.ErrAction) {
		t.Errorf("an unknown action: %v, want ErrAction", err)
	}
}
