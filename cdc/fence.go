package cdc

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/smithy-go/middleware"

	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/guard"
)

// The data path's clients are fenced by the lease on every attempt, the
// SDK's own retries included: a leader that stalled past its lease (a
// paused process, a long GC, a partition) and wakes up with writes in
// flight has them refused before they leave the process, instead of
// retried into a table and a bus that its successor now feeds. Checkpoints
// need no such fence: DynamoDB itself checks the lease's owner in the same
// transaction (CheckpointStore.Save).

// fenceMiddleware lets an attempt go only once wait reports the lease held
// (a late renewal is waited for), and fails it with wait's ErrLeaseLost
// otherwise. It runs after the retry middleware, so once per attempt.
func fenceMiddleware(wait func(context.Context) error) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("StranglerCdcLeaseFence",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if err := wait(ctx); err != nil {
					return middleware.FinalizeOutput{}, middleware.Metadata{}, err
				}
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	}
}

// fencedDynamoDB is the guarded writer's DynamoDB client, fenced.
type fencedDynamoDB struct {
	c   *dynamodb.Client
	opt func(*dynamodb.Options)
}

func newFencedDynamoDB(c *dynamodb.Client, wait func(context.Context) error) fencedDynamoDB {
	mw := fenceMiddleware(wait)
	return fencedDynamoDB{c: c, opt: func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, mw) }}
}

func (f fencedDynamoDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return f.c.PutItem(ctx, in, append(opts, f.opt)...)
}

func (f fencedDynamoDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return f.c.TransactWriteItems(ctx, in, append(opts, f.opt)...)
}

func (f fencedDynamoDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return f.c.BatchWriteItem(ctx, in, append(opts, f.opt)...)
}

func (f fencedDynamoDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return f.c.UpdateItem(ctx, in, append(opts, f.opt)...)
}

// Scan reads; it is fenced too, as it serves only writes (the sweep).
func (f fencedDynamoDB) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return f.c.Scan(ctx, in, append(opts, f.opt)...)
}

// fencedEventBridge is the publisher's EventBridge client, fenced.
type fencedEventBridge struct {
	c   *eventbridge.Client
	opt func(*eventbridge.Options)
}

func newFencedEventBridge(c *eventbridge.Client, wait func(context.Context) error) fencedEventBridge {
	mw := fenceMiddleware(wait)
	return fencedEventBridge{c: c, opt: func(o *eventbridge.Options) { o.APIOptions = append(o.APIOptions, mw) }}
}

func (f fencedEventBridge) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return f.c.PutEvents(ctx, in, append(opts, f.opt)...)
}

var (
	_ guard.API  = fencedDynamoDB{}
	_ events.API = fencedEventBridge{}
)
