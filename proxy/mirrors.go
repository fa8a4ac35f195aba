package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/anycompany/strangler/proxy/shadow"
)

// mirrorSet keeps one shadow.Mirror per route (each route has its own
// shadow settings), replacing a route's mirror when a reload changes its
// settings. Each mirror registers its series on its own registry, gathered
// with the proxy's. Never copy one.
type mirrorSet struct {
	newRT, legacyRT   http.RoundTripper
	newURL, legacyURL *url.URL
	log               *slog.Logger

	mu      sync.RWMutex
	byRoute map[string]*mirrorEntry
	gen     int // bumped when the backends change: every mirror is rebuilt
}

var (
	_ Mirrors             = (*mirrorSet)(nil)
	_ prometheus.Gatherer = (*mirrorSet)(nil)
)

type mirrorEntry struct {
	gen    int
	cfg    shadow.Config
	m      *shadow.Mirror
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
}

func newMirrorSet(newRT, legacyRT http.RoundTripper, newURL, legacyURL *url.URL, logger *slog.Logger) *mirrorSet {
	return &mirrorSet{newRT: newRT, legacyRT: legacyRT, newURL: newURL, legacyURL: legacyURL, log: logger, byRoute: map[string]*mirrorEntry{}}
}

func shadowConfig(rc RouteConfig) shadow.Config {
	if rc.Shadow != nil {
		return *rc.Shadow
	}
	return shadow.DefaultConfig()
}

// apply runs a mirror for every route of routes (their workers live until
// ctx ends or the route's settings change) and stops the others.
func (s *mirrorSet) apply(ctx context.Context, routes []RouteConfig) {
	s.mu.Lock()
	var stop []*mirrorEntry
	keep := map[string]bool{}
	for _, rc := range routes {
		keep[rc.Name] = true
		cfg := shadowConfig(rc)
		if e, ok := s.byRoute[rc.Name]; ok {
			if e.gen == s.gen && reflect.DeepEqual(e.cfg, cfg) {
				continue
			}
			stop = append(stop, e)
		}
		reg := prometheus.NewRegistry()
		m := shadow.New(cfg, s.newRT, s.legacyRT, s.newURL, s.legacyURL, s.log, reg)
		mctx, cancel := context.WithCancel(ctx)
		e := &mirrorEntry{gen: s.gen, cfg: cfg, m: m, reg: reg, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(e.done)
			if err := m.Run(mctx); err != nil {
				s.log.Error("shadow mirror stopped", "route", rc.Name, "err", err)
			}
		}()
		s.byRoute[rc.Name] = e
	}
	for name, e := range s.byRoute {
		if !keep[name] {
			stop = append(stop, e)
			delete(s.byRoute, name)
		}
	}
	s.mu.Unlock()
	for _, e := range stop {
		e.cancel()
	}
}

// setBackends points the mirrors built from now on at new backends; the
// next apply rebuilds every running mirror.
func (s *mirrorSet) setBackends(newRT, legacyRT http.RoundTripper, newURL, legacyURL *url.URL) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.newRT, s.legacyRT, s.newURL, s.legacyURL = newRT, legacyRT, newURL, legacyURL
	s.gen++
}

// wait blocks until every mirror's workers returned (after ctx ended).
func (s *mirrorSet) wait() {
	s.mu.RLock()
	var all []*mirrorEntry
	for _, e := range s.byRoute {
		all = append(all, e)
	}
	s.mu.RUnlock()
	for _, e := range all {
		<-e.done
	}
}

// Offer implements Mirrors.
func (s *mirrorSet) Offer(ex Exchange) bool {
	s.mu.RLock()
	e, ok := s.byRoute[ex.Route]
	s.mu.RUnlock()
	if !ok {
		return false
	}
	return e.m.Offer(shadow.Exchange{
		Route: ex.Route, Method: ex.Method, Path: ex.Path, RawQuery: ex.RawQuery,
		Header: ex.Header, Body: ex.Body, LegacyStatus: ex.LegacyStatus, LegacyBody: ex.LegacyBody,
	})
}

// Writes implements Mirrors: writes are shadowed only to a new service that
// honours the route's dry-run header.
func (s *mirrorSet) Writes(route string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.byRoute[route]
	return ok && e.cfg.DryRunHeader != ""
}

// Report merges the mirrors' reports, sorted by route.
func (s *mirrorSet) Report() shadow.Report {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := shadow.Report{Routes: []shadow.RouteReport{}}
	for _, e := range s.byRoute {
		out.Routes = append(out.Routes, e.m.Report().Routes...)
	}
	sort.Slice(out.Routes, func(i, j int) bool { return out.Routes[i].Route < out.Routes[j].Route })
	return out
}

// Gather implements prometheus.Gatherer over the mirrors' registries.
func (s *mirrorSet) Gather() ([]*dto.MetricFamily, error) {
	s.mu.RLock()
	gs := make(prometheus.Gatherers, 0, len(s.byRoute))
	for _, e := range s.byRoute {
		gs = append(gs, e.reg)
	}
	s.mu.RUnlock()
	return gs.Gather()
}
