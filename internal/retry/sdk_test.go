package retry_test

import (
	"context"
	"errors"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/retry"
)

// dynamoAnswering is an endpoint of the DynamoDB JSON protocol that answers
// every call with status and body, counting the calls.
func dynamoAnswering(t *testing.T, status int, body string) (*dynamodb.Client, *atomic.Int64, func(retry.Policy) *dynamodb.Client) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	with := func(p retry.Policy) *dynamodb.Client {
		return dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
			Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""), Retryer: p.SDKRetryer()})
	}
	return with(retry.Policy{MaxAttempts: 1}), &calls, with
}

// TestSDKRetryer: the SDK's retryer set from a Policy makes exactly
// MaxAttempts attempts of a throttled call, waits the policy's backoff
// between them, and never retries a refusal.
func TestSDKRetryer(t *testing.T) {
	in := &dynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k"}}}
	t.Run("throttled", func(t *testing.T) {
		_, calls, with := dynamoAnswering(t, 400, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}`)
		var ceilings []time.Duration
		p := retry.Policy{MaxAttempts: 4, Base: 100 * time.Millisecond, Cap: 300 * time.Millisecond,
			Rand: func(n int64) int64 { ceilings = append(ceilings, time.Duration(n)); return 0 }}
		_, err := with(p).GetItem(context.Background(), in)
		var pte *types.ProvisionedThroughputExceededException
		var mae *sdkretry.MaxAttemptsError
		if !errors.As(err, &pte) || !errors.As(err, &mae) || !retry.Retryable(err) {
			t.Fatalf("err = %v, want the throttling error after the SDK's last attempt, retryable", err)
		}
		if calls.Load() != 4 {
			t.Errorf("%d attempts, want 4", calls.Load())
		}
		var total time.Duration
		for _, c := range ceilings {
			total += c
		}
		if len(ceilings) != 3 || total != p.WorstWait() {
			t.Errorf("waits drawn under %v (total %v), want 3 adding up to WorstWait %v", ceilings, total, p.WorstWait())
		}
	})
	t.Run("refused", func(t *testing.T) {
		_, calls, with := dynamoAnswering(t, 400, `{"__type":"com.amazon.coral.validate#ValidationException","message":"bad key"}`)
		_, err := with(retry.Policy{MaxAttempts: 5, Base: time.Millisecond, Cap: time.Millisecond}).GetItem(context.Background(), in)
		if err == nil || retry.Retryable(err) {
			t.Fatalf("err = %v, want a refusal that is not retryable", err)
		}
		if calls.Load() != 1 {
			t.Errorf("%d attempts of a refused call, want 1", calls.Load())
		}
	})
	t.Run("server error", func(t *testing.T) {
		once, calls, _ := dynamoAnswering(t, 500, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"oops"}`)
		_, err := once.GetItem(context.Background(), in)
		if !retry.Retryable(err) || calls.Load() != 1 {
			t.Errorf("err = %v after %d attempts; want a retryable error after 1 (MaxAttempts 1)", err, calls.Load())
		}
	})
}
