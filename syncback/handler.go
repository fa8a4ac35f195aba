package syncback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderitem"
	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/internal/sinkauth"
	"github.com/anycompany/strangler/internal/tracing"
)

// ImageApplier is what the Handler needs of the Applier.
type ImageApplier interface {
	Apply(ctx context.Context, worker, eventID string, s orderitem.Stored) (Outcome, error)
}

var _ ImageApplier = (*Applier)(nil)

// Pinger checks the database for /readyz.
type Pinger interface {
	PingContext(ctx context.Context) error
}

// Handler is the bus's HTTP target: POST /events takes one EventBridge
// envelope. The zero value is not usable; make one with NewHandler.
type Handler struct {
	auth    sinkauth.Connection
	applier ImageApplier
	db      Pinger
	source  string
	maxBody int64
	// slots hands out worker slots, one marker row each; it bounds the
	// events applied at once.
	slots   chan int
	name    string
	log     *slog.Logger
	metrics *metrics
	reg     *prometheus.Registry
	tp      trace.TracerProvider
}

type metrics struct {
	events   *prometheus.CounterVec
	duration prometheus.Histogram
	lag      prometheus.Gauge
}

// NewHandler wires the handler: name and workers name and count the marker
// slots; reg receives the metrics.
func NewHandler(cfg Config, applier ImageApplier, db Pinger, name string, log *slog.Logger, reg *prometheus.Registry) *Handler {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strangler_syncback_events_total",
			Help: "Events received, by outcome: applied (the row now holds the image), stale (the row held this image, or a newer version), lost_race (the row holds this version with other content: two writers met; 409, dead-lettered), invalid (malformed: 400, dead-lettered by the bus), conflict (no place in the table: 409, dead-lettered), error (transient: 503, retried by the bus)."},
			[]string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strangler_syncback_apply_seconds",
			Help: "Time to apply one event to MySQL.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
	}
	m.lag = prometheus.NewGauge(prometheus.GaugeOpts{Name: "strangler_syncback_lag_seconds",
		Help: "Seconds from the order's change on the new service (its updated_at) to its applying in MySQL, of the last event applied (clock skew between the two counts)."})
	reg.MustRegister(m.events, m.duration, m.lag)
	for _, o := range []string{"applied", "stale", "lost_race", "invalid", "conflict", "error"} {
		m.events.WithLabelValues(o)
	}
	h := &Handler{auth: cfg.Auth, applier: applier, db: db, source: cfg.Source, maxBody: cfg.MaxBodyBytes, slots: make(chan int, cfg.Workers),
		name: name, log: log.With("component", "syncback"), metrics: m, reg: reg, tp: noop.NewTracerProvider()}
	for i := range cfg.Workers {
		h.slots <- i
	}
	return h
}

// Trace makes every delivery a consumer span of tp named "sync back
// <detail-type>", continuing the traceparent of the event's detail
// (internal/tracing). Call it before serving; nil leaves tracing off (the
// default).
func (h *Handler) Trace(tp trace.TracerProvider) {
	if tp != nil {
		h.tp = tp
	}
}

// Routes returns the HTTP routes.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /events", h.auth.Require(http.HandlerFunc(h.event)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", h.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.reg, promhttp.HandlerOpts{}))
	return mux
}

// envelope is the part of an EventBridge event the sync-back reads.
type envelope struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
}

// detail is the part of events.Detail the sync-back reads.
type detail struct {
	EventID string          `json:"event_id"`
	Order   json.RawMessage `json:"order"`
}

// Result is the answer to an applied or stale event.
type Result struct {
	Outcome Outcome `json:"outcome"`
	OrderID string  `json:"order_id"`
	Version uint32  `json:"version"`
	EventID string  `json:"event_id"`
}

func (h *Handler) event(w http.ResponseWriter, r *http.Request) {
	var env envelope
	if p := decode(w, r, h.maxBody, &env); p != nil {
		h.refuse(w, "invalid", p, env)
		return
	}
	ctx, span := tracing.Consume(r.Context(), h.tp, "sync back "+env.DetailType, tracing.DetailParent(env.Detail))
	defer span.End()
	r = r.WithContext(ctx)
	d, s, p := h.check(env)
	if p != nil {
		h.refuse(w, "invalid", p, env)
		return
	}
	var slot int
	select {
	case slot = <-h.slots:
	case <-r.Context().Done():
		w.WriteHeader(499) // the bus gave up on this attempt; nobody reads this
		return
	}
	start := time.Now()
	outcome, err := h.applier.Apply(r.Context(), h.name+"#"+strconv.Itoa(slot), d.EventID, s)
	h.slots <- slot
	h.metrics.duration.Observe(time.Since(start).Seconds())
	switch {
	case errors.Is(err, ErrLostRace):
		h.refuse(w, "lost_race", problem.New(http.StatusConflict, "Lost race", err.Error()+": the event is dead-lettered; settle the order by hand (both changes were acknowledged)"), env)
		return
	case errors.Is(err, ErrConflict):
		h.refuse(w, "conflict", problem.New(http.StatusConflict, "Order conflict", err.Error()+": the event is dead-lettered; fix the row, then replay it"), env)
		return
	case errors.Is(err, context.Canceled):
		w.WriteHeader(499)
		return
	case err != nil:
		span.SetStatus(codes.Error, err.Error())
		h.metrics.events.WithLabelValues("error").Inc()
		h.log.Error("applying an event failed; the bus retries it", "event_id", d.EventID, "order_id", s.ID, "version", s.Version, "err", err)
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "Legacy database unavailable", "the order was not written; retry the delivery"))
		return
	}
	h.metrics.events.WithLabelValues(string(outcome)).Inc()
	if outcome == Applied {
		h.metrics.lag.Set(time.Since(s.UpdatedAt.Time).Seconds())
	}
	span.SetAttributes(attribute.String("strangler.order_id", s.ID), attribute.String("strangler.result", string(outcome)))
	h.log.Debug("event applied", "event_id", d.EventID, "detail_type", env.DetailType, "order_id", s.ID, "version", s.Version, "outcome", outcome)
	writeJSON(w, http.StatusOK, Result{Outcome: outcome, OrderID: s.ID, Version: s.Version, EventID: d.EventID})
}

