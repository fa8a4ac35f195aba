package legacy

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/problem"
)

// Server is the legacy monolith's HTTP order API: it authenticates,
// validates, stores each order in one MySQL transaction and then calls
// downstream synchronously. The zero value is not usable; make one with
// NewServer.
type Server struct {
	store    *Store
	notifier *Notifier
	pinger   pinger
	keys     []apiKey
	rules    order.Rules
	maxBody  int64
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

type apiKey struct {
	key     []byte
	channel order.Channel
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
		store: deps.Store, notifier: deps.Notifier, pinger: deps.DB, rules: cfg.Rules,
		maxBody: cfg.MaxBodyBytes, log: deps.Logger.With("component", "legacy"),
		metrics: newMetrics(reg), reg: reg,
	}
	for _, k := range cfg.APIKeys {
		s.keys = append(s.keys, apiKey{key: []byte(k.Key.Reveal()), channel: order.Channel(k.Channel)})
	}
	if cfg.Faults.CrashAfterCommit {
		s.crash = deps.Crash
	}
	return s
}

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/orders", s.authed(s.create))
	mux.HandleFunc("GET /v1/orders", s.authed(s.list))
	mux.HandleFunc("GET /v1/orders/{id}", s.authed(s.get))
	mux.HandleFunc("POST /v1/orders/{id}/cancel", s.authed(s.cancel))
	mux.HandleFunc("PATCH /v1/orders/{id}", s.authed(s.patch))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return s.instrument(mux)
}

// Registry exposes the server's metrics registry (for tests and embedding).
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// authed resolves the bearer key to its channel or answers 401.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, order.Channel)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized", "send Authorization: Bearer <api key>"))
			return
		}
		for _, k := range s.keys {
			if subtle.ConstantTimeCompare(k.key, []byte(token)) == 1 {
				h(w, r, k.channel)
				return
			}
		}
		problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized", "the API key is not known; ask for a retail or wholesale key"))
	}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, ch order.Channel) {
	var req order.CreateRequest
	if p := problem.DecodeJSON(w, r, s.maxBody, &req); p != nil {
		problem.Write(w, p)
		return
	}
	idemKey := r.Header.Get("Idempotency-Key")
	if len(idemKey) > 64 {
		problem.Write(w, problem.Invalid("Idempotency-Key", "must be at most 64 characters"))
		return
	}
	d, fe := s.rules.Validate(ch, req)
	if fe != nil {
		problem.Write(w, problem.Invalid(fe.Field, fe.Detail))
		return
	}
	o, replayed, err := s.store.Create(r.Context(), d, idemKey)
	switch {
	case errors.Is(err, ErrIdempotencyConflict):
		problem.Write(w, problem.New(http.StatusUnprocessableEntity, "Idempotency key reused",
			"the Idempotency-Key was first used with another request; use a new key for a new order"))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		writeJSON(w, http.StatusCreated, o)
		return
	}
	s.metrics.created.WithLabelValues(string(ch)).Inc()
	if s.crash != nil {
		s.log.Error("fault crash_after_commit: exiting after the commit, before downstream is told", "order_id", o.ID)
		s.crash()
	}
	s.notify(r.Context(), o)
	w.Header().Set("Location", "/v1/orders/"+o.ID)
	writeJSON(w, http.StatusCreated, o)
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

func (s *Server) get(w http.ResponseWriter, r *http.Request, ch order.Channel) {
	o, err := s.store.Get(r.Context(), ch, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, ch order.Channel) {
	q := r.URL.Query()
	customer := q.Get("customer_id")
	if customer == "" {
		problem.Write(w, problem.Invalid("customer_id", "is required: GET /v1/orders?customer_id=…"))
		return
	}
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			problem.Write(w, problem.Invalid("limit", "must be a whole number from 1 to 100"))
			return
		}
		limit = n
	}
	page, err := s.store.List(r.Context(), ch, customer, limit, q.Get("cursor"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request, ch order.Channel) {
	o, err := s.store.Cancel(r.Context(), ch, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, ch order.Channel) {
	var req order.PatchRequest
	if p := problem.DecodeJSON(w, r, s.maxBody, &req); p != nil {
		problem.Write(w, p)
		return
	}
	next, fe := req.Validate()
	if fe != nil {
		problem.Write(w, problem.Invalid(fe.Field, fe.Detail))
		return
	}
	o, err := s.store.Advance(r.Context(), ch, r.PathValue("id"), next)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.pinger.PingContext(ctx); err != nil {
		s.log.Warn("not ready: database unreachable", "err", err)
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "Not ready", "the database is unreachable"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// fail maps a store error to its response: the one place that does.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var te *TransitionError
	switch {
	case errors.Is(err, ErrNotFound):
		problem.Write(w, problem.New(http.StatusNotFound, "Order not found", "no order "+r.PathValue("id")+" for this API key's channel"))
	case errors.Is(err, ErrBadCursor):
		problem.Write(w, problem.Invalid("cursor", "is not a cursor this service issued; start again without it"))
	case errors.As(err, &te):
		problem.Write(w, problem.New(http.StatusConflict, "Status conflict", te.Error()))
	case errors.Is(err, context.Canceled):
		w.WriteHeader(499) // the client went away; nobody reads this
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		problem.Write(w, problem.New(http.StatusInternalServerError, "Internal error", "the order service failed; retry with the same Idempotency-Key"))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
