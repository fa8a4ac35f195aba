package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/orderitem"
	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/internal/sinkauth"
	"github.com/anycompany/strangler/internal/tracing"
)

// Acceptor advances a pending order to accepted; *Store is one.
type Acceptor interface {
	Accept(ctx context.Context, id string) (o order.Order, changed bool, err error)
}

var _ Acceptor = (*Store)(nil)

// Processor is the order processor: an HTTP target of the event bus that
// takes the new service's OrderCreated events and advances each pending
// order to accepted (with its OrderStatusChanged outbox record), so order
// acceptance and order processing are independent. Deliveries are
// at-least-once: a duplicate or an event about an order that already moved
// on answers 200 and changes nothing; a transient failure answers 503 so the
// bus retries; an envelope that is not an event answers 400. The zero value
// is not usable; make one with NewProcessor.
type Processor struct {
	auth    sinkauth.Connection
	accept  Acceptor
	source  string
	maxBody int64
	log     *slog.Logger
	reg     *prometheus.Registry
	results *prometheus.CounterVec
	latency *prometheus.HistogramVec
	reqs    *prometheus.CounterVec
	// conflicts counts lost races of Accept (the Store's OnRetry).
	conflicts *prometheus.CounterVec
	tp        trace.TracerProvider
}

// NewProcessor returns a processor of cfg.Processor.Source's events.
// Registry may be nil (a new one).
func NewProcessor(cfg Config, accept Acceptor, logger *slog.Logger, reg *prometheus.Registry) *Processor {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	p := &Processor{
		auth: cfg.Processor.Auth, accept: accept, source: cfg.Processor.Source, maxBody: cfg.MaxBodyBytes,
		log: logger.With("component", "orders-processor"), reg: reg, tp: noop.NewTracerProvider(),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_processor_events_total",
			Help: "Events delivered to the processor by result: accepted, duplicate (the order was no longer pending), missing (no such order), ignored (another source or type), invalid, failed.",
		}, []string{"result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orders_processor_request_duration_seconds", Help: "Processor HTTP latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
		reqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_processor_http_requests_total", Help: "Processor HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_processor_transaction_conflicts_total", Help: "Accepts that lost a race and were retried.",
		}, []string{"op"}),
	}
	reg.MustRegister(p.results, p.latency, p.reqs, p.conflicts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return p
}

// Trace makes every delivery Process handles a consumer span of tp named
// "process <detail-type>", continuing the traceparent of the event's detail
// (internal/tracing); the events it causes carry that span on. Call it
// before serving; nil leaves tracing off (the default).
func (p *Processor) Trace(tp trace.TracerProvider) {
	if tp != nil {
		p.tp = tp
	}
}

// Registry exposes the processor's metrics registry.
func (p *Processor) Registry() *prometheus.Registry { return p.reg }

// Handler returns the processor's routes: POST /events, /healthz, /metrics.
func (p *Processor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /events", p.auth.Require(http.HandlerFunc(p.events)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		orderapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{}))
	return orderapi.Instrument(mux, p.reqs, p.latency)
}

// Delivery is the part of an EventBridge event the processor reads: the
// body the bus POSTs to /events, or the event EventBridge hands the Lambda.
type Delivery struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
}

// check reports the first missing field of d.
func (d Delivery) check() *problem.Problem {
	switch {
	case d.DetailType == "":
		return problem.Invalid("detail-type", "is required")
	case d.Source == "":
		return problem.Invalid("source", "is required")
	case len(d.Detail) == 0 || d.Detail[0] != '{':
		return problem.Invalid("detail", "must be a JSON object")
	}
	return nil
}

// orderDetail is the part of events.Detail the processor reads.
type orderDetail struct {
	EventID string          `json:"event_id"`
	Order   json.RawMessage `json:"order"`
}

// Outcome is the processor's answer to one delivery.
type Outcome struct {
	Result  string `json:"result"`
	OrderID string `json:"order_id,omitempty"`
	Status  string `json:"status,omitempty"`
}

// ErrRetry is a delivery that failed for now (DynamoDB unreachable,
// contended): delivering it again may succeed.
var ErrRetry = errors.New("processing failed; deliver again")

