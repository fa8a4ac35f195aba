package guard_test

import (
	"context"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/anycompany/strangler/internal/guard"
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
				code, cancelled = "ConditionalCheckFailed", true
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

func faultyClient(t *testing.T, f *faultyDynamo) *dynamodb.Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""),
	})
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
			w := guard.NewWriter(faultyClient(t, f), "orders", tc.mode, guard.Options{Concurrency: 1, Sleep: noSleep})
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
	t.Run("gives up after max attempts", func(t *testing.T) {
		f := &faultyDynamo{throttle: 1000, calls: map[string]int{}, stored: map[string]bool{}}
		w := guard.NewWriter(faultyClient(t, f), "orders", guard.Put, guard.Options{Sleep: noSleep, MaxAttempts: 3})
		_, err := w.Write(context.Background(), items(1))
		if err == nil || !strings.Contains(err.Error(), "ProvisionedThroughputExceeded") {
			t.Fatalf("err = %v, want the throttling error after 3 attempts", err)
		}
		if f.calls["PutItem"] != 3 {
			t.Errorf("%d attempts, want 3", f.calls["PutItem"])
		}
	})
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
			w := guard.NewWriter(faultyClient(t, f), "orders", guard.Batch, guard.Options{Concurrency: 2, Sleep: noSleep})
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
		w := guard.NewWriter(faultyClient(t, f), "orders", guard.Put, guard.Options{Sleep: noSleep, MaxAttempts: 2})
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
