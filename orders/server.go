package orders

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

// Server is the new order service's HTTP API: the legacy contract over the
// Store, plus dry runs for shadowed writes and injectable faults. The zero
// value is not usable; make one with NewServer.
type Server struct {
	store     *Store
	ready     func(context.Context) error
	keys      []apiKey
	rules     order.Rules
	maxBody   int64
	dryHeader string
	admin     []byte
	faults    *Injector
	log       *slog.Logger
	metrics   *metrics
	reg       *prometheus.Registry
}

type apiKey struct {
	key     []byte
	channel order.Channel
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
		store: deps.Store, ready: deps.Ready, rules: cfg.Rules, maxBody: cfg.MaxBodyBytes,
		dryHeader: cfg.DryRunHeader, admin: []byte(cfg.AdminToken.Reveal()), faults: faults,
		log: deps.Logger.With("component", "orders"), metrics: newMetrics(reg), reg: reg,
	}
	for _, k := range cfg.APIKeys {
		s.keys = append(s.keys, apiKey{key: []byte(k.Key.Reveal()), channel: order.Channel(k.Channel)})
	}
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
	mux.HandleFunc("POST /v1/orders", s.api(s.create))
	mux.HandleFunc("GET /v1/orders", s.api(s.list))
	mux.HandleFunc("GET /v1/orders/{id}", s.api(s.get))
	mux.HandleFunc("POST /v1/orders/{id}/cancel", s.api(s.cancel))
	mux.HandleFunc("PATCH /v1/orders/{id}", s.api(s.patch))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /admin/faults", s.adminOnly(s.getFaults))
	mux.HandleFunc("PUT /admin/faults", s.adminOnly(s.putFaults))
	mux.HandleFunc("DELETE /admin/faults", s.adminOnly(s.deleteFaults))
	return instrument(mux, s.metrics.requests, s.metrics.latency)
}

// api wraps an order API handler: injected faults first, then the bearer
// key resolved to its channel (401 otherwise).
func (s *Server) api(h func(http.ResponseWriter, *http.Request, order.Channel)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.faults.Delay(r.Context()); err != nil {
			w.WriteHeader(499) // the client went away during the injected delay
			return
		}
		if s.faults.Fail() {
			s.metrics.faults.Inc()
			problem.Write(w, problem.New(http.StatusServiceUnavailable, "Injected fault",
				"the order service is failing on purpose (PUT /admin/faults); retry later"))
			return
		}
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

// dryRun reports whether r asks for a dry run, and marks the answer.
func (s *Server) dryRun(w http.ResponseWriter, r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get(s.dryHeader), "true") {
		return false
	}
	w.Header().Set(s.dryHeader, "true")
	s.metrics.dryRuns.WithLabelValues(r.Pattern).Inc()
	return true
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
	dry := s.dryRun(w, r)
	c, err := s.store.Create(r.Context(), d, idemKey, dry)
	switch {
	case errors.Is(err, ErrIdempotencyConflict):
		problem.Write(w, problem.New(http.StatusUnprocessableEntity, "Idempotency key reused",
			"the Idempotency-Key was first used with another request; use a new key for a new order"))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	if c.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		writeJSON(w, http.StatusCreated, c.Order)
		return
	}
	if !dry {
		s.metrics.created.WithLabelValues(string(ch)).Inc()
	}
	w.Header().Set("Location", "/v1/orders/"+c.Order.ID)
	writeJSON(w, http.StatusCreated, c.Order)
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
	o, err := s.store.Cancel(r.Context(), ch, r.PathValue("id"), s.dryRun(w, r))
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
	o, err := s.store.Advance(r.Context(), ch, r.PathValue("id"), next, s.dryRun(w, r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "Not ready", "DynamoDB or the service's tables are unreachable"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// adminOnly answers 401 unless the request carries the admin token.
func (s *Server) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), s.admin) != 1 {
			problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized", "send Authorization: Bearer <admin_token>"))
			return
		}
		h(w, r)
	}
}

func (s *Server) getFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.faults.Get())
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
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) deleteFaults(w http.ResponseWriter, _ *http.Request) {
	s.faults.Set(Faults{})
	s.log.Info("faults cleared")
	writeJSON(w, http.StatusOK, Faults{})
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
	case errors.Is(err, ErrContended):
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "Busy", "the order is being changed concurrently; retry"))
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