// events is the HTTP sink: POST /events.
func (p *Processor) events(w http.ResponseWriter, r *http.Request) {
	d, prob := p.decode(w, r)
	if prob != nil {
		p.results.WithLabelValues("invalid").Inc()
		p.log.Warn("refused a delivery", "err", prob.Error())
		problem.Write(w, prob)
		return
	}
	out, err := p.Process(r.Context(), d)
	var bad *problem.Problem
	switch {
	case errors.As(err, &bad):
		problem.Write(w, bad)
	case err != nil:
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "Processing failed", "the order could not be advanced now; deliver again"))
	default:
		orderapi.WriteJSON(w, http.StatusOK, out)
	}
}

// Process handles one delivery; the HTTP sink and the Lambda both call it.
// An error is either a *problem.Problem (the event can never be processed:
// 400 over HTTP) or wraps ErrRetry (deliver again: 503 over HTTP, a failed
// invocation on Lambda, which EventBridge's retry policy and then the
// dead-letter queue take over). Duplicates and events of other sources or
// types succeed and change nothing.
func (p *Processor) Process(ctx context.Context, d Delivery) (Outcome, error) {
	ctx, span := tracing.Consume(ctx, p.tp, "process "+d.DetailType, tracing.DetailParent(d.Detail))
	defer span.End()
	out, err := p.process(ctx, d)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.SetAttributes(attribute.String("strangler.result", out.Result), attribute.String("strangler.order_id", out.OrderID))
	return out, err
}

func (p *Processor) process(ctx context.Context, d Delivery) (Outcome, error) {
	if prob := d.check(); prob != nil {
		p.results.WithLabelValues("invalid").Inc()
		return Outcome{}, prob
	}
	if d.Source != p.source || d.DetailType != events.OrderCreated {
		return p.answer("ignored", Outcome{Result: "ignored"}), nil
	}
	var od orderDetail
	if err := json.Unmarshal(d.Detail, &od); err != nil || len(od.Order) == 0 || string(od.Order) == "null" {
		p.results.WithLabelValues("invalid").Inc()
		return Outcome{}, problem.Invalid("detail.order", "an OrderCreated event needs the order's image in detail.order")
	}
	img, err := orderitem.FromImage(od.Order)
	if err != nil {
		p.results.WithLabelValues("invalid").Inc()
		return Outcome{}, problem.Invalid("detail.order", err.Error())
	}
	o, changed, err := p.accept.Accept(ctx, img.ID)
	switch {
	case errors.Is(err, orderapi.ErrNotFound):
		// The order is gone (deleted); nothing to process, and retrying
		// cannot bring it back.
		p.log.Warn("OrderCreated for an order that does not exist", "order_id", img.ID, "event_id", od.EventID)
		return p.answer("missing", Outcome{Result: "missing", OrderID: img.ID}), nil
	case err != nil:
		p.results.WithLabelValues("failed").Inc()
		p.log.Error("processing failed; the bus will retry", "order_id", img.ID, "event_id", od.EventID, "err", err)
		return Outcome{}, fmt.Errorf("order %s: %w: %w", img.ID, ErrRetry, err)
	case changed:
		p.log.Info("order accepted", "order_id", o.ID, "version", o.Version, "event_id", od.EventID)
		return p.answer("accepted", Outcome{Result: "accepted", OrderID: o.ID, Status: string(o.Status)}), nil
	}
	return p.answer("duplicate", Outcome{Result: "duplicate", OrderID: o.ID, Status: string(o.Status)}), nil
}

func (p *Processor) answer(label string, out Outcome) Outcome {
	p.results.WithLabelValues(label).Inc()
	return out
}

// decode reads an EventBridge envelope (unknown fields allowed: targets get
// more than the processor reads).
func (p *Processor) decode(w http.ResponseWriter, r *http.Request) (Delivery, *problem.Problem) {
	var env Delivery
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return env, problem.New(http.StatusRequestEntityTooLarge, "Request too large", fmt.Sprintf("the event exceeds %d bytes", p.maxBody))
	case err != nil:
		return env, problem.Invalid("", "reading the event: "+err.Error())
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return env, problem.Invalid("", "the body is not an EventBridge event (JSON object): "+err.Error())
	}
	return env, env.check()
}
