package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"

	"github.com/anycompany/strangler/internal/problem"
)

// StatusClientClosedRequest is nginx's 499: the client went away before the
// answer. It is logged and counted, but is never a backend error.
const StatusClientClosedRequest = 499

// ErrOwnedUnavailable is returned when a request that only the new backend
// may serve (an id it owns, a key pinned to it) finds it unavailable.
var ErrOwnedUnavailable = errors.New("the new backend owns this request and is unavailable")

// MaxIdempotencyKeyBytes bounds an Idempotency-Key: a longer one gets 400.
const MaxIdempotencyKeyBytes = 255

// ErrIdempotencyKeyTooLong refuses an Idempotency-Key over MaxIdempotencyKeyBytes.
var ErrIdempotencyKeyTooLong = errors.New("the Idempotency-Key header is longer than 255 bytes")

// statusFor is the one place that maps a proxying error to the status the
// client gets: 413 for a body over the limit, 499 when the client's own
// context ended (it went away: not a backend error), 408 when the client's
// body did not arrive in time, 504 when the backend
// timed out, 503 when an owned request cannot be served (or a write waits
// for its order to settle with its new owner), 502 otherwise.
func statusFor(ctx context.Context, err error) int {
	var tooBig *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The connection's read deadline (which also ends the request's
		// context): the client's body was too slow.
		return http.StatusRequestTimeout
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		return StatusClientClosedRequest
	case errors.Is(err, ErrOwnedUnavailable), errors.Is(err, ErrNotSettled):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// BackendProxy names the proxy itself in X-Strangler-Backend, when it
// answered without asking a backend (a body over the limit).
const BackendProxy Backend = "proxy"

// writeError answers a proxying error as problem+json with the status of statusFor.
func writeError(w http.ResponseWriter, status int, backend Backend, err error) {
	if status == StatusClientClosedRequest {
		// Nobody is listening; the status only reaches logs and metrics.
		w.WriteHeader(status)
		return
	}
	var p *problem.Problem
	switch status {
	case http.StatusRequestEntityTooLarge:
		p = problem.New(status, "Request too large", err.Error())
	case http.StatusBadRequest:
		p = problem.New(status, "Bad request", err.Error())
	case http.StatusRequestTimeout:
		p = problem.New(status, "Request timeout", "the request body did not arrive within body_timeout")
	case http.StatusServiceUnavailable:
		if errors.Is(err, ErrNotSettled) {
			p = problem.New(status, "Order changing owner", err.Error()+"; nothing was written: retry")
			w.Header().Set("Retry-After", "1")
			break
		}
		p = problem.New(status, "Backend unavailable", "the "+string(backend)+" backend owns this request and is unavailable (circuit open or unhealthy); retry later")
		w.Header().Set("Retry-After", "5")
	case http.StatusGatewayTimeout:
		p = problem.New(status, "Backend timeout", "the "+string(backend)+" backend did not answer in time")
	default:
		p = problem.New(status, "Bad gateway", "the "+string(backend)+" backend could not be reached or failed mid-answer")
	}
	problem.Write(w, p)
}
