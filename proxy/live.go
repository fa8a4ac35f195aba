package proxy

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
)

// backendSet is the two upstreams in force and their health checkers. A
// reload that changes backends, transport, retries or health builds a new
// set and swaps it in whole; requests in flight finish on the old one.
type backendSet struct {
	ups    *upstreams
	health [2]*HealthChecker // legacy, new
}

// newBackendSet builds the upstreams and health checkers of cfg.
func (s *Server) newBackendSet(cfg Config) (*backendSet, error) {
	legacyURL, err := url.Parse(cfg.Backends.Legacy)
	if err != nil {
		return nil, fmt.Errorf("backends.legacy: %w", err)
	}
	newURL, err := url.Parse(cfg.Backends.New)
	if err != nil {
		return nil, fmt.Errorf("backends.new: %w", err)
	}
	onRetry := s.metrics.retries.Inc
	bs := &backendSet{ups: &upstreams{
		legacy: newUpstream(BackendLegacy, legacyURL, cfg, s.pool, onRetry, s.proxy.errorHandler(BackendLegacy), modifyResponse),
		new:    newUpstream(BackendNew, newURL, cfg, s.pool, onRetry, s.proxy.errorHandler(BackendNew), modifyResponse),
	}}
	for i, up := range []*Upstream{bs.ups.legacy, bs.ups.new} {
		g := s.metrics.healthy.WithLabelValues(string(up.name))
		bs.health[i] = NewHealthChecker(up.name, up.url.String(), cfg.Health, up.transport, s.deps.Logger.With("component", "health"),
			func(ok bool) { g.Set(b2f(ok)) })
	}
	return bs, nil
}

// healthRunner runs the health checkers of one backendSet at a time. The
// zero value is ready; never copy one.
type healthRunner struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// start stops the checkers running (if any) and runs those of bs until ctx
// ends or the next start or stop.
func (h *healthRunner) start(ctx context.Context, bs *backendSet) {
	h.stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range bs.health {
		wg.Go(func() { _ = c.Run(ctx) })
	}
	go func() { wg.Wait(); close(done) }()
	h.cancel, h.done = cancel, done
}

// stop stops the running checkers and waits for them.
func (h *healthRunner) stop() {
	h.mu.Lock()
	cancel, done := h.cancel, h.done
	h.cancel, h.done = nil, nil
	h.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// restartKey says whether a config key takes effect only at a restart, and
// why. Every other key applies live on reload.
func restartKey(key string) (why string, restart bool) {
	switch {
	case key == "listen", key == "max_conns", key == "admin.listen":
		return "the listener is bound at start", true
	case key == "admin.token", key == "force.token":
		return "the credential is read at start", true
	case key == "control.table", key == "control.name", strings.HasPrefix(key, "dynamodb."):
		return "routing state, pins, plans and the plan lease live there: a replica must not switch stores while running", true
	case key == "control.plan_lease":
		return "the lease's length must not change under its holder", true
	}
	return "", false
}

// keepRestartKeys sets in next the running values of the keys that need a
// restart, so a reload applies everything else and leaves those alone.
func keepRestartKeys(next *Config, running Config) {
	next.Listen, next.MaxConns = running.Listen, running.MaxConns
	next.Admin, next.Force = running.Admin, running.Force
	next.Control.Table, next.Control.Name, next.Control.PlanLease = running.Control.Table, running.Control.Name, running.Control.PlanLease
	next.DynamoDB = running.DynamoDB
}

// changedKeys lists the config keys (dotted, as in configs/proxy.yaml)
// whose values differ between a and b; lists and maps count as one key.
func changedKeys(a, b Config) []string {
	var out []string
	diffStruct(reflect.ValueOf(a), reflect.ValueOf(b), "", &out)
	return out
}

func diffStruct(a, b reflect.Value, prefix string, out *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		fa, fb := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type.NumField() > 0 && hasTags(f.Type) {
			diffStruct(fa, fb, key+".", out)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			*out = append(*out, key)
		}
	}
}

func hasTags(t reflect.Type) bool {
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("mapstructure") != "" {
			return true
		}
	}
	return false
}

// applyConfig applies a reloaded configuration (restart-only keys already
// reset to their running values by the Reloader) and returns the keys it
// applied. Routes go first, since only they can still be refused; every
// other part then swaps in atomically: backends, transport and retries (a
// new pair of upstreams; requests in flight finish on the old one), health
// checks, breaker thresholds, body limit, idempotency pins, shadow settings
// and plans (with the routes), the control poll, reload interval, runtime
// knobs and the shutdown drain.
func (s *Server) applyConfig(ctx context.Context, cfg Config) ([]string, error) {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	old := s.cfg
	changed := changedKeys(old, cfg)
	if len(changed) == 0 {
		return nil, nil
	}
	if err := s.sw.ApplyFile(ctx, cfg.Routes, cfg.WriteGroups); err != nil {
		return nil, err
	}
	var bs *backendSet
	if old.Backends != cfg.Backends || old.Transport != cfg.Transport || old.Retries != cfg.Retries || old.Health != cfg.Health {
		var err error
		if bs, err = s.newBackendSet(cfg); err != nil {
			return nil, err
		}
	}
	// The request limits before the backends: a caller that sees the new
	// backends sees the new limits too.
	s.proxy.maxBody.Store(cfg.MaxBodyBytes)
	s.proxy.bodyTimeout.Store(int64(cfg.BodyTimeout))
	if bs != nil {
		prev := s.backends.Swap(bs)
		s.proxy.ups.Store(bs.ups)
		s.health.start(context.WithoutCancel(ctx), bs)
		s.mirrorMu.Lock()
		s.mirrors.setBackends(bs.ups.new.transport, bs.ups.legacy.transport, bs.ups.new.url, bs.ups.legacy.url)
		s.mirrorMu.Unlock()
		// Requests in flight keep their connections; idle ones go now.
		prev.ups.legacy.transport.CloseIdleConnections()
		prev.ups.new.transport.CloseIdleConnections()
	}
	s.mirrorMu.Lock()
	s.mirrors.apply(ctx, cfg.Routes)
	s.mirrorMu.Unlock()
	if old.Circuit != cfg.Circuit {
		s.breaker.SetConfig(cfg.Circuit)
	}
	if old.Idempotency != cfg.Idempotency {
		s.proxy.pins.SetLimits(cfg.Idempotency)
	}
	s.poll.Store(int64(cfg.Control.Poll))
	s.drain.Store(int64(cfg.ShutdownTimeout))
	if old.GOMAXPROCS != cfg.GOMAXPROCS || old.GOGC != cfg.GOGC || old.MemoryLimitBytes != cfg.MemoryLimitBytes {
		tuneRuntime(cfg, s.deps.Logger)
	}
	s.cfg = cfg
	return changed, nil
}
