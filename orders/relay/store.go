package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/retry"
	"github.com/anycompany/strangler/orders/outbox"
)

// StoreAPI is the part of the DynamoDB client the Store uses.
type StoreAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

var _ StoreAPI = (*dynamodb.Client)(nil)

// Malformed is an outbox item that does not decode as a record: it can
// never be published, so it is dead-lettered as it is.
type Malformed struct {
	SK   string
	Item map[string]types.AttributeValue
	Err  error
}

// Page is one read of a shard, in sk (seq) order.
type Page struct {
	Records   []outbox.Record
	Malformed []Malformed
	// Full is true when the read hit its limit: more records may follow.
	Full bool
}

// Len is the items the page read.
func (p Page) Len() int { return len(p.Records) + len(p.Malformed) }

// Store reads and removes outbox records of the service table, and moves
// those that can never be published to the dead letters of the control
// table. It is safe for concurrent use.
type Store struct {
	api     StoreAPI
	table   string
	dead    *deadletter.Sink
	deletes retry.Policy
	now     func() time.Time
}

// NewStore returns the outbox of table, with its dead letters in
// controlTable; deletes are retried under retry.DynamoDB() waiting with
// sleep (nil: a timer).
func NewStore(api StoreAPI, table, controlTable string, sleep func(context.Context, time.Duration) error, now func() time.Time) *Store {
	deletes := retry.DynamoDB()
	deletes.Sleep = sleep
	return &Store{api: api, table: table, dead: deadletter.NewSink(api, controlTable, deadletter.Relay, now), deletes: deletes, now: now}
}

// Read returns the oldest limit items of shard: a strongly consistent
// query of the base table in ascending sk, so a record the order service
// committed is seen by the next read.
func (s *Store) Read(ctx context.Context, shard, limit int) (Page, error) {
	out, err := s.api.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": outbox.PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": control.S(outbox.ShardKey(shard))},
		ConsistentRead:            aws.Bool(true),
		ScanIndexForward:          aws.Bool(true),
		Limit:                     aws.Int32(int32(limit)),
	})
	if err != nil {
		return Page{}, fmt.Errorf("reading outbox shard %d of %s: %w", shard, s.table, err)
	}
	p := Page{Full: len(out.Items) >= limit || out.LastEvaluatedKey != nil}
	for _, it := range out.Items {
		r, err := outbox.FromItem(it)
		if err != nil {
			p.Malformed = append(p.Malformed, Malformed{SK: control.Str(it, outbox.SK), Item: it, Err: err})
			continue
		}
		p.Records = append(p.Records, r)
	}
	return p, nil
}

// Delete removes published records in BatchWriteItem calls of 25, retrying
// unprocessed deletes and failed calls under retry.DynamoDB() (the SDK tries
// each call once). A record deleted twice is no error.
func (s *Store) Delete(ctx context.Context, recs []outbox.Record) (calls int, err error) {
	for start := 0; start < len(recs); start += 25 {
		chunk := recs[start:min(start+25, len(recs))]
		reqs := make([]types.WriteRequest, len(chunk))
		for i, r := range chunk {
			reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{
				outbox.PK: control.S(outbox.ShardKey(r.Shard)), outbox.SK: control.S(r.SK()),
			}}}
		}
		for attempt := 1; len(reqs) > 0; attempt++ {
			calls++
			out, err := s.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.table: reqs}}, retry.NoSDKRetry)
			switch {
			case err == nil:
				if reqs = out.UnprocessedItems[s.table]; len(reqs) == 0 {
					continue
				}
				err = errors.New("unprocessed (the table is throttled)")
			case !retry.Retryable(err):
				return calls, fmt.Errorf("deleting %d published outbox records: %w", len(reqs), err)
			}
			if s.deletes.Last(attempt) {
				return calls, fmt.Errorf("deleting published outbox records: %d still there, %w after %d attempts: %w", len(reqs), retry.ErrExhausted, attempt, err)
			}
			if err := s.deletes.Wait(ctx, attempt); err != nil {
				return calls, err
			}
		}
	}
	return calls, nil
}

// DeadLetter moves the outbox item at shard/sk to the dead letters (r, its
// id, reason and payload filled by the caller), the record's delete in the
// same transaction: it is never dropped, and never published again.
func (s *Store) DeadLetter(ctx context.Context, shard int, sk string, r deadletter.Record) error {
	del := types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table), Key: map[string]types.AttributeValue{
		outbox.PK: control.S(outbox.ShardKey(shard)), outbox.SK: control.S(sk),
	}}}
	if err := s.dead.Move(ctx, r, &del); err != nil {
		return fmt.Errorf("moving outbox record %s of shard %d to the dead letters: %w", sk, shard, err)
	}
	return nil
}
