package downstream

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/anycompany/strangler/internal/clock"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/problem"
)

// Server serves the inventory and accounting stand-ins and their admin API.
// The zero value is not usable; make one with New. It must not be copied.
type Server struct {
	cfg      Config
	logger   *slog.Logger
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	faults   *injector
	journals map[Service]*journal
	inbox    *inbox
	metrics  *metrics
	handler  http.Handler
	tp       trace.TracerProvider
}

// Option changes how New builds a Server; tests use them to make time and
// chance deterministic.
type Option func(*options)

type options struct {
	random func() float64
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	tp     trace.TracerProvider
}

// WithRandom sets the source of numbers in [0,1) that decide whether a call
// fails under a fail ratio between 0 and 1. New calls it under a lock, so it
// need not be safe for concurrent use. Default: a PCG seeded with cfg.Seed
// (or from the clock when that is 0).
func WithRandom(random func() float64) Option { return func(o *options) { o.random = random } }

// WithClock sets the clock that stamps received_at. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithSleep sets how an injected delay is waited out; it must return early
// with ctx.Err() when ctx ends. Default: a timer raced against ctx.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) { o.sleep = sleep }
}

// WithTracer makes every event POST /events takes a consumer span of tp
// named "consume <detail-type>", continuing the traceparent of the event's
// detail, with a child span per service that acts on it (internal/tracing).
// Default: not traced.
func WithTracer(tp trace.TracerProvider) Option {
	return func(o *options) {
		if tp != nil {
			o.tp = tp
		}
	}
}

// New builds a Server from a validated cfg; zero limits fall back to their
// defaults. It does not listen; see Handler and Run.
func New(cfg Config, logger *slog.Logger, opts ...Option) *Server {
	def := DefaultConfig()
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = def.MaxRecords
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = def.MaxBodyBytes
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = def.ShutdownTimeout
	}
	o := options{now: time.Now, sleep: clock.Sleep, tp: noop.NewTracerProvider()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.random == nil {
		seed := cfg.Seed
		if seed == 0 {
			seed = uint64(o.now().UnixNano())
		}
		o.random = rand.New(rand.NewPCG(seed, 0x5eed)).Float64
	}
	s := &Server{
		cfg:    cfg,
		logger: logger,
		now:    o.now,
		sleep:  o.sleep,
		faults: newInjector(cfg, o.random),
		journals: map[Service]*journal{
			Inventory:  newJournal("res_", cfg.MaxRecords),
			Accounting: newJournal("ent_", cfg.MaxRecords),
		},
		inbox: newInbox(cfg.MaxRecords),
		tp:    o.tp,
	}
	s.metrics = newMetrics(func(svc Service) float64 {
		_, held := s.journals[svc].snapshot()
		return float64(held)
	})
	s.handler = s.routes()
	return s
}

// Handler returns the HTTP handler serving every endpoint.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /inventory/v1/reservations", s.handleReserve)
	mux.HandleFunc("GET /inventory/v1/reservations", s.handleList(Inventory))
	mux.HandleFunc("POST /accounting/v1/entries", s.handleEntry)
	mux.HandleFunc("GET /accounting/v1/entries", s.handleList(Accounting))
	mux.Handle("POST /events", s.cfg.EventsAuth.Require(http.HandlerFunc(s.handleEvent)))
	mux.HandleFunc("GET /events", s.handleListEvents)
	mux.HandleFunc("GET /admin/stats", s.admin(s.handleStats))
	mux.HandleFunc("GET /admin/faults", s.admin(s.handleGetFaults))
	mux.HandleFunc("PUT /admin/faults", s.admin(s.handlePutFaults))
	mux.HandleFunc("DELETE /admin/faults", s.admin(s.handleClearFaults))
	mux.HandleFunc("DELETE /admin/records", s.admin(s.handleReset))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.New(http.StatusNotFound, "Not found",
			"no endpoint "+r.Method+" "+r.URL.Path+"; see /inventory/v1/reservations, /accounting/v1/entries, /events, /admin/stats"))
	})
	return mux
}

func (s *Server) handleReserve(w http.ResponseWriter, r *http.Request) {
	var req ReservationRequest
	if p := problem.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &req); p != nil {
		s.reject(w, Inventory, p)
		return
	}
	if p := validateReservation(req); p != nil {
		s.reject(w, Inventory, p)
		return
	}
	s.accept(w, r, Inventory, Record{OrderID: req.OrderID, Reservation: &req})
}

