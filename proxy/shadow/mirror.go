// Package shadow mirrors requests that legacy has answered to the new
// service, off the client's path, and compares the two answers field by
// field. To tell real differences from fields that change on every call
// (timestamps, random ids), it also asks legacy the same question a second
// time and reports a field only when new disagrees with legacy clearly more
// often than legacy disagrees with itself.
package shadow

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Exchange is one request that legacy answered, handed to Offer. Offer takes
// ownership of Header and the byte slices: the caller must not change them afterwards.
type Exchange struct {
	// Route names the proxy route the request matched; reports group by it.
	Route string
	// Method, Path and RawQuery are the client's request line.
	Method, Path, RawQuery string
	// Header is the client's request header (Authorization included).
	Header http.Header
	// Body is the client's request body.
	Body []byte
	// LegacyStatus and LegacyBody are legacy's answer to the client.
	LegacyStatus int
	LegacyBody   []byte
}

// Mirror replays offered exchanges to the new service (and once more to
// legacy) on a bounded queue served by Config.Workers workers, and keeps the
// comparison figures. Make one with New; it must not be copied. Its methods
// are safe for concurrent use.
type Mirror struct {
	cfg                       Config
	queue                     chan Exchange
	newBackend, legacyBackend http.RoundTripper
	newURL, legacyURL         *url.URL
	replay                    *replayer
	differ                    *differ
	stats                     *stats
	logger                    *slog.Logger
	metrics                   *metrics
	// handled, when set (by tests), is called after each exchange is handled.
	handled func(Exchange)
}

// New returns a Mirror that sends copies to newURL through newBackend and
// legacy's second answers to legacyURL through legacyBackend (the proxy's
// own transports). Zero numbers in cfg take their defaults. Its series are
// registered on reg.
func New(cfg Config, newBackend, legacyBackend http.RoundTripper, newURL, legacyURL *url.URL, logger *slog.Logger, reg prometheus.Registerer) *Mirror {
	cfg = cfg.withDefaults()
	return &Mirror{
		cfg:           cfg,
		queue:         make(chan Exchange, cfg.QueueSize),
		newBackend:    newBackend,
		legacyBackend: legacyBackend,
		newURL:        newURL,
		legacyURL:     legacyURL,
		replay:        &replayer{timeout: cfg.Timeout, maxBodyBytes: cfg.MaxBodyBytes, dryRunHeader: cfg.DryRunHeader},
		differ:        newDiffer(cfg.IgnoreFields),
		stats:         newStats(cfg),
		logger:        logger.With("component", "shadow"),
		metrics:       newMetrics(reg),
	}
}

// Offer queues ex for comparison without ever blocking. It returns false,
// and ex is not shadowed, when ex is a write (a method other than GET and
// HEAD) and Config.DryRunHeader is empty, or when the queue is full (counted
// as dropped). Exchanges offered before Run wait in the queue.
func (m *Mirror) Offer(ex Exchange) bool {
	if isWrite(ex.Method) && m.cfg.DryRunHeader == "" {
		return false
	}
	select {
	case m.queue <- ex:
		return true
	default:
		m.stats.dropped(ex.Route)
		m.metrics.dropped.WithLabelValues(ex.Route).Inc()
		return false
	}
}

// Run serves the queue with Config.Workers workers until ctx ends, then
// waits for them to abandon their current exchange and returns nil.
// Exchanges still queued are not compared. Call it once.
func (m *Mirror) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range m.cfg.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ex := <-m.queue:
					m.handle(ctx, ex)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// Report returns the figures so far, for GET /admin/diffs.
func (m *Mirror) Report() Report {
	return m.stats.report()
}

// handle replays ex to new and, for a read, to legacy once more (at the same
// time, so both see the same state), then compares new with legacy's
// original answer and legacy's two answers with each other. Writes are
// never replayed to legacy: it knows no dry run.
func (m *Mirror) handle(ctx context.Context, ex Exchange) {
	if m.handled != nil {
		defer m.handled(ex)
	}
	measured := !isWrite(ex.Method)
	var newAns, againAns answer
	var newErr, againErr error
	var wg sync.WaitGroup
	wg.Go(func() { newAns, newErr = m.replay.send(ctx, m.newBackend, m.newURL, ex) })
	if measured {
		wg.Go(func() { againAns, againErr = m.replay.send(ctx, m.legacyBackend, m.legacyURL, ex) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // shutting down: neither a comparison nor a backend error
	}
	if newErr != nil {
		m.fail(ex, "new", newErr)
		return
	}
	if againErr != nil {
		m.fail(ex, "legacy", againErr)
		measured = false
	}
	legacy := answer{status: ex.LegacyStatus, body: plainBody(ex.LegacyBody, m.cfg.MaxBodyBytes)}
	mism := m.differ.diff(legacy, newAns)
	var noise []difference
	if measured {
		noise = m.differ.diff(legacy, againAns)
	}
	mismFields, noiseFields := m.stats.record(ex.Route, ex.Path, mism, noise, measured)
	m.metrics.compared.WithLabelValues(ex.Route).Inc()
	for _, f := range mismFields {
		m.metrics.mismatch.WithLabelValues(ex.Route, f).Inc()
	}
	for _, f := range noiseFields {
		m.metrics.noise.WithLabelValues(ex.Route, f).Inc()
	}
}

// fail counts a failed replay. It logs at debug only: a failing new
// service would otherwise flood the log, and the counters already say it.
func (m *Mirror) fail(ex Exchange, backend string, err error) {
	m.stats.failed(ex.Route)
	m.metrics.errors.WithLabelValues(ex.Route, backend).Inc()
	m.logger.Debug("shadow call failed", "route", ex.Route, "backend", backend, "err", err)
}
