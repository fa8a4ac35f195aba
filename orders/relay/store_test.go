package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/retry"
	"github.com/anycompany/strangler/orders/outbox"
	"github.com/anycompany/strangler/orders/relay"
)

// TestDeleteGivesUp: with the production settings (retry.DynamoDB() and
// the SDK's retryer as awsconf sets it), deletes that stay unprocessed or
// throttled are sent exactly DynamoDB().MaxAttempts times, waiting at most
// its WorstWait, and end in an error wrapping retry.ErrExhausted; a
// refused call is sent once. The endpoint speaks DynamoDB's protocol.
func TestDeleteGivesUp(t *testing.T) {
	prod := retry.DynamoDB()
	for _, tc := range []struct {
		name   string
		status int
		body   func(req []byte) any
		calls  int64
		check  func(error) bool
	}{
		{"unprocessed", 200, func(req []byte) any {
			var in struct{ RequestItems map[string]any }
			_ = json.Unmarshal(req, &in)
			return map[string]any{"UnprocessedItems": in.RequestItems}
		}, int64(prod.MaxAttempts), func(err error) bool { return errors.Is(err, retry.ErrExhausted) }},
		{"throttled", 400, func([]byte) any {
			return map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"}
		}, int64(prod.MaxAttempts), func(err error) bool {
			var te interface{ ErrorCode() string }
			return errors.Is(err, retry.ErrExhausted) && errors.As(err, &te) && te.ErrorCode() == "ThrottlingException"
		}},
		{"refused", 400, func([]byte) any {
			return map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "message": "no table"}
		}, 1, func(err error) bool {
			var rnf *types.ResourceNotFoundException
			return errors.As(err, &rnf) && !errors.Is(err, retry.ErrExhausted)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				req, _ := io.ReadAll(r.Body)
				b, _ := json.Marshal(tc.body(req))
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
				w.WriteHeader(tc.status)
				_, _ = w.Write(b)
			}))
			defer srv.Close()
			ddb, err := awsconf.Local(srv.URL).DynamoDB(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var waits []time.Duration
			sleep := func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			store := relay.NewStore(ddb, "service", "control", sleep, time.Now)
			var seq outbox.Sequencer
			now := time.Now()
			rec, err := outbox.NewRecord(change("ord_1", 1, ""), seq.Next(now), 4, now)
			if err != nil {
				t.Fatal(err)
			}
			_, err = store.Delete(context.Background(), []outbox.Record{rec})
			if err == nil || !tc.check(err) {
				t.Fatalf("err = %v, want the endpoint's error after the last attempt", err)
			}
			if calls.Load() != tc.calls {
				t.Errorf("%d calls, want %d", calls.Load(), tc.calls)
			}
			if len(waits) != int(tc.calls)-1 {
				t.Errorf("%d waits, want %d", len(waits), tc.calls-1)
			}
			for i, d := range waits {
				if d <= 0 || d > prod.Ceiling(i+1) {
					t.Errorf("wait %d: %v, want in (0, %v]", i+1, d, prod.Ceiling(i+1))
				}
			}
		})
	}
}
