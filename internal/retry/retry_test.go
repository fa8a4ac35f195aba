package retry_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/retry"
)

func apiErr(code string) error {
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "PutItem", Err: &smithy.GenericAPIError{Code: code, Message: "m"}}
}

func status(code int) error {
	return &smithy.OperationError{ServiceID: "EventBridge", OperationName: "PutEvents", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("answer"),
	}}
}

func cancelled(codes ...string) error {
	tce := &types.TransactionCanceledException{}
	for _, c := range codes {
		tce.CancellationReasons = append(tce.CancellationReasons, types.CancellationReason{Code: aws.String(c)})
	}
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "TransactWriteItems", Err: tce}
}

func TestRetryable(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "http://127.0.0.1:1", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"throughput exceeded", apiErr("ProvisionedThroughputExceededException"), true},
		{"throttling", apiErr("ThrottlingException"), true},
		{"request limit", apiErr("RequestLimitExceeded"), true},
		{"internal server error", apiErr("InternalServerError"), true},
		{"eventbridge internal", apiErr("InternalException"), true},
		{"service unavailable", apiErr("ServiceUnavailable"), true},
		{"transaction conflict", apiErr("TransactionConflictException"), true},
		{"transaction in progress", apiErr("TransactionInProgressException"), true},
		{"HTTP 500", status(500), true},
		{"HTTP 503", status(503), true},
		{"HTTP 400 without code", status(400), false},
		{"connection refused", fmt.Errorf("writing: %w", refused), true},
		{"connection reset", &url.Error{Op: "Post", URL: "u", Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}, true},
		{"conditional check failed", &smithy.OperationError{Err: &types.ConditionalCheckFailedException{}}, false},
		{"validation", apiErr("ValidationException"), false},
		{"resource not found", apiErr("ResourceNotFoundException"), false},
		{"cancelled: throttled and none", cancelled("None", "ThrottlingError"), true},
		{"cancelled: conflict", cancelled("TransactionConflict", "None"), true},
		{"cancelled: throughput", cancelled("ProvisionedThroughputExceeded"), true},
		{"cancelled: a condition failed", cancelled("None", "ConditionalCheckFailed", "ThrottlingError"), false},
		{"cancelled: validation", cancelled("ValidationError"), false},
		{"cancelled: no reasons", cancelled(), false},
		{"ctx cancelled", fmt.Errorf("writing: %w", context.Canceled), false},
		{"ctx deadline", fmt.Errorf("writing: %w", context.DeadlineExceeded), false},
		{"SDK request cancelled", &aws.RequestCanceledError{Err: errors.New("stop")}, false},
		{"ctx cancelled mid-call", &smithy.OperationError{Err: &aws.RequestCanceledError{Err: context.Canceled}}, false},
		{"exhausted", fmt.Errorf("writing: 3 unprocessed: %w", retry.ErrExhausted), true},
		{"anything else", errors.New("boom"), false},
	} {
		if got := retry.Retryable(tc.err); got != tc.want {
			t.Errorf("%s: Retryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestRetryableReasonAndEntry(t *testing.T) {
	reasons := map[string]bool{"TransactionConflict": true, "ThrottlingError": true, "ProvisionedThroughputExceeded": true,
		"RequestLimitExceeded": true, "None": false, "ConditionalCheckFailed": false, "ValidationError": false, "ItemCollectionSizeLimitExceeded": false}
	for code, want := range reasons {
		if got := retry.RetryableReason(code); got != want {
			t.Errorf("RetryableReason(%q) = %v, want %v", code, got, want)
		}
	}
	entries := map[string]bool{"InternalFailure": true, "ThrottlingException": true, "SomethingNew": true,
		"InvalidArgument": false, "MalformedDetail": false, "ValidationException": false}
	for code, want := range entries {
		if got := retry.RetryableEntry(code); got != want {
			t.Errorf("RetryableEntry(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestBackoffIsFullJitterUnderTheCeiling(t *testing.T) {
	p := retry.Policy{MaxAttempts: 6, Base: 25 * time.Millisecond, Cap: 300 * time.Millisecond}
	var ceilings []time.Duration
	top := p
	top.Rand = func(n int64) int64 { ceilings = append(ceilings, time.Duration(n)); return n - 1 }
	bottom := p
	bottom.Rand = func(int64) int64 { return 0 }
	for n := 1; n <= 5; n++ {
		if got, want := top.Backoff(n), p.Ceiling(n); got != want {
			t.Errorf("Backoff(%d) at the top draw = %v, want the ceiling %v", n, got, want)
		}
		if got := bottom.Backoff(n); got != 1 {
			t.Errorf("Backoff(%d) at the bottom draw = %v, want 1ns", n, got)
		}
	}
	want := []time.Duration{25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
	if d := cmp.Diff(want, ceilings); d != "" {
		t.Errorf("ceilings drawn under (-want +got):\n%s", d)
	}
	if got, want := p.WorstWait(), 675*time.Millisecond; got != want {
		t.Errorf("WorstWait = %v, want %v (25+50+100+200+300 ms)", got, want)
	}
	for n := 1; n <= 100; n++ {
		if d := p.Backoff(n); d <= 0 || d > p.Cap {
			t.Fatalf("Backoff(%d) with the real source = %v, want in (0, %v]", n, d, p.Cap)
		}
	}
}

func TestWaitSleepsTheBackoffAndStopsWithCtx(t *testing.T) {
	var slept []time.Duration
	p := retry.Policy{MaxAttempts: 3, Base: time.Second, Cap: time.Minute,
		Rand:  func(n int64) int64 { return n - 1 },
		Sleep: func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return ctx.Err() }}
	for n := 1; n <= 2; n++ {
		if err := p.Wait(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if d := cmp.Diff([]time.Duration{time.Second, 2 * time.Second}, slept); d != "" {
		t.Errorf("slept (-want +got):\n%s", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with an ended ctx = %v, want context.Canceled", err)
	}
	if p.Last(2) || !p.Last(3) {
		t.Errorf("Last(2), Last(3) = %v, %v; want false, true", p.Last(2), p.Last(3))
	}
	if (retry.Policy{}).Backoff(1) != 0 || !(retry.Policy{}).Last(1) {
		t.Error("the zero Policy must try once and never wait")
	}
}
