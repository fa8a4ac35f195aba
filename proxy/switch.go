package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// StateStore persists route states and their audit log (the control table,
// or memory for a single experimental replica).
type StateStore interface {
	LoadRoutes(ctx context.Context) (map[string]RouteState, error)
	CommitRoute(ctx context.Context, route string, prev int64, next RouteState, a AuditEntry) error
	Audit(ctx context.Context, route string, limit int) ([]AuditEntry, error)
}

// ErrUnknownRoute says a change named a route the file does not define.
var ErrUnknownRoute = errors.New("unknown route")

// Change is a requested change of a route's state; nil fields stay.
type Change struct {
	Mode   *Mode
	Weight *float64
}

// Switch owns the routing table: it applies every state change (admin API,
// plan, file reload, other replicas) by persisting it with its audit entry
// and then swapping in a new immutable Table, so in-flight requests finish
// on the table they started with and none is dropped or misrouted.
//
// Precedence: configs/proxy.yaml defines the routes (match, sticky key,
// shadow, plan) and their initial mode and weight; a persisted change
// (admin, plan) wins over the file until the file itself changes that
// route's mode or weight, which then wins and is persisted and audited as
// actor "config-file". Never copy one.
type Switch struct {
	store StateStore
	stats *Stats
	m     *Metrics
	now   func() time.Time
	log   *slog.Logger

	mu     sync.Mutex // serialises changes
	file   []RouteConfig
	groups []WriteGroupConfig
	states map[string]RouteState // by route or group name; absent: the file's
	table  atomic.Pointer[Table]
	// gate says whether a write group may be raised; nil lets every raise
	// through.
	gate Gate
}

// NewSwitch returns a Switch serving routes and write groups with the
// file's states; call Load to apply the persisted ones. gate (nil: none)
// guards raises of write groups.
func NewSwitch(routes []RouteConfig, groups []WriteGroupConfig, gate Gate, store StateStore, stats *Stats, m *Metrics, now func() time.Time, logger *slog.Logger) (*Switch, error) {
	s := &Switch{store: store, stats: stats, m: m, now: now, log: logger, file: routes, groups: groups, gate: gate, states: map[string]RouteState{}}
	if err := s.rebuild(); err != nil {
		return nil, err
	}
	return s, nil
}

// Table returns the current routing table.
func (s *Switch) Table() *Table { return s.table.Load() }

// rebuild compiles the table from s.file and s.states and swaps it in.
// Callers hold s.mu (or own s exclusively).
func (s *Switch) rebuild() error {
	t, err := buildTable(s.file, s.groups, s.states, s.stats.route)
	if err != nil {
		return err
	}
	s.table.Store(t)
	s.m.weight.Reset()
	for _, r := range t.routes {
		s.m.weight.WithLabelValues(r.Name(), string(r.state.Mode)).Set(r.state.Weight)
	}
	return nil
}

