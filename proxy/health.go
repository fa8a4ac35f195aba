package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// HealthChecker actively checks one backend: a GET of the health path every
// interval, marking the backend down after UnhealthyAfter consecutive
// failures and up after HealthyAfter consecutive successes. A backend starts
// up, so a proxy can serve before its first check. Never copy one.
type HealthChecker struct {
	backend Backend
	url     string
	cfg     HealthConfig
	client  *http.Client
	log     *slog.Logger
	onSet   func(healthy bool)
	// tick returns the channel of the check ticker and its stop function;
	// tests inject one to step checks by hand.
	tick func(time.Duration) (<-chan time.Time, func())

	healthy atomic.Bool
	fails   int
	oks     int
}

// NewHealthChecker checks base+cfg.Path with rt. onSet, when not nil, is
// called on every change and once at start.
func NewHealthChecker(backend Backend, base string, cfg HealthConfig, rt http.RoundTripper, logger *slog.Logger, onSet func(bool)) *HealthChecker {
	h := &HealthChecker{
		backend: backend, url: base + cfg.Path, cfg: cfg,
		client: &http.Client{Transport: rt, Timeout: cfg.Timeout},
		log:    logger.With("backend", string(backend)),
		onSet:  onSet,
		tick: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		},
	}
	h.healthy.Store(true)
	if onSet != nil {
		onSet(true)
	}
	return h
}

// Healthy reports the backend's last known health.
func (h *HealthChecker) Healthy() bool { return h.healthy.Load() }

// Run checks until ctx ends.
func (h *HealthChecker) Run(ctx context.Context) error {
	c, stop := h.tick(h.cfg.Interval)
	defer stop()
	for {
		h.Check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-c:
		}
	}
}

// Check runs one check and updates the health.
func (h *HealthChecker) Check(ctx context.Context) {
	err := h.probe(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		h.oks = 0
		h.fails++
		if h.fails >= h.cfg.UnhealthyAfter && h.healthy.Swap(false) {
			h.log.Warn("backend unhealthy", "err", err, "failures", h.fails)
			if h.onSet != nil {
				h.onSet(false)
			}
		}
		return
	}
	h.fails = 0
	h.oks++
	if h.oks >= h.cfg.HealthyAfter && !h.healthy.Swap(true) {
		h.log.Info("backend healthy again")
		if h.onSet != nil {
			h.onSet(true)
		}
	}
}

func (h *HealthChecker) probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &statusError{code: resp.StatusCode}
	}
	return nil
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "health check answered " + http.StatusText(e.code) }
