package downstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/internal/tracing"
)

// maxEventBytes caps a POST /events body: an EventBridge event is at most
// 256 KiB, plus the envelope around it.
const maxEventBytes = 512 << 10

// envelope is the part of an EventBridge event envelope POST /events reads;
// other fields are ignored, as a real consumer would.
type envelope struct {
	ID         string `json:"id"`
	DetailType string `json:"detail-type"`
	Source     string `json:"source"`
	Detail     struct {
		EventID        string     `json:"event_id"`
		SourcePosition any        `json:"source_position"`
		Order          orderImage `json:"order"`
		Traceparent    string     `json:"traceparent"`
	} `json:"detail"`
}

// orderImage is the part of detail.order (the order's after-image, the same
// in the cdc's and the new service's events) the services act on.
type orderImage struct {
	ID         json.RawMessage `json:"id"`
	CustomerID string          `json:"customer_id"`
	Channel    string          `json:"channel"`
	Currency   string          `json:"currency"`
	Total      json.RawMessage `json:"total"`
	Items      []struct {
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	} `json:"items"`
}

// EventAck is the answer to POST /events.
type EventAck struct {
	EventID string `json:"event_id"`
	// Duplicate is true when the event id was already seen: nothing was recorded.
	Duplicate bool `json:"duplicate"`
	// Services lists the services that recorded the event (none when ignored
	// or duplicate).
	Services []Service `json:"services"`
}

// handleEvent takes one order event as an EventBridge target receives it
// (the envelope, detail inside), records it for each service that reacts to
// its detail-type, and drops a repeated detail.event_id. A fault of an
// interested service answers 503, so the bus retries later.
func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { s.metrics.duration.WithLabelValues("events").Observe(time.Since(start).Seconds()) }()
	ev, p := decodeEnvelope(w, r)
	if p != nil {
		s.inbox.invalid()
		s.metrics.events.WithLabelValues(outcomeInvalid).Inc()
		problem.Write(w, p)
		return
	}
	services := interested(ev.DetailType)
	ctx, span := tracing.Consume(r.Context(), s.tp, "consume "+ev.DetailType, ev.Detail.Traceparent)
	defer span.End()
	r = r.WithContext(ctx)

	var delay time.Duration
	fail := false
	for _, svc := range services {
		d, f := s.faults.decide(svc)
		delay, fail = max(delay, d), fail || f
	}
	if delay > 0 {
		if err := s.sleep(r.Context(), delay); err != nil {
			return // the bus gave up; it retries
		}
	}
	if fail {
		s.inbox.failed()
		s.metrics.events.WithLabelValues(outcomeFailed).Inc()
		w.Header().Set("Retry-After", "1")
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "Service unavailable",
			"a service that reacts to "+ev.DetailType+" is failing on purpose (fault injection); PUT /admin/faults to heal it"))
		return
	}

	rec := EventRecord{
		Source: ev.Source, EventID: ev.Detail.EventID, DetailType: ev.DetailType, OrderID: orderID(ev.Detail.Order.ID),
		SourcePosition: ev.Detail.SourcePosition, BusEventID: ev.ID, ReceivedAt: s.now().UTC(),
	}
	ack := EventAck{EventID: rec.EventID, Services: []Service{}}
	outcome := outcomeRecorded
	switch {
	case s.inbox.add(rec, services):
		ack.Duplicate, outcome = true, outcomeDuplicate
	case len(services) == 0:
		outcome = eventIgnored
	default:
		ack.Services = services
		if ev.DetailType == "OrderCreated" {
			s.actOnCreated(ctx, rec.OrderID, ev.Detail.Order, services)
		}
	}
	s.metrics.events.WithLabelValues(outcome).Inc()
	span.SetAttributes(attribute.String("strangler.order_id", rec.OrderID), attribute.String("strangler.result", outcome))
	s.logger.Debug("event", "event_id", rec.EventID, "detail_type", rec.DetailType, "order_id", rec.OrderID, "outcome", outcome)
	writeJSON(w, http.StatusOK, ack)
}

