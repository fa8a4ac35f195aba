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
	"github.com/anycompany/strangler/orders/outbox"
)

// LeasePK is the pk of the relay's shard leases in the service table; a
// shard's lease has sk outbox#<shard>.
const LeasePK = "lease"

// LeaseAPI is the part of the DynamoDB client the leases use.
type LeaseAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

var _ LeaseAPI = (*dynamodb.Client)(nil)

// Leases are one process's handle on the per-shard leases: a shard is
// published by the relay holding its lease, and taken over by another once
// the lease expires unrenewed. A lease is one conditional PutItem (free,
// expired, or already mine). It is safe for concurrent use.
type Leases struct {
	api   LeaseAPI
	table string
	owner string
	ttl   time.Duration
	now   func() time.Time
}

// NewLeases returns owner's handle on the shard leases in table.
func NewLeases(api LeaseAPI, table, owner string, ttl time.Duration, now func() time.Time) *Leases {
	if now == nil {
		now = time.Now
	}
	return &Leases{api: api, table: table, owner: owner, ttl: ttl, now: now}
}

func leaseKey(shard int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{outbox.PK: control.S(LeasePK), outbox.SK: control.S(outbox.ShardKey(shard))}
}

// Acquire takes or renews shard's lease and returns until when it holds;
// ok is false when another owner holds an unexpired lease.
func (l *Leases) Acquire(ctx context.Context, shard int) (until time.Time, ok bool, err error) {
	now := l.now()
	until = now.Add(l.ttl)
	item := leaseKey(shard)
	item["owner"] = control.S(l.owner)
	item["until_ms"] = control.N(until.UnixMilli())
	item["renewed_ms"] = control.N(now.UnixMilli())
	_, err = l.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(l.table), Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #owner = :me OR until_ms < :now"),
		ExpressionAttributeNames:  map[string]string{"#pk": outbox.PK, "#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": control.S(l.owner), ":now": control.N(now.UnixMilli())},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("taking the lease of outbox shard %d in %s: %w", shard, l.table, err)
	}
	return until, true, nil
}

// Release gives shard's lease up, if it is still this owner's, so another
// relay need not wait for it to expire.
func (l *Leases) Release(ctx context.Context, shard int) error {
	_, err := l.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(l.table), Key: leaseKey(shard),
		ConditionExpression:       aws.String("#owner = :me"),
		ExpressionAttributeNames:  map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": control.S(l.owner)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("releasing the lease of outbox shard %d: %w", shard, err)
	}
	return nil
}

// Holder returns the owner of shard's lease and until when it holds ("" when
// there is none).
func (l *Leases) Holder(ctx context.Context, shard int) (string, time.Time, error) {
	out, err := l.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: leaseKey(shard), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("reading the lease of outbox shard %d: %w", shard, err)
	}
	if out.Item == nil {
		return "", time.Time{}, nil
	}
	return control.Str(out.Item, "owner"), time.UnixMilli(control.Int(out.Item, "until_ms")).UTC(), nil
}
