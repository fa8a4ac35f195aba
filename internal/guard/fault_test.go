package guard_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/retry"
)

// faultyDynamo speaks the DynamoDB JSON 1.0 protocol and injects the faults
// DynamoDB Local cannot produce: throttling, unprocessed batch items and
// transactions cancelled for mixed reasons. It is a fake only for that.
type faultyDynamo struct {
	mu         sync.Mutex
	throttle   int // next calls answered with ProvisionedThroughputExceededException
	calls      map[string]int
	stored     map[string]bool
	unprocOnce bool
	cancelKey  string // a transaction holding this key is cancelled: it fails its guard
	reason     string // the cancelKey item's cancellation reason; "" is ConditionalCheckFailed
	refuse     string // when set, every call is answered with this error code
}

func (f *faultyDynamo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	reply := func(status int, v any) {
		b, _ := json.Marshal(v)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}
	if f.refuse != "" {
		reply(400, map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + f.refuse, "message": "refused"})
		return
	}
	if f.throttle > 0 {
		f.throttle--
		reply(400, map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "slow down"})
		return
	}
	var in struct {
		Item         map[string]map[string]any
		RequestItems map[string][]struct {
			PutRequest struct{ Item map[string]map[string]any }
		}
		TransactItems []struct {
			Put struct{ Item map[string]map[string]any }
		}
	}
	_ = json.Unmarshal(body, &in)
	pk := func(item map[string]map[string]any) string { s, _ := item["pk"]["S"].(string); return s }
	switch op {
	case "PutItem":
		if pk(in.Item) == f.cancelKey {
			reply(400, map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": "The conditional request failed"})
			return
		}
		f.stored[pk(in.Item)] = true
		reply(200, map[string]any{})
	case "BatchWriteItem":
		var unprocessed []any
		for table, reqs := range in.RequestItems {
			for i, rq := range reqs {
				if !f.unprocOnce && i%2 == 1 {
					unprocessed = append(unprocessed, map[string]any{"PutRequest": map[string]any{"Item": rq.PutRequest.Item}})
					continue
				}
				f.stored[pk(rq.PutRequest.Item)] = true
			}
			f.unprocOnce = true
			out := map[string]any{"UnprocessedItems": map[string]any{}}
			if len(unprocessed) > 0 {
				out["UnprocessedItems"] = map[string]any{table: unprocessed}
			}
			reply(200, out)
			return
		}
	case "TransactWriteItems":
		var reasons []map[string]string
		cancelled := false
		for _, ti := range in.TransactItems {
			code := "None"
			if pk(ti.Put.Item) == f.cancelKey {
				code, cancelled = cmp.Or(f.reason, "ConditionalCheckFailed"), true
			}
			reasons = append(reasons, map[string]string{"Code": code})
		}
		if cancelled {
			reply(400, map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
				"message": "Transaction cancelled", "CancellationReasons": reasons})
			return
		}
		for _, ti := range in.TransactItems {
			f.stored[pk(ti.Put.Item)] = true
		}
		reply(200, map[string]any{})
	default:
		reply(400, map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#UnknownOperationException"})
	}
}

