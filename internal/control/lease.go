package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// LeaseAPI is the part of the DynamoDB client a Lease calls.
type LeaseAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

var _ LeaseAPI = (*dynamodb.Client)(nil)

// Lease is one named lease item of the control table (pk, sk as given;
// attributes owner, until_ms, renewed_ms, the cdc's layout): at most one
// owner holds it until until_ms, renewing it before then; once it lapses
// any other owner may take it. Time comes from the injected clock; owners
// should keep clocks within a fraction of the TTL of each other. It is safe
// for concurrent use; never copy one.
type Lease struct {
	api   LeaseAPI
	table string
	pk    string
	sk    string
	owner string
	ttl   time.Duration
	now   func() time.Time
}

// LeaseState is a lease as stored. It is a plain value.
type LeaseState struct {
	Owner   string
	Until   time.Time
	Renewed time.Time
}

// NewLease returns owner's handle on the lease item (pk, sk) of table. now
// may be nil (time.Now).
func NewLease(api LeaseAPI, table, pk, sk, owner string, ttl time.Duration, now func() time.Time) *Lease {
	if now == nil {
		now = time.Now
	}
	return &Lease{api: api, table: table, pk: pk, sk: sk, owner: owner, ttl: ttl, now: now}
}

// Owner returns the name this handle holds the lease under.
func (l *Lease) Owner() string { return l.owner }

// TTL returns how long an acquisition lasts.
func (l *Lease) TTL() time.Duration { return l.ttl }

func (l *Lease) key() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PK: S(l.pk), SK: S(l.sk)}
}

// Acquire takes the lease, or renews it when this owner holds it, until
// now + TTL, and returns that time; ok is false (and no error) when another
// owner holds it.
func (l *Lease) Acquire(ctx context.Context) (until time.Time, ok bool, err error) {
	now := l.now()
	until = now.Add(l.ttl)
	item := l.key()
	item["owner"] = S(l.owner)
	item["until_ms"] = N(until.UnixMilli())
	item["renewed_ms"] = N(now.UnixMilli())
	_, err = l.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(l.table), Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #owner = :me OR until_ms < :now"),
		ExpressionAttributeNames:  map[string]string{"#pk": PK, "#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": S(l.owner), ":now": N(now.UnixMilli())},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("taking lease %s/%s: %w", l.pk, l.sk, err)
	}
	return until, true, nil
}

// Release gives the lease up, if this owner holds it, so that another need
// not wait for it to lapse.
func (l *Lease) Release(ctx context.Context) error {
	_, err := l.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(l.table), Key: l.key(),
		ConditionExpression:       aws.String("#owner = :me"),
		ExpressionAttributeNames:  map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": S(l.owner)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("releasing lease %s/%s: %w", l.pk, l.sk, err)
	}
	return nil
}

// Load reads the lease as stored; ok is false when nobody ever took it or
// it was released.
func (l *Lease) Load(ctx context.Context) (st LeaseState, ok bool, err error) {
	out, err := l.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: l.key(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return LeaseState{}, false, fmt.Errorf("reading lease %s/%s: %w", l.pk, l.sk, err)
	}
	if out.Item == nil {
		return LeaseState{}, false, nil
	}
	return LeaseState{
		Owner:   Str(out.Item, "owner"),
		Until:   time.UnixMilli(Int(out.Item, "until_ms")).UTC(),
		Renewed: time.UnixMilli(Int(out.Item, "renewed_ms")).UTC(),
	}, true, nil
}
