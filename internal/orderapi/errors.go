package orderapi

import (
	"errors"
	"fmt"

	"github.com/anycompany/strangler/internal/order"
)

// Store errors the API tells apart; both services' stores return them.
var (
	// ErrNotFound: no order with that id in the caller's channel.
	ErrNotFound = errors.New("order not found")
	// ErrIdempotencyConflict: the idempotency key was used for another request.
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different request")
	// ErrBadCursor: the list cursor was not issued by this service.
	ErrBadCursor = errors.New("malformed cursor")
)

// TransitionError says an order cannot move to the wanted status. The API
// answers it with 409.
type TransitionError struct {
	From, To order.Status
}

func (e *TransitionError) Error() string {
	if e.To == order.Cancelled {
		return fmt.Sprintf("an order that is %s cannot be cancelled", e.From)
	}
	return fmt.Sprintf("an order cannot move from %s to %s (only accepted -> processing -> shipped)", e.From, e.To)
}

// Page is one page of a customer's orders, newest first: the body of
// GET /v1/orders. It may be copied.
type Page struct {
	Orders     []order.Order `json:"orders"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// Created is the result of Store.Create. It may be copied.
type Created struct {
	Order order.Order
	// Replayed is true when the idempotency key had created Order before.
	Replayed bool
}
