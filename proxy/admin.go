package proxy

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/proxy/plan"
	"github.com/anycompany/strangler/proxy/shadow"
)

// PlanDriverView is which replica drives the plans.
type PlanDriverView struct {
	Driving bool   `json:"driving"`
	Holder  string `json:"holder,omitempty"`
}

// planDriver is a PlanRunner that knows whether it drives the plans.
type planDriver interface {
	Driver() (driving bool, holder string)
}

// PlanRunner runs progressive plans (proxy/plan.Controller).
type PlanRunner interface {
	Act(ctx context.Context, route string, a plan.Action) error
	Status(route string) (plan.Status, bool)
}

// Admin is the operators' HTTP API, served on its own loopback listener and
// guarded by a bearer token:
//
//	GET  /admin/routes                 routes with live figures, modes, weights and plans; write groups
//	PUT  /admin/routes/{route}         {"mode", "weight", "actor", "reason"}; {route} may name a write group
//	POST /admin/routes/{route}/plan    {"action": start|pause|resume|abort, "actor", "reason", "plan"?}
//	GET  /admin/routes/{route}/history a route's or write group's figures, a sample every 10 s for the last hour
//	GET  /admin/audit?route=&limit=    the audit log, newest first
//	GET  /admin/diffs                  the shadow comparison report
//	GET  /metrics                      Prometheus (no token: scrapers)
//	GET  /healthz                      liveness (no token)
//
// Never copy one.
type Admin struct {
	token   []byte
	sw      *Switch
	stats   *Stats
	hist    *History
	plans   PlanRunner
	diffs   func() shadow.Report
	backend func() []BackendStatus
	gather  prometheus.Gatherer
	now     func() time.Time
	log     *slog.Logger
}

// BackendStatus is one backend's health as the admin API shows it.
type BackendStatus struct {
	Name    Backend `json:"name"`
	URL     string  `json:"url"`
	Healthy bool    `json:"healthy"`
	Circuit string  `json:"circuit,omitempty"`
}

// Handler returns the admin routes.
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.gather, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /admin/routes", a.authed(a.listRoutes))
	mux.HandleFunc("PUT /admin/routes/{route}", a.authed(a.setRoute))
	mux.HandleFunc("POST /admin/routes/{route}/plan", a.authed(a.planAction))
	mux.HandleFunc("GET /admin/routes/{route}/history", a.authed(a.history))
	mux.HandleFunc("GET /admin/audit", a.authed(a.audit))
	mux.HandleFunc("GET /admin/diffs", a.authed(a.listDiffs))
	// Profiles of the running proxy (go tool pprof), behind the token: they
	// expose internals and a CPU profile costs while it runs.
	mux.HandleFunc("GET /debug/pprof/", a.authed(pprof.Index))
	mux.HandleFunc("GET /debug/pprof/profile", a.authed(pprof.Profile))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.New(http.StatusNotFound, "Not found", "no admin call "+r.Method+" "+r.URL.Path))
	})
	return mux
}

func (a *Admin) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if len(auth) < 7 || !strings.EqualFold(auth[:7], "bearer ") || subtle.ConstantTimeCompare([]byte(auth[7:]), a.token) != 1 {
			problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized", "send Authorization: Bearer <admin token> (admin.token)"))
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// BackendFigures are one route's figures on one backend.
type BackendFigures struct {
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	// Last60s are the figures of the last minute.
	Last60s WindowFigures `json:"last_60s"`
}

// WindowFigures are a window's figures in JSON units.
type WindowFigures struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
}

// RouteView is one route as GET /admin/routes shows it.
type RouteView struct {
	Name     string                     `json:"name"`
	Match    string                     `json:"match"`
	Sticky   string                     `json:"sticky"`
	State    RouteState                 `json:"state"`
	Backends map[Backend]BackendFigures `json:"backends"`
	HasPlan  bool                       `json:"has_plan"`
	// SLO is the configured plan's (the charts' SLO lines), or nil.
	SLO  *plan.SLO    `json:"slo,omitempty"`
	Plan *plan.Status `json:"plan,omitempty"`
	// Group is the write group the route moves with (its State is the
	// group's), or empty.
	Group string `json:"group,omitempty"`
}

// GroupView is one write group as GET /admin/routes shows it.
type GroupView struct {
	Name    string       `json:"name"`
	Routes  []string     `json:"routes"`
	State   RouteState   `json:"state"`
	HasPlan bool         `json:"has_plan"`
	SLO     *plan.SLO    `json:"slo,omitempty"`
	Plan    *plan.Status `json:"plan,omitempty"`
}

// RoutesView is the answer of GET /admin/routes.
type RoutesView struct {
	Routes []RouteView `json:"routes"`
	// Groups are the write groups (changed by name like routes).
	Groups   []GroupView     `json:"groups,omitempty"`
	Backends []BackendStatus `json:"backends"`
	// PlanDriver says whether this replica drives the progressive plans
	// and which replica holds the plan lease (empty with state in memory).
	PlanDriver PlanDriverView `json:"plan_driver"`
}