func (s *Server) handleEntry(w http.ResponseWriter, r *http.Request) {
	var req EntryRequest
	if p := problem.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &req); p != nil {
		s.reject(w, Accounting, p)
		return
	}
	if p := validateEntry(req); p != nil {
		s.reject(w, Accounting, p)
		return
	}
	s.accept(w, r, Accounting, Record{OrderID: req.OrderID, Entry: &req})
}

// accept applies svc's fault to a valid call and then records it, or
// answers it from memory when its Idempotency-Key is known.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, svc Service, rec Record) {
	start := time.Now()
	defer func() { s.metrics.duration.WithLabelValues(string(svc)).Observe(time.Since(start).Seconds()) }()

	key := r.Header.Get("Idempotency-Key")
	if n := utf8.RuneCountInString(key); n > 255 {
		s.reject(w, svc, problem.Invalid("Idempotency-Key", "must be at most 255 characters"))
		return
	}
	delay, fail := s.faults.decide(svc)
	if delay > 0 {
		if err := s.sleep(r.Context(), delay); err != nil {
			s.metrics.requests.WithLabelValues(string(svc), outcomeCancelled).Inc()
			s.logger.Debug("call cancelled during injected delay", "service", svc, "order_id", rec.OrderID, "delay", delay.String())
			return // the client is gone; nobody reads an answer
		}
	}
	if fail {
		s.journals[svc].failed()
		s.metrics.requests.WithLabelValues(string(svc), outcomeFailed).Inc()
		w.Header().Set("Retry-After", "1")
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "Service unavailable",
			fmt.Sprintf("%s is failing on purpose (fault injection); PUT /admin/faults to heal it", svc)))
		return
	}

	rec.IdempotencyKey = key
	rec.ReceivedAt = s.now().UTC()
	// The fingerprint is the request as decoded, without what the server
	// adds, so a byte-different but equal replay still counts as one.
	fingerprint, err := json.Marshal(struct {
		R *ReservationRequest
		E *EntryRequest
	}{rec.Reservation, rec.Entry})
	if err != nil { // cannot happen: every field marshals
		problem.Write(w, problem.New(http.StatusInternalServerError, "Internal error", err.Error()))
		return
	}

	got, dup, err := s.journals[svc].add(rec, string(fingerprint))
	if errors.Is(err, errKeyReused) {
		s.reject(w, svc, &problem.Problem{
			Type: "https://strangler.dev/problems/idempotency-key-reused", Title: "Idempotency-Key reused",
			Status: http.StatusUnprocessableEntity, Field: "Idempotency-Key",
			Detail: "this key was first sent with another body; use a new key for a new call",
		})
		return
	}
	status, outcome := http.StatusCreated, outcomeRecorded
	if dup {
		status, outcome = http.StatusOK, outcomeDuplicate
	}
	s.metrics.requests.WithLabelValues(string(svc), outcome).Inc()
	s.logger.Debug("call recorded", "service", svc, "order_id", got.OrderID, "id", got.ID, "duplicate", dup)
	writeJSON(w, status, created(svc, got))
}

func created(svc Service, rec Record) Created {
	if svc == Inventory {
		return Created{ReservationID: rec.ID, OrderID: rec.OrderID}
	}
	return Created{EntryID: rec.ID, OrderID: rec.OrderID}
}

func (s *Server) reject(w http.ResponseWriter, svc Service, p *problem.Problem) {
	s.metrics.requests.WithLabelValues(string(svc), outcomeInvalid).Inc()
	problem.Write(w, p)
}

func (s *Server) handleList(svc Service) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("order_id")
		if id == "" {
			problem.Write(w, problem.Invalid("order_id", "is required: GET …?order_id=123"))
			return
		}
		writeJSON(w, http.StatusOK, Records{Items: s.journals[svc].byOrderID(id)})
	}
}

// admin guards h with the admin bearer token, compared in constant time.
// An empty token refuses every call.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + s.cfg.AdminToken.Reveal())
	return func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if s.cfg.AdminToken == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized",
				"the admin API needs the header Authorization: Bearer <admin_token>"))
			return
		}
		h(w, r)
	}
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.stats())
}

func (s *Server) stats() Stats {
	inv, _ := s.journals[Inventory].snapshot()
	acc, _ := s.journals[Accounting].snapshot()
	events, per := s.inbox.snapshot()
	inv.Events, acc.Events = per[Inventory], per[Accounting]
	return Stats{Inventory: inv, Accounting: acc, Events: events}
}