// faultyClient is a client of f built as production builds its clients
// (awsconf: the SDK's own retryer set to retry.SDK()), so the calls counted
// show whether the SDK's attempts multiply the writer's.
func faultyClient(t *testing.T, f *faultyDynamo) *dynamodb.Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := awsconf.Local(srv.URL).DynamoDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWriterRetriesFaults(t *testing.T) {
	items := func(n int) []guard.Item {
		var out []guard.Item
		for i := range n {
			out = append(out, itemOf("k"+strconv.Itoa(i), version{pos: 5, value: i}))
		}
		return out
	}
	noSleep := func(context.Context, time.Duration) error { return nil }
	cases := []struct {
		name        string
		mode        guard.Mode
		fault       func() *faultyDynamo
		wantWritten int
		wantSkipped int
		wantOps     map[string]int
	}{
		{"put throttled then accepted", guard.Put, func() *faultyDynamo { return &faultyDynamo{throttle: 3} }, 4, 0, map[string]int{"PutItem": 7}},
		{"batch with unprocessed items", guard.Batch, func() *faultyDynamo { return &faultyDynamo{} }, 10, 0, map[string]int{"BatchWriteItem": 2}},
		{"batch throttled", guard.Batch, func() *faultyDynamo { return &faultyDynamo{throttle: 2, unprocOnce: true} }, 10, 0, map[string]int{"BatchWriteItem": 3}},
		{"transaction cancelled by one guard: only the others retried", guard.Transact, func() *faultyDynamo { return &faultyDynamo{cancelKey: "k2"} }, 9, 1, map[string]int{"TransactWriteItems": 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fault()
			f.calls, f.stored = map[string]int{}, map[string]bool{}
			w := guard.NewWriter(faultyClient(t, f), "orders", tc.mode, guard.Options{Concurrency: 1, Retry: retry.Policy{Sleep: noSleep}})
			n := 10
			if tc.mode == guard.Put {
				n = 4
			}
			res, err := w.Write(context.Background(), items(n))
			if err != nil {
				t.Fatal(err)
			}
			if res.Written != tc.wantWritten || res.Skipped != tc.wantSkipped {
				t.Errorf("written %d skipped %d; want %d and %d", res.Written, res.Skipped, tc.wantWritten, tc.wantSkipped)
			}
			if len(f.stored) != tc.wantWritten {
				t.Errorf("the endpoint stored %d items, want %d", len(f.stored), tc.wantWritten)
			}
			for op, want := range tc.wantOps {
				if f.calls[op] != want {
					t.Errorf("%s called %d times, want %d (%v)", op, f.calls[op], want, f.calls)
				}
			}
		})
	}
}

// TestWriterGivesUp: with the production settings (retry.DynamoDB() and the
// SDK's retryer as awsconf sets it) a write that stays throttled is tried
// exactly DynamoDB().MaxAttempts times in every mode and gives up, after
// waiting at most DynamoDB().WorstWait(), with an error that says so and
// wraps the last one; a refusal is tried once.
func TestWriterGivesUp(t *testing.T) {
	items := func(n int) []guard.Item {
		var out []guard.Item
		for i := range n {
			out = append(out, itemOf("k"+strconv.Itoa(i), version{pos: 5, value: i}))
		}
		return out
	}
	prod := retry.DynamoDB()
	cases := []struct {
		name  string
		mode  guard.Mode
		n     int
		fault func() *faultyDynamo
		op    string
		calls int
		check func(error) bool
	}{
		{"put throttled", guard.Put, 1, func() *faultyDynamo { return &faultyDynamo{throttle: 1000} }, "PutItem", prod.MaxAttempts, isThrottled},
		{"batch throttled", guard.Batch, 10, func() *faultyDynamo { return &faultyDynamo{throttle: 1000} }, "BatchWriteItem", prod.MaxAttempts, isThrottled},
		{"transaction throttled", guard.Transact, 10, func() *faultyDynamo { return &faultyDynamo{throttle: 1000} }, "TransactWriteItems", prod.MaxAttempts, isThrottled},
		{"transaction item throttled", guard.Transact, 10, func() *faultyDynamo { return &faultyDynamo{cancelKey: "k3", reason: "ThrottlingError"} }, "TransactWriteItems", prod.MaxAttempts, isCancelled},
		{"transaction item in a conflict", guard.Transact, 10, func() *faultyDynamo { return &faultyDynamo{cancelKey: "k3", reason: "TransactionConflict"} }, "TransactWriteItems", prod.MaxAttempts, isCancelled},
		{"transaction item of a full collection", guard.Transact, 10, func() *faultyDynamo { return &faultyDynamo{cancelKey: "k3", reason: "ItemCollectionSizeLimitExceeded"} }, "TransactWriteItems", 1, isCancelled},
		{"put to a missing table", guard.Put, 1, func() *faultyDynamo { return &faultyDynamo{refuse: "ResourceNotFoundException"} }, "PutItem", 1, isNotFound},
		{"batch to a missing table", guard.Batch, 10, func() *faultyDynamo { return &faultyDynamo{refuse: "ResourceNotFoundException"} }, "BatchWriteItem", 1, isNotFound},
		{"transaction to a missing table", guard.Transact, 10, func() *faultyDynamo { return &faultyDynamo{refuse: "ResourceNotFoundException"} }, "TransactWriteItems", 1, isNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fault()
			f.calls, f.stored = map[string]int{}, map[string]bool{}
			var waited time.Duration
			p := retry.Policy{
				Rand:  func(n int64) int64 { return n - 1 }, // the longest wait each time
				Sleep: func(_ context.Context, d time.Duration) error { waited += d; return nil },
			}
			w := guard.NewWriter(faultyClient(t, f), "orders", tc.mode, guard.Options{Concurrency: 1, Retry: p})
			_, err := w.Write(context.Background(), items(tc.n))
			if err == nil || !tc.check(err) {
				t.Fatalf("err = %v, want the endpoint's error", err)
			}
			if got := f.calls[tc.op]; got != tc.calls {
				t.Errorf("%s called %d times, want %d (%v)", tc.op, got, tc.calls, f.calls)
			}
			exhausted := tc.calls > 1
			if errors.Is(err, retry.ErrExhausted) != exhausted {
				t.Errorf("err = %v; wrapping retry.ErrExhausted: %v, want %v", err, !exhausted, exhausted)
			}
			wantWait := time.Duration(0)
			if exhausted {
				wantWait = prod.WorstWait()
			}
			if waited != wantWait {
				t.Errorf("waited %v before giving up, want %v", waited, wantWait)
			}
		})
	}
}