// refuse answers p, counts outcome and logs what was refused (the bus
// dead-letters a 4xx with the answer as its reason).
func (h *Handler) refuse(w http.ResponseWriter, outcome string, p *problem.Problem, env envelope) {
	h.metrics.events.WithLabelValues(outcome).Inc()
	h.log.Warn("event refused", "outcome", outcome, "status", p.Status, "envelope_id", env.ID, "detail_type", env.DetailType,
		"source", env.Source, "field", p.Field, "reason", p.Detail)
	problem.Write(w, p)
}

// decode reads one envelope, at most limit bytes. Unknown envelope fields
// are allowed (EventBridge adds some over time).
func decode(w http.ResponseWriter, r *http.Request, limit int64, env *envelope) *problem.Problem {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return problem.New(http.StatusUnsupportedMediaType, "Unsupported media type", "send the EventBridge event as application/json, not "+ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	if err := dec.Decode(env); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return problem.New(http.StatusRequestEntityTooLarge, "Event too large", fmt.Sprintf("the body exceeds %d bytes", limit))
		}
		return problem.Invalid("", "not an EventBridge event (JSON object with detail-type, source, detail): "+err.Error())
	}
	return nil
}

// check validates the envelope and its order image.
func (h *Handler) check(env envelope) (detail, orderitem.Stored, *problem.Problem) {
	var d detail
	switch {
	case env.Source != h.source:
		return d, orderitem.Stored{}, problem.Invalid("source", fmt.Sprintf("is %q; the sync-back takes only %s events (check the bus rule's pattern)", env.Source, h.source))
	case env.DetailType == events.OrderDeleted:
		return d, orderitem.Stored{}, problem.Invalid("detail-type", "OrderDeleted is not synced back: the new service never deletes orders")
	case env.DetailType == "":
		return d, orderitem.Stored{}, problem.Invalid("detail-type", "is missing")
	case len(env.Detail) == 0 || env.Detail[0] != '{':
		return d, orderitem.Stored{}, problem.Invalid("detail", "must be the event's Detail object")
	}
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		return d, orderitem.Stored{}, problem.Invalid("detail", "is not an order event's Detail: "+err.Error())
	}
	if d.EventID == "" || len(d.EventID) > 64 {
		return d, orderitem.Stored{}, problem.Invalid("detail.event_id", "must be a non-empty id of at most 64 characters")
	}
	if len(d.Order) == 0 || d.Order[0] != '{' {
		return d, orderitem.Stored{}, problem.Invalid("detail.order", "must be the order's image (a JSON object)")
	}
	s, err := orderitem.FromImage(d.Order)
	if err != nil {
		return d, s, problem.Invalid("detail.order", err.Error())
	}
	if field, why := validImage(s); field != "" {
		return d, s, problem.Invalid("detail.order."+field, why)
	}
	return d, s, nil
}

// validImage returns the first field of s that the legacy table cannot
// hold, and why.
func validImage(s orderitem.Stored) (field, why string) {
	_, legacy := parseLegacyID(s.ID)
	switch {
	case !legacy && (!strings.HasPrefix(s.ID, orderitem.Prefix) || len(s.ID) > 40 || len(s.ID) == len(orderitem.Prefix)):
		return "id", fmt.Sprintf("%q is neither a legacy decimal id nor an %s id of at most 40 characters", s.ID, orderitem.Prefix)
	case s.CustomerID == "" || len(s.CustomerID) > 64:
		return "customer_id", "must be 1 to 64 characters"
	case s.Channel != order.Retail && s.Channel != order.Wholesale:
		return "channel", fmt.Sprintf("%q is not retail or wholesale", s.Channel)
	case !validStatus(s.Status):
		return "status", fmt.Sprintf("%q is not one of %v", s.Status, order.Statuses)
	case len(s.Currency) != 3:
		return "currency", fmt.Sprintf("%q is not a 3-letter code", s.Currency)
	case s.Items == nil:
		return "items", "is missing"
	case s.Total < 0 || s.Total > order.MaxMoney:
		return "total", "is outside DECIMAL(12,2)"
	case len(s.IdempotencyKey) > 64:
		return "idempotency_key", "is longer than 64 characters"
	case s.CreatedAt.IsZero() || s.UpdatedAt.IsZero():
		return "created_at", "created_at and updated_at are required"
	case s.Version == 0:
		return "version", "must be 1 or more"
	}
	return "", ""
}

func validStatus(st order.Status) bool {
	for _, s := range order.Statuses {
		if s == st {
			return true
		}
	}
	return false
}

func (h *Handler) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.db.PingContext(ctx); err != nil {
		h.log.Warn("not ready: database unreachable", "err", err)
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "Not ready", "the legacy database is unreachable"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