func (s *Server) handleGetFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.faults.get())
}

// faultsBody is PUT /admin/faults as it arrives: the delay stays a string
// so a bad one can be named.
type faultsBody struct {
	Inventory  *faultBody `json:"inventory"`
	Accounting *faultBody `json:"accounting"`
}

type faultBody struct {
	FailRatio float64 `json:"fail_ratio"`
	Delay     string  `json:"delay"`
}

func (b *faultBody) parse(svc Service) (*Fault, *problem.Problem) {
	if b == nil {
		return nil, nil
	}
	if b.FailRatio < 0 || b.FailRatio > 1 {
		return nil, problem.Invalid(string(svc)+".fail_ratio", "must be a number from 0 to 1")
	}
	var d time.Duration
	if b.Delay != "" {
		var err error
		if d, err = time.ParseDuration(b.Delay); err != nil || d < 0 || d > maxDelay {
			return nil, problem.Invalid(string(svc)+".delay",
				fmt.Sprintf("must be a duration string from \"0s\" to %q, like \"250ms\"", maxDelay.String()))
		}
	}
	return &Fault{FailRatio: b.FailRatio, Delay: Duration(d)}, nil
}

func (s *Server) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	var body faultsBody
	if p := problem.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &body); p != nil {
		problem.Write(w, p)
		return
	}
	var fs Faults
	var p *problem.Problem
	if fs.Inventory, p = body.Inventory.parse(Inventory); p != nil {
		problem.Write(w, p)
		return
	}
	if fs.Accounting, p = body.Accounting.parse(Accounting); p != nil {
		problem.Write(w, p)
		return
	}
	s.faults.set(fs)
	now := s.faults.get()
	s.logger.Info("faults changed",
		"inventory_fail_ratio", now.Inventory.FailRatio, "inventory_delay", time.Duration(now.Inventory.Delay).String(),
		"accounting_fail_ratio", now.Accounting.FailRatio, "accounting_delay", time.Duration(now.Accounting.Delay).String())
	writeJSON(w, http.StatusOK, now)
}

func (s *Server) handleClearFaults(w http.ResponseWriter, _ *http.Request) {
	s.faults.set(Faults{Inventory: &Fault{}, Accounting: &Fault{}})
	s.logger.Info("faults cleared")
	writeJSON(w, http.StatusOK, s.faults.get())
}

func (s *Server) handleReset(w http.ResponseWriter, _ *http.Request) {
	for _, svc := range Services() {
		s.journals[svc].reset()
	}
	s.inbox.reset()
	s.logger.Info("records and counts reset")
	w.WriteHeader(http.StatusNoContent)
}

func validateReservation(r ReservationRequest) *problem.Problem {
	if p := validateOrderRef(r.OrderID, r.Channel); p != nil {
		return p
	}
	if len(r.Items) == 0 {
		return problem.Invalid("items", "must hold at least one item")
	}
	for i, it := range r.Items {
		if it.SKU == "" || len(it.SKU) > 64 {
			return problem.Invalid(fmt.Sprintf("items[%d].sku", i), "is required: 1-64 characters")
		}
		if it.Quantity < 1 {
			return problem.Invalid(fmt.Sprintf("items[%d].quantity", i), "must be at least 1")
		}
	}
	return nil
}

func validateEntry(e EntryRequest) *problem.Problem {
	if p := validateOrderRef(e.OrderID, e.Channel); p != nil {
		return p
	}
	if len(e.CustomerID) > 64 {
		return problem.Invalid("customer_id", "must be at most 64 characters")
	}
	if len(e.Currency) != 3 || strings.ToUpper(e.Currency) != e.Currency || !isLetters(e.Currency) {
		return problem.Invalid("currency", "is required: an ISO 4217 code like \"USD\"")
	}
	if _, err := order.ParseMoney(e.Total); err != nil {
		return problem.Invalid("total", "is required: a decimal string like \"12.50\"")
	}
	return nil
}

func validateOrderRef(orderID, channel string) *problem.Problem {
	if orderID == "" || len(orderID) > 64 {
		return problem.Invalid("order_id", "is required: the order id as a string of 1-64 characters, like \"123\"")
	}
	if channel != "" {
		if _, err := order.ParseChannel(channel); err != nil {
			return problem.Invalid("channel", "must be retail or wholesale when present")
		}
	}
	return nil
}

func isLetters(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