// Load reads the persisted states and reconciles them with the file (see
// the precedence on Switch).
func (s *Switch) Load(ctx context.Context) error {
	persisted, err := s.store.LoadRoutes(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states = persisted
	s.reconcile(ctx, nil, "proxy started with configs/proxy.yaml")
	return s.rebuild()
}

// reconcile makes the file win for every route whose file mode or weight
// differs from what the persisted state was set against, or, for a route
// never persisted, from what the previous file (old, nil at start) said.
// Callers hold s.mu.
func (s *Switch) reconcile(ctx context.Context, old []RouteConfig, reason string) {
	oldByName := map[string]RouteConfig{}
	for _, rc := range old {
		oldByName[rc.Name] = rc
	}
	for _, rc := range units(s.file, s.groups) {
		cur, ok := s.states[rc.Name]
		fs := fileState(rc)
		if !ok {
			prev, existed := oldByName[rc.Name]
			if !existed {
				continue
			}
			if cur = fileState(prev); cur.FileMode == fs.FileMode && cur.FileWeight == fs.FileWeight {
				continue
			}
		} else if cur.FileMode == fs.FileMode && cur.FileWeight == fs.FileWeight {
			continue
		}
		next := fs
		next.Actor, next.Reason = "config-file", reason
		if err := s.checkGate(ctx, rc.Name, cur, next); err != nil {
			s.log.Error("the config file raises a write group but the gate is closed: not applied (edit the file again once the cdc caught up, or use the admin API)",
				"group", rc.Name, "err", err)
			continue
		}
		if _, err := s.commit(ctx, rc.Name, cur, next, "file"); err != nil {
			// The file is its own record: apply it here even if it cannot be persisted.
			s.log.Error("persisting a route change from the config file failed; applied locally", "route", rc.Name, "err", err)
			next.Version = cur.Version
			s.states[rc.Name] = next
		}
	}
}

// commit persists next (a successor of cur) with its audit entry and records
// it in s.states. Callers hold s.mu and rebuild afterwards.
func (s *Switch) commit(ctx context.Context, route string, cur, next RouteState, origin string) (RouteState, error) {
	now := s.now().UTC()
	next.Version = cur.Version + 1
	next.UpdatedAt = now.Format(time.RFC3339Nano)
	if cur.SendsNew() && !next.SendsNew() {
		next.LastNew = next.UpdatedAt
	}
	next.PrevShare = share(cur)
	a := AuditEntry{At: now, Route: route, Actor: next.Actor, Reason: next.Reason, Before: cur, After: next}
	if err := s.store.CommitRoute(ctx, route, cur.Version, next, a); err != nil {
		return RouteState{}, err
	}
	s.states[route] = next
	s.m.changes.WithLabelValues(route, origin).Inc()
	s.log.Info("route changed", "route", route, "mode", next.Mode, "weight", next.Weight,
		"before_mode", cur.Mode, "before_weight", cur.Weight, "actor", next.Actor, "reason", next.Reason, "version", next.Version)
	return next, nil
}

// current returns the state of route (a route outside write groups, or a
// group). Callers hold s.mu.
func (s *Switch) current(route string) (RouteState, bool) {
	for _, rc := range units(s.file, s.groups) {
		if rc.Name == route {
			if st, ok := s.states[route]; ok {
				return st, true
			}
			return fileState(rc), true
		}
	}
	return RouteState{}, false
}

// Set applies ch to route on behalf of actor, persisted and audited, and
// returns the new state. It returns ErrVersionConflict when another replica
// changed the route first (the state is re-read; the caller may retry).
func (s *Switch) Set(ctx context.Context, route string, ch Change, actor, reason string) (RouteState, error) {
	return s.set(ctx, route, ch, actor, reason, "admin")
}

func (s *Switch) set(ctx context.Context, route string, ch Change, actor, reason, origin string) (RouteState, error) {
	if ch.Weight != nil {
		if err := checkWeight(*ch.Weight); err != nil {
			return RouteState{}, fmt.Errorf("weight %v: %w", *ch.Weight, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.current(route)
	if !ok {
		if g := s.groupOf(route); g != "" {
			return RouteState{}, fmt.Errorf("route %q is in write group %q: %w", route, g, ErrGroupMember)
		}
		return RouteState{}, fmt.Errorf("route %q: %w", route, ErrUnknownRoute)
	}
	next := cur
	if ch.Mode != nil {
		next.Mode = *ch.Mode
	}
	if ch.Weight != nil {
		next.Weight = *ch.Weight
	}
	next.Actor, next.Reason = actor, reason
	if err := s.checkGate(ctx, route, cur, next); err != nil {
		return RouteState{}, err
	}
	st, err := s.commit(ctx, route, cur, next, origin)
	if errors.Is(err, ErrVersionConflict) {
		if fresh, lerr := s.store.LoadRoutes(ctx); lerr == nil {
			s.applyNewer(fresh)
			_ = s.rebuild()
		}
	}
	if err != nil {
		return RouteState{}, err
	}
	return st, s.rebuild()
}

// SetWeight sets route's weight for a progressive plan, putting the route
// in canary mode (a plan's weight means nothing in another mode). It
// retries once on a concurrent change.
func (s *Switch) SetWeight(ctx context.Context, route string, weight float64, actor, reason string) error {
	mode := ModeCanary
	ch := Change{Mode: &mode, Weight: &weight}
	_, err := s.set(ctx, route, ch, actor, reason, "plan")
	if errors.Is(err, ErrVersionConflict) {
		_, err = s.set(ctx, route, ch, actor, reason, "plan")
	}
	return err
}

// ApplyFile installs the routes and write groups of a reloaded config
// file: new and removed ones take effect, and one whose mode or weight the
// file changed takes the file's (persisted and audited); others keep their
// state.
func (s *Switch) ApplyFile(ctx context.Context, routes []RouteConfig, groups []WriteGroupConfig) error {
	if _, err := buildTable(routes, groups, nil, s.stats.route); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := units(s.file, s.groups)
	s.file, s.groups = routes, groups
	s.reconcile(ctx, old, "configs/proxy.yaml changed")
	return s.rebuild()
}

// groupOf names the write group route moves with, or "". Callers hold s.mu.
func (s *Switch) groupOf(route string) string {
	for _, g := range s.groups {
		for _, r := range g.Routes {
			if r == route {
				return g.Name
			}
		}
	}
	return ""
}

// checkGate asks the gate whether name may go from cur to next: only a
// write group's raise (more buckets on new) is asked; a route's change and
// any lowering always pass. Callers hold s.mu.
func (s *Switch) checkGate(ctx context.Context, name string, cur, next RouteState) error {
	if s.gate == nil || share(next) <= share(cur) {
		return nil
	}
	for _, g := range s.groups {
		if g.Name == name {
			if err := s.gate.Check(ctx, g); err != nil {
				s.m.changes.WithLabelValues(name, "gate_closed").Inc()
				return fmt.Errorf("raising write group %s from %v %% to %v %%: %w", name, share(cur), share(next), err)
			}
		}
	}
	return nil
}

// Units names every route outside write groups and every write group: the
// names whose state changes (admin API, plans).
func (s *Switch) Units() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for _, u := range units(s.file, s.groups) {
		out[u.Name] = true
	}
	return out
}

// members returns the member routes of write group name, or nil.
func (s *Switch) members(name string) []string {
	if g, ok := s.Table().groups[name]; ok {
		return g.members
	}
	return nil
}

// applyNewer takes every persisted state newer than the local one. Callers
// hold s.mu. It reports whether anything changed.
func (s *Switch) applyNewer(persisted map[string]RouteState) bool {
	changed := false
	for name, st := range persisted {
		if cur, ok := s.states[name]; ok && cur.Version >= st.Version {
			continue
		}
		s.states[name] = st
		s.m.changes.WithLabelValues(name, "sync").Inc()
		s.log.Info("route changed by another replica", "route", name, "mode", st.Mode, "weight", st.Weight, "actor", st.Actor, "version", st.Version)
		changed = true
	}
	return changed
}

// Sync applies the persisted states that are newer than the local ones
// (changes made on other replicas).
func (s *Switch) Sync(ctx context.Context) error {
	persisted, err := s.store.LoadRoutes(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.applyNewer(persisted) {
		return nil
	}
	return s.rebuild()
}

// RunSync calls Sync every every() (read again each round, so a reload
// applies) until ctx ends, logging failures.
func (s *Switch) RunSync(ctx context.Context, every func() time.Duration) error {
	t := time.NewTimer(every())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		t.Reset(every())
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reading routing state from the control table failed; keeping the current one", "err", err)
		}
	}
}

// Audit returns the newest audit entries, of route or all when empty.
func (s *Switch) Audit(ctx context.Context, route string, limit int) ([]AuditEntry, error) {
	return s.store.Audit(ctx, route, limit)
}

// groupConfigs returns the write groups of the file in force.
func (s *Switch) groupConfigs() []WriteGroupConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.groups
}

// currentFile returns the routes of the file in force.
func (s *Switch) currentFile() []RouteConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.file
}
