// Package retry is the project's one retry policy: how long to wait before
// an AWS call is tried again (Policy), which failures are worth another try
// (Retryable, RetryableReason, RetryableEntry), and the SDK's own retryer
// set to match (Policy.SDKRetryer), so that a layer that retries and the SDK
// under it do not multiply their attempts. docs/retries.md tabulates every
// path's worst case from these figures.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	sdkretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/smithy-go"

	"github.com/anycompany/strangler/internal/clock"
)

// ErrExhausted marks a failure returned once a policy's attempts ran out on
// retryable errors. Retryable reports it retryable: a layer above may try
// the whole unit again later (the cdc applies a failed batch again).
var ErrExhausted = errors.New("retries exhausted")

// Policy says how often and how fast one call is tried again: up to
// MaxAttempts attempts, waiting between them a full-jitter exponential
// backoff (a uniform draw up to Base·2^(n-1), at most Cap). The zero value
// tries once; a Policy is a value and may be copied.
type Policy struct {
	// MaxAttempts bounds the attempts, the first included; 1 (or less)
	// never retries.
	MaxAttempts int
	// Base is the longest wait after the first attempt; it doubles per
	// attempt up to Cap.
	Base time.Duration
	// Cap is the longest wait between two attempts.
	Cap time.Duration
	// Sleep waits between attempts. Optional: clock.Sleep.
	Sleep func(context.Context, time.Duration) error
	// Rand returns a uniform number in [0, n). Optional: math/rand/v2's
	// Int64N.
	Rand func(n int64) int64
}

// Or is p with its zero numbers (MaxAttempts, Base, Cap) taken from d: a
// consumer's default policy under the Sleep and Rand its caller injected.
func (p Policy) Or(d Policy) Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.Base <= 0 {
		p.Base = d.Base
	}
	if p.Cap <= 0 {
		p.Cap = d.Cap
	}
	return p
}

// Ceiling is the longest wait after attempt n (from 1): Base·2^(n-1), at
// most Cap.
func (p Policy) Ceiling(n int) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Cap; i++ {
		d *= 2
	}
	return min(d, p.Cap)
}

// Backoff is the wait after attempt n (from 1): full jitter, uniform in
// (0, Ceiling(n)], so that many callers throttled at once spread out.
func (p Policy) Backoff(n int) time.Duration {
	c := p.Ceiling(n)
	if c <= 0 {
		return 0
	}
	draw := rand.Int64N
	if p.Rand != nil {
		draw = p.Rand
	}
	return time.Duration(draw(int64(c))) + 1
}

// Wait sleeps Backoff(n) after attempt n failed. It returns ctx's error
// when ctx ends first.
func (p Policy) Wait(ctx context.Context, n int) error {
	sleep := clock.Sleep
	if p.Sleep != nil {
		sleep = p.Sleep
	}
	return sleep(ctx, p.Backoff(n))
}

// Last reports whether attempt n is the last the policy allows.
func (p Policy) Last(n int) bool { return n >= p.MaxAttempts }

// WorstWait is the longest time spent waiting before the last attempt:
// the ceilings of the MaxAttempts-1 waits added up (the calls' own time
// not included).
func (p Policy) WorstWait() time.Duration {
	var total time.Duration
	for n := 1; n < p.MaxAttempts; n++ {
		total += p.Ceiling(n)
	}
	return total
}

// SDKRetryer is the SDK's standard retryer set to p: p's attempts and
// backoff (its Rand; the SDK sleeps itself), the SDK's own
// DefaultRetryables (throttling, 5xx, broken connections; not
// TransactionCanceled, whose races the caller handles), and no retry quota:
// the quota is shared by every call of a client, so a throttled data path
// would use it up and leave a lease renewal on the same client no retry.
func (p Policy) SDKRetryer() aws.Retryer {
	return sdkretry.NewStandard(func(o *sdkretry.StandardOptions) {
		o.MaxAttempts = max(p.MaxAttempts, 1)
		o.MaxBackoff = p.Cap
		o.Backoff = sdkretry.BackoffDelayerFunc(func(n int, _ error) (time.Duration, error) { return p.Backoff(max(n, 1)), nil })
		o.RateLimiter = ratelimit.None
	})
}

// NoSDKRetry, given to a DynamoDB call, has the SDK try it once: for the
// loops that retry under a Policy of their own, so the two do not multiply.
func NoSDKRetry(o *dynamodb.Options) { o.Retryer = aws.NopRetryer{} }

// NoSDKRetryEvents is NoSDKRetry for an EventBridge call.
func NoSDKRetryEvents(o *eventbridge.Options) { o.Retryer = aws.NopRetryer{} }

// sdkRetryables is the SDK's own classification, which Retryable extends.
var sdkRetryables = sdkretry.IsErrorRetryables(sdkretry.DefaultRetryables)

// Retryable reports whether a later attempt of the call that failed with
// err may succeed: throttling, server failures (5xx), broken or refused
// connections, a DynamoDB transaction conflict, a transaction cancelled only
// for throttling or conflicts, and ErrExhausted. Not retryable: nil, ctx
// ending, and the service's refusals (a failed condition, a validation
// error), which would fail the same way again.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrExhausted) {
		return true
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		if len(tce.CancellationReasons) == 0 {
			return false
		}
		for _, r := range tce.CancellationReasons {
			if code := aws.ToString(r.Code); code != "None" && code != "" && !RetryableReason(code) {
				return false
			}
		}
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "TransactionConflictException", "InternalServerError", "InternalException", "InternalFailure", "ServiceUnavailable":
			return true
		}
	}
	return sdkRetryables.IsErrorRetryable(err).Bool()
}

// RetryableReason reports whether a TransactWriteItems cancellation reason
// may pass on a later attempt: throttling or a conflicting transaction.
// "None" (cancelled only along with another item) is no failure of the item
// itself; ConditionalCheckFailed, ValidationError and the rest are final.
func RetryableReason(code string) bool {
	switch code {
	case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
		return true
	}
	return false
}

// RetryableEntry reports whether a PutEvents entry that failed with code
// (a partial failure) may be accepted on a later attempt. Entries the bus
// refuses for their content (InvalidArgument, MalformedDetail,
// ValidationException) never will; any other code (InternalFailure,
// ThrottlingException, one the bus adds later) is tried again, within the
// policy's attempts.
func RetryableEntry(code string) bool {
	switch code {
	case "InvalidArgument", "MalformedDetail", "ValidationException":
		return false
	}
	return true
}
