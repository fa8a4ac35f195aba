package downstream

import (
	"encoding/json"
	"fmt"
	"time"
)

// Service names one of the two stand-in services.
type Service string

// The services this stand-in serves.
const (
	Inventory  Service = "inventory"
	Accounting Service = "accounting"
)

// Services lists every service, in a fixed order.
func Services() []Service { return []Service{Inventory, Accounting} }

// ReservationRequest is the body of POST /inventory/v1/reservations.
type ReservationRequest struct {
	OrderID string            `json:"order_id"`
	Channel string            `json:"channel,omitempty"`
	Items   []ReservationItem `json:"items"`
}

// ReservationItem is one line of a reservation.
type ReservationItem struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// EntryRequest is the body of POST /accounting/v1/entries. Total is a
// decimal string ("12.50"), never a float.
type EntryRequest struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id,omitempty"`
	Channel    string `json:"channel,omitempty"`
	Currency   string `json:"currency"`
	Total      string `json:"total"`
}

// Created is the answer to an accepted call: 201 the first time, 200 for a
// repeat of its Idempotency-Key. ID is "res_…" for a reservation and "ent_…"
// for an entry.
type Created struct {
	ReservationID string `json:"reservation_id,omitempty"`
	EntryID       string `json:"entry_id,omitempty"`
	OrderID       string `json:"order_id"`
}

// Record is one call a service accepted, as GET …?order_id= lists it. The
// request is kept verbatim in the field of its service.
type Record struct {
	ID             string              `json:"id"`
	OrderID        string              `json:"order_id"`
	IdempotencyKey string              `json:"idempotency_key,omitempty"`
	ReceivedAt     time.Time           `json:"received_at"`
	Reservation    *ReservationRequest `json:"reservation,omitempty"`
	Entry          *EntryRequest       `json:"entry,omitempty"`
}

// Records is the body of GET /inventory/v1/reservations?order_id= and
// GET /accounting/v1/entries?order_id=.
type Records struct {
	Items []Record `json:"items"`
}

// Counts are the calls one service answered since start (or the last reset).
type Counts struct {
	// Received counts calls recorded (201).
	Received int64 `json:"received"`
	// Duplicates counts repeats of an Idempotency-Key answered from memory (200).
	Duplicates int64 `json:"duplicates"`
	// Failed counts calls failed on purpose by a fault (503).
	Failed int64 `json:"failed"`
	// Events counts the order events (POST /events) the service recorded,
	// duplicates dropped.
	Events int64 `json:"events"`
}

// Stats is the body of GET /admin/stats.
type Stats struct {
	Inventory  Counts `json:"inventory"`
	Accounting Counts `json:"accounting"`
	// Events counts POST /events calls: the order events delivered by the bus.
	Events EventCounts `json:"events"`
}

// Fault is the run-time misbehaviour of one service, as PUT /admin/faults
// takes it and GET /admin/faults shows it. The zero value is a healthy
// service.
type Fault struct {
	FailRatio float64  `json:"fail_ratio"`
	Delay     Duration `json:"delay"`
}

// Faults is the body of PUT /admin/faults: each service present is set to
// exactly the fault given (fields left out are zero); a service left out
// keeps its fault.
type Faults struct {
	Inventory  *Fault `json:"inventory,omitempty"`
	Accounting *Fault `json:"accounting,omitempty"`
}

// Duration is a time.Duration that travels in JSON as a Go duration string
// ("250ms").
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts a duration string like "250ms" or "1.5s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be a duration string like \"250ms\", not %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("must be a duration string like \"250ms\": %w", err)
	}
	*d = Duration(v)
	return nil
}
