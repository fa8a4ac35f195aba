package orders

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/internal/tracing"
)

// Server is the new order service's HTTP API: the legacy contract
// (orderapi) over the Store, plus dry runs for shadowed writes and
// injectable faults. The zero value is not usable; make one with NewServer.
type Server struct {
	api       *orderapi.API
	maxBody   int64
	dryHeader string
	admin     []byte
	faults    *Injector
	log       *slog.Logger
	metrics   *metrics
	reg       *prometheus.Registry
}

// ServerDeps are what a Server is built from.
type ServerDeps struct {
	// Store holds the orders. Required.
	Store *Store
	// Ready checks the tables for /readyz. Required.
	Ready func(context.Context) error
	// Faults injects failures. Optional: defaults to NewInjector(cfg.Faults, nil, nil).
	Faults *Injector
	// Logger logs. Required.
	Logger *slog.Logger
	// Registry receives the metrics. Optional: defaults to a new registry.
	Registry *prometheus.Registry
}

var _ orderapi.Store = (*Store)(nil)

// NewServer builds the API from cfg and deps.
func NewServer(cfg Config, deps ServerDeps) *Server {
	reg := deps.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	faults := deps.Faults
	if faults == nil {
		faults = NewInjector(cfg.Faults, nil, nil)
	}
	s := &Server{
		maxBody: cfg.MaxBodyBytes, dryHeader: cfg.DryRunHeader, admin: []byte(cfg.AdminToken.Reveal()),
		faults: faults, log: deps.Logger.With("component", "orders"), metrics: newMetrics(reg), reg: reg,
	}
	s.api = orderapi.New(orderapi.Config{
		Store: deps.Store, Keys: cfg.APIKeys, Rules: cfg.Rules, MaxBodyBytes: cfg.MaxBodyBytes,
		Logger: s.log, Ready: deps.Ready,
		NotReadyLog: "not ready", NotReadyDetail: "DynamoDB or the service's tables are unreachable",
		Admit: s.admit, DryRun: s.dryRun, OnCreate: s.created, Problem: contended,
	})
	return s
}

// Registry exposes the server's metrics registry (for tests and embedding).
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// OnRetry is the Store's OnRetry hook that counts lost races in this
// server's metrics.
func (s *Server) OnRetry(op string) { s.metrics.conflicts.WithLabelValues(op).Inc() }

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.api.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /admin/faults", s.adminOnly(s.getFaults))
	mux.HandleFunc("PUT /admin/faults", s.adminOnly(s.putFaults))
	mux.HandleFunc("DELETE /admin/faults", s.adminOnly(s.deleteFaults))
	return s.metrics.http.Instrument(mux)
}

// Traced returns Handler with each request a server span of tp continuing
// the caller's traceparent (internal/tracing); the events a request causes
// carry its span. The process and the Lambda function both serve it. With
// tracing off (tp nil or no-op) it is Handler.
func (s *Server) Traced(tp trace.TracerProvider) http.Handler {
	if !tracing.Enabled(tp) {
		return s.Handler()
	}
	return tracing.Handler(tp, "strangler/orders", s.Handler())
}

// admit answers an order API request with the injected faults, before its
// key is checked: false when it answered.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	if err := s.faults.Delay(r.Context()); err != nil {
		w.WriteHeader(499) // the client went away during the injected delay
		return false
	}
	if s.faults.Fail() {
		s.metrics.faults.Inc()
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "Injected fault",
			"the order service is failing on purpose (PUT /admin/faults); retry later"))
		return false
	}
	return true
}

// dryRun reports whether r asks for a dry run, and marks the answer.
func (s *Server) dryRun(w http.ResponseWriter, r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get(s.dryHeader), "true") {
		return false
	}
	w.Header().Set(s.dryHeader, "true")
	s.metrics.dryRuns.WithLabelValues(r.Pattern).Inc()
	return true
}

// created counts a new order (not a dry run's).
func (s *Server) created(_ context.Context, ch order.Channel, _ order.Order) {
	s.metrics.created.WithLabelValues(string(ch)).Inc()
}

// adminOnly answers 401 unless the request carries the admin token.
func (s *Server) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || len(s.admin) == 0 || subtle.ConstantTimeCompare([]byte(token), s.admin) != 1 {
			problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized", "send Authorization: Bearer <admin_token>"))
			return
		}
		h(w, r)
	}
}

func (s *Server) getFaults(w http.ResponseWriter, _ *http.Request) {
	orderapi.WriteJSON(w, http.StatusOK, s.faults.Get())
}

func (s *Server) putFaults(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ErrorRatio float64 `json:"error_ratio"`
		Delay      string  `json:"delay"`
	}
	if p := problem.DecodeJSON(w, r, s.maxBody, &in); p != nil {
		problem.Write(w, p)
		return
	}
	f := Faults{ErrorRatio: in.ErrorRatio}
	if in.Delay != "" {
		d, err := time.ParseDuration(in.Delay)
		if err != nil {
			problem.Write(w, problem.Invalid("delay", "must be a duration like \"200ms\""))
			return
		}
		f.Delay = Duration(d)
	}
	if f.ErrorRatio < 0 || f.ErrorRatio > 1 {
		problem.Write(w, problem.Invalid("error_ratio", "must be a number from 0 to 1"))
		return
	}
	if f.Delay < 0 || time.Duration(f.Delay) > time.Minute {
		problem.Write(w, problem.Invalid("delay", "must be a duration from 0s to 1m, like \"200ms\""))
		return
	}
	s.faults.Set(f)
	s.log.Warn("faults changed", "error_ratio", f.ErrorRatio, "delay", time.Duration(f.Delay).String())
	orderapi.WriteJSON(w, http.StatusOK, f)
}

func (s *Server) deleteFaults(w http.ResponseWriter, _ *http.Request) {
	s.faults.Set(Faults{})
	s.log.Info("faults cleared")
	orderapi.WriteJSON(w, http.StatusOK, Faults{})
}

// contended answers ErrContended, the one store error of this service that
// orderapi does not know.
func contended(err error) *problem.Problem {
	if errors.Is(err, ErrContended) {
		return problem.New(http.StatusServiceUnavailable, "Busy", "the order is being changed concurrently; retry")
	}
	return nil
}