func isThrottled(err error) bool {
	var pte *types.ProvisionedThroughputExceededException
	return errors.As(err, &pte)
}

func isCancelled(err error) bool {
	var tce *types.TransactionCanceledException
	return errors.As(err, &tce)
}

func isNotFound(err error) bool {
	var rnf *types.ResourceNotFoundException
	return errors.As(err, &rnf)
}

// TestStreamFaults: a Stream (on its own and on a Pool) retries faults as
// Write does, and a call that gives up ends the stream: Close returns the
// error, Add refuses more items, and the pool's other streams go on.
func TestStreamFaults(t *testing.T) {
	noSleep := func(context.Context, time.Duration) error { return nil }
	items := func(prefix string, n int) []guard.Item {
		var out []guard.Item
		for i := range n {
			out = append(out, itemOf(prefix+strconv.Itoa(i), version{pos: 5, value: i}))
		}
		return out
	}
	for _, pooled := range []bool{false, true} {
		t.Run("pooled="+strconv.FormatBool(pooled), func(t *testing.T) {
			f := &faultyDynamo{throttle: 2, unprocOnce: true, calls: map[string]int{}, stored: map[string]bool{}}
			w := guard.NewWriter(faultyClient(t, f), "orders", guard.Batch, guard.Options{Concurrency: 2, Retry: retry.Policy{Sleep: noSleep}})
			s := w.Stream(context.Background())
			if pooled {
				p := w.NewPool(2)
				defer p.Close()
				s = p.Stream(context.Background())
			}
			for _, it := range items("k", 60) {
				if err := s.Add(it); err != nil {
					t.Fatal(err)
				}
			}
			res, err := s.Close()
			if err != nil || res.Written != 60 || len(f.stored) != 60 {
				t.Fatalf("written %d (stored %d), %v; want 60", res.Written, len(f.stored), err)
			}
		})
	}
	t.Run("gives up", func(t *testing.T) {
		f := &faultyDynamo{throttle: 1000, calls: map[string]int{}, stored: map[string]bool{}}
		w := guard.NewWriter(faultyClient(t, f), "orders", guard.Put, guard.Options{Retry: retry.Policy{Sleep: noSleep, MaxAttempts: 2}})
		p := w.NewPool(2)
		defer p.Close()
		s := p.Stream(context.Background())
		var addErr error
		for _, it := range items("k", 50) {
			if addErr = s.Add(it); addErr != nil {
				break
			}
		}
		_, err := s.Close()
		if err == nil || !strings.Contains(err.Error(), "ProvisionedThroughputExceeded") {
			t.Fatalf("Close: %v, want the throttling error", err)
		}
		if addErr == nil {
			t.Error("Add kept taking items after a call gave up")
		}
		// The pool still serves another stream.
		f.mu.Lock()
		f.throttle = 0
		f.mu.Unlock()
		s2 := p.Stream(context.Background())
		for _, it := range items("m", 3) {
			if err := s2.Add(it); err != nil {
				t.Fatal(err)
			}
		}
		if res, err := s2.Close(); err != nil || res.Written != 3 {
			t.Fatalf("second stream: %+v, %v", res, err)
		}
	})
}