func (a *Admin) listRoutes(w http.ResponseWriter, _ *http.Request) {
	t := a.sw.Table()
	now := a.now()
	out := RoutesView{Backends: a.backend()}
	if d, ok := a.plans.(planDriver); ok {
		out.PlanDriver.Driving, out.PlanDriver.Holder = d.Driver()
	}
	for _, r := range append(append([]*Route{}, t.routes...), t.unmatched) {
		v := RouteView{Name: r.Name(), Match: r.cfg.Match, State: r.state, Backends: map[Backend]BackendFigures{}, HasPlan: r.cfg.Plan != nil}
		if r != t.unmatched {
			v.Sticky = r.key.String()
		}
		if r.group != nil {
			v.Group = r.group.cfg.Name
		}
		if r.cfg.Plan != nil {
			v.SLO = &r.cfg.Plan.SLO
		}
		for _, b := range []Backend{BackendLegacy, BackendNew} {
			req, errs := a.stats.Totals(r.Name(), b)
			ws := a.stats.Window(b, now.Add(-59*time.Second), r.Name())
			v.Backends[b] = BackendFigures{Requests: req, Errors: errs, Last60s: WindowFigures{
				Requests: ws.Requests, Errors: ws.Errors5xx, P50ms: ms(ws.P50), P99ms: ms(ws.P99)}}
		}
		if a.plans != nil {
			if st, ok := a.plans.Status(r.Name()); ok {
				v.Plan = &st
			}
		}
		out.Routes = append(out.Routes, v)
	}
	for _, gc := range a.sw.groupConfigs() {
		g := t.groups[gc.Name]
		v := GroupView{Name: gc.Name, Routes: gc.Routes, HasPlan: gc.Plan != nil}
		if gc.Plan != nil {
			v.SLO = &gc.Plan.SLO
		}
		for _, r := range t.routes {
			if r.group == g {
				v.State = r.state
			}
		}
		if a.plans != nil {
			if st, ok := a.plans.Status(gc.Name); ok {
				v.Plan = &st
			}
		}
		out.Groups = append(out.Groups, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// SetRouteRequest is the body of PUT /admin/routes/{route}.
type SetRouteRequest struct {
	Mode   *string  `json:"mode,omitempty"`
	Weight *float64 `json:"weight,omitempty"`
	Actor  string   `json:"actor"`
	Reason string   `json:"reason"`
}

func (a *Admin) setRoute(w http.ResponseWriter, r *http.Request) {
	var req SetRouteRequest
	if p := problem.DecodeJSON(w, r, 64<<10, &req); p != nil {
		problem.Write(w, p)
		return
	}
	var ch Change
	if req.Mode != nil {
		m, err := ParseMode(*req.Mode)
		if err != nil || *req.Mode == "" {
			problem.Write(w, problem.Invalid("mode", "must be legacy, shadow, canary or new"))
			return
		}
		ch.Mode = &m
	}
	if req.Weight != nil {
		if err := checkWeight(*req.Weight); err != nil {
			problem.Write(w, problem.Invalid("weight", "must be 0 to 100 with at most two decimals"))
			return
		}
		ch.Weight = req.Weight
	}
	if ch.Mode == nil && ch.Weight == nil {
		problem.Write(w, problem.Invalid("mode", "send a mode, a weight or both"))
		return
	}
	if p := needActor(req.Actor, req.Reason); p != nil {
		problem.Write(w, p)
		return
	}
	st, err := a.sw.Set(r.Context(), r.PathValue("route"), ch, req.Actor, req.Reason)
	if err != nil {
		a.changeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func needActor(actor, reason string) *problem.Problem {
	if strings.TrimSpace(actor) == "" {
		return problem.Invalid("actor", "say who makes the change (it goes to the audit log)")
	}
	if strings.TrimSpace(reason) == "" {
		return problem.Invalid("reason", "say why (it goes to the audit log)")
	}
	return nil
}

func (a *Admin) changeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrUnknownRoute):
		problem.Write(w, problem.New(http.StatusNotFound, "Unknown route", err.Error()))
	case errors.Is(err, ErrGroupMember):
		problem.Write(w, problem.New(http.StatusConflict, "Route in a write group", err.Error()))
	case errors.Is(err, ErrGateClosed):
		problem.Write(w, problem.New(http.StatusConflict, "Write gate closed", err.Error()))
	case errors.Is(err, ErrVersionConflict):
		problem.Write(w, problem.New(http.StatusConflict, "Concurrent change", err.Error()+"; read the routes again and retry"))
	case errors.Is(err, ErrNotPlanDriver):
		problem.Write(w, problem.New(http.StatusConflict, "Not the plan driver", err.Error()))
	case errors.Is(err, plan.ErrState), errors.Is(err, plan.ErrNoPlan):
		problem.Write(w, problem.New(http.StatusConflict, "Plan state", err.Error()))
	case config.IsConfigError(err):
		problem.Write(w, problem.Invalid("plan", err.Error()))
	default:
		a.log.Error("admin change failed", "err", err)
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "Change not applied", err.Error()))
	}
}