// actOnCreated makes an OrderCreated event do what the monolith's
// synchronous calls do: inventory reserves the order's lines, accounting
// records its total, both derived from the event's order image and recorded
// under the keys the monolith sends (reserve-<id>, record-<id>), so a legacy
// order that was both called for and published counts once, whichever came
// first, and an order of either producer is handled the same way. An image
// that cannot make a valid call is logged and recorded as an event only.
func (s *Server) actOnCreated(ctx context.Context, orderID string, img orderImage, services []Service) {
	for _, svc := range services {
		_, span := s.tp.Tracer("strangler/downstream").Start(ctx, string(svc)+" OrderCreated", trace.WithAttributes(attribute.String("strangler.order_id", orderID)))
		s.act(svc, orderID, img)
		span.End()
	}
}

// act records what svc does for an OrderCreated event of orderID.
func (s *Server) act(svc Service, orderID string, img orderImage) {
	rec := Record{OrderID: orderID, ReceivedAt: s.now().UTC()}
	var p *problem.Problem
	switch svc {
	case Inventory:
		req := ReservationRequest{OrderID: orderID, Channel: img.Channel}
		for _, it := range img.Items {
			req.Items = append(req.Items, ReservationItem{SKU: it.SKU, Quantity: it.Quantity})
		}
		rec.IdempotencyKey, rec.Reservation, p = "reserve-"+orderID, &req, validateReservation(req)
	case Accounting:
		req := EntryRequest{OrderID: orderID, CustomerID: img.CustomerID, Channel: img.Channel, Currency: img.Currency, Total: decimalText(img.Total)}
		rec.IdempotencyKey, rec.Entry, p = "record-"+orderID, &req, validateEntry(req)
	default:
		return
	}
	if p != nil {
		s.logger.Warn("OrderCreated event without a usable order image; recorded as an event only", "service", svc, "order_id", orderID, "field", p.Field, "detail", p.Detail)
		return
	}
	fingerprint, _ := json.Marshal(struct {
		R *ReservationRequest
		E *EntryRequest
	}{rec.Reservation, rec.Entry})
	got, dup, err := s.journals[svc].add(rec, string(fingerprint))
	if err != nil {
		// The monolith called with another body under the same key: the
		// first call stands.
		s.logger.Warn("OrderCreated event differs from the call already recorded for the order; the call stands", "service", svc, "order_id", orderID)
		return
	}
	s.logger.Debug("event acted on", "service", svc, "order_id", orderID, "id", got.ID, "duplicate", dup)
}

// decimalText is a JSON decimal (a string "12.50" or a number) as text.
func decimalText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

func decodeEnvelope(w http.ResponseWriter, r *http.Request) (envelope, *problem.Problem) {
	var ev envelope
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return ev, problem.New(http.StatusRequestEntityTooLarge, "Request too large", fmt.Sprintf("an event is at most %d bytes", maxEventBytes))
		}
		return ev, problem.Invalid("", "reading the body: "+err.Error())
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, problem.Invalid("", "the body must be an EventBridge event envelope {\"detail-type\",\"detail\":{\"event_id\",…}}: "+err.Error())
	}
	switch {
	case ev.DetailType == "":
		return ev, problem.Invalid("detail-type", "is required: the event type, like OrderCreated")
	case ev.Detail.EventID == "":
		return ev, problem.Invalid("detail.event_id", "is required: the id consumers deduplicate on")
	}
	return ev, nil
}

// orderID reads detail.order.id, a string or a number; "" when absent.
func orderID(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	return strings.Trim(string(raw), `"`)
}

func (s *Server) handleListEvents(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("order_id")
	if id == "" {
		problem.Write(w, problem.Invalid("order_id", "is required: GET /events?order_id=123"))
		return
	}
	writeJSON(w, http.StatusOK, EventRecords{Items: s.inbox.byOrderID(id)})
}
