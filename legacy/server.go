package legacy

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderapi"
)

// Server is the legacy monolith's HTTP order API: it authenticates,
// validates, stores each order in one MySQL transaction and then calls
// downstream synchronously. The order routes are orderapi's; the legacy
// part is the downstream calls after each create and the crash_after_commit
// fault. The zero value is not usable; make one with NewServer.
type Server struct {
	api      *orderapi.API
	notifier *Notifier
	// crash, when set, is called between an order's commit and its
	// downstream calls (the crash_after_commit fault).
	crash   func()
	log     *slog.Logger
	metrics *metrics
	reg     *prometheus.Registry
}

type pinger interface {
	PingContext(ctx context.Context) error
}

// Deps are what a Server is built from.
type Deps struct {
	Store    *Store
	Notifier *Notifier
	DB       pinger
	Logger   *slog.Logger
	// Crash is called when the crash_after_commit fault fires. Optional:
	// defaults to exiting the process with status 70.
	Crash func()
}

// NewServer builds the API from cfg and deps.
func NewServer(cfg Config, deps Deps) *Server {
	reg := prometheus.NewRegistry()
	s := &Server{
		notifier: deps.Notifier, log: deps.Logger.With("component", "legacy"),
		metrics: newMetrics(reg), reg: reg,
	}
	if cfg.Faults.CrashAfterCommit {
		s.crash = deps.Crash
	}
	s.api = orderapi.New(orderapi.Config{
		Store: apiStore{deps.Store}, Keys: cfg.APIKeys, Rules: cfg.Rules, MaxBodyBytes: cfg.MaxBodyBytes,
		Logger: s.log, Ready: func(ctx context.Context) error { return deps.DB.PingContext(ctx) },
		NotReadyLog: "not ready: database unreachable", NotReadyDetail: "the database is unreachable",
		OnCreate: s.created,
	})
	return s
}

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.api.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return s.metrics.http.Instrument(mux)
}

// Registry exposes the server's metrics registry (for tests and embedding).
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// created counts a new order, fires the crash_after_commit fault and tells
// downstream.
func (s *Server) created(ctx context.Context, ch order.Channel, o order.Order) {
	s.metrics.created.WithLabelValues(string(ch)).Inc()
	if s.crash != nil {
		s.log.Error("fault crash_after_commit: exiting after the commit, before downstream is told", "order_id", o.ID)
		s.crash()
	}
	s.notify(ctx, o)
}

// notify calls downstream synchronously. A failure is logged and counted
// but the order stays stored: downstream is now out of step with it.
func (s *Server) notify(ctx context.Context, o order.Order) {
	ctx = context.WithoutCancel(ctx)
	for _, call := range []struct {
		service string
		do      func(context.Context, order.Order) error
	}{{"inventory", s.notifier.Reserve}, {"accounting", s.notifier.Record}} {
		start := time.Now()
		err := call.do(ctx, o)
		s.metrics.downstreamSeconds.WithLabelValues(call.service).Observe(time.Since(start).Seconds())
		if err != nil {
			s.metrics.downstreamFailures.WithLabelValues(call.service).Inc()
			s.metrics.unreported.Inc()
			s.log.Warn("downstream call failed after commit: the order is stored but unreported",
				"order_id", o.ID, "service", call.service, "err", err)
			return
		}
	}
}

// apiStore is the Store as orderapi calls it. The legacy monolith has no
// dry runs (orderapi.Config.DryRun is nil), so dryRun is always false.
type apiStore struct{ *Store }

var _ orderapi.Store = apiStore{}

func (s apiStore) Create(ctx context.Context, d order.Draft, idemKey string, _ bool) (orderapi.Created, error) {
	o, replayed, err := s.Store.Create(ctx, d, idemKey)
	return orderapi.Created{Order: o, Replayed: replayed}, err
}

func (s apiStore) Cancel(ctx context.Context, ch order.Channel, id string, _ bool) (order.Order, error) {
	return s.Store.Cancel(ctx, ch, id)
}

func (s apiStore) Advance(ctx context.Context, ch order.Channel, id string, next order.Status, _ bool) (order.Order, error) {
	return s.Store.Advance(ctx, ch, id, next)
}