// PlanRequest is the body of POST /admin/routes/{route}/plan.
type PlanRequest struct {
	Action string `json:"action"`
	Actor  string `json:"actor"`
	// Reason says why (the plan's history and the audit log). Required.
	Reason string `json:"reason"`
	// Plan overrides the route's configured plan on start. Optional.
	Plan *PlanSpec `json:"plan,omitempty"`
}

// PlanSpec is a plan in JSON: durations as Go duration strings ("5m").
type PlanSpec struct {
	Steps []float64 `json:"steps"`
	Bake  string    `json:"bake"`
	SLO   struct {
		Max5xxRatio float64 `json:"max_5xx_ratio"`
		MaxP99      string  `json:"max_p99,omitempty"`
		MinRequests int     `json:"min_requests"`
	} `json:"slo"`
}

func (s *PlanSpec) plan() (plan.Plan, error) {
	p := plan.Plan{Steps: s.Steps, SLO: plan.SLO{Max5xxRatio: s.SLO.Max5xxRatio, MinRequests: s.SLO.MinRequests}}
	var err error
	if p.Bake, err = time.ParseDuration(s.Bake); err != nil {
		return p, fmt.Errorf("plan.bake %q: %w", s.Bake, err)
	}
	if s.SLO.MaxP99 != "" {
		if p.SLO.MaxP99, err = time.ParseDuration(s.SLO.MaxP99); err != nil {
			return p, fmt.Errorf("plan.slo.max_p99 %q: %w", s.SLO.MaxP99, err)
		}
	}
	return p, nil
}

func (a *Admin) planAction(w http.ResponseWriter, r *http.Request) {
	var req PlanRequest
	if p := problem.DecodeJSON(w, r, 64<<10, &req); p != nil {
		problem.Write(w, p)
		return
	}
	if p := needActor(req.Actor, req.Reason); p != nil {
		problem.Write(w, p)
		return
	}
	if a.plans == nil {
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "No plans", "this proxy runs no plan controller"))
		return
	}
	name := r.PathValue("route")
	var cfgPlan *plan.Plan
	if rt, ok := a.sw.Table().Route(name); ok && rt.group == nil {
		cfgPlan = rt.cfg.Plan
	} else if g, ok := a.sw.Table().Group(name); ok {
		cfgPlan = g.Plan
	} else if ok {
		problem.Write(w, problem.New(http.StatusConflict, "Route in a write group",
			fmt.Sprintf("route %q is in write group %q: %v", name, rt.group.cfg.Name, ErrGroupMember)))
		return
	} else {
		problem.Write(w, problem.New(http.StatusNotFound, "Unknown route", fmt.Sprintf("route %q: %v", name, ErrUnknownRoute)))
		return
	}
	act := plan.Action{Kind: req.Action, Actor: req.Actor, Reason: req.Reason}
	switch req.Action {
	case "start":
		switch {
		case req.Plan != nil:
			var err error
			if act.Plan, err = req.Plan.plan(); err != nil {
				problem.Write(w, problem.Invalid("plan", err.Error()))
				return
			}
		case cfgPlan != nil:
			act.Plan = *cfgPlan
		default:
			problem.Write(w, problem.Invalid("plan", "the route has no plan in configs/proxy.yaml: send one"))
			return
		}
	case "pause", "resume", "abort":
	default:
		problem.Write(w, problem.Invalid("action", "must be start, pause, resume or abort"))
		return
	}
	err := a.plans.Act(r.Context(), name, act)
	if err != nil {
		a.changeError(w, err)
		return
	}
	st, _ := a.plans.Status(name)
	writeJSON(w, http.StatusOK, st)
}

func (a *Admin) audit(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			problem.Write(w, problem.Invalid("limit", "must be 1 to 1000"))
			return
		}
		limit = n
	}
	entries, err := a.sw.Audit(r.Context(), r.URL.Query().Get("route"), limit)
	if err != nil {
		a.log.Error("reading the audit log failed", "err", err)
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "Audit log unavailable", err.Error()))
		return
	}
	if entries == nil {
		entries = []AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

func (a *Admin) listDiffs(w http.ResponseWriter, _ *http.Request) {
	rep := shadow.Report{Routes: []shadow.RouteReport{}}
	if a.diffs != nil {
		rep = a.diffs()
		if rep.Routes == nil {
			rep.Routes = []shadow.RouteReport{}
		}
	}
	writeJSON(w, http.StatusOK, rep)
}
