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
	cfg     Config
	queue   chan Exchange
	logger  *slog.Logger
	metrics *metrics
	stats   *stats
	replay  *replayer
	differ  *differ
}

// New returns a Mirror that sends copies to newURL through newBackend and
// legacy's second answers to legacyURL through legacyBackend. Zero numbers in
// cfg take their defaults. Its series are registered on reg.
func New(cfg Config, newBackend, legacyBackend http.RoundTripper, newURL, legacyURL *url.URL, logger *slog.Logger, reg prometheus.Registerer) *Mirror {
	cfg = cfg.withDefaults()
	return &Mirror{
		cfg:     cfg,
		queue:   make(chan Exchange, cfg.QueueSize),
		logger:  logger.With("component", "shadow"),
		metrics: newMetrics(reg),
		stats:   newStats(cfg),
		replay:  &replayer{cfg: cfg, newBackend: newBackend, legacyBackend: legacyBackend, newURL: newURL, legacyURL: legacyURL},
		differ:  newDiffer(cfg.IgnoreFields),
	}
}

// Offer queues ex for comparison without ever blocking. It returns false when
// ex is a write (a method other than GET and HEAD) and Config.DryRunHeader is
// empty, or when the queue is full (counted as dropped).
func (m *Mirror) Offer(ex Exchange) bool {
	return false
}

// Run serves the queue with Config.Workers workers until ctx ends, then
// waits for them to finish their current exchange and returns nil.
func (m *Mirror) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Report returns the figures so far, for GET /admin/diffs.
func (m *Mirror) Report() Report {
	return Report{}
}
