package cdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/position"
)

// ControlAPI is the part of the DynamoDB client the control items need.
type ControlAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ ControlAPI = (*dynamodb.Client)(nil)

// ErrLeaseLost is a lease another process holds now: this one must stop
// writing at once.
var ErrLeaseLost = errors.New("this process no longer surely holds the cdc lease")

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	var tce *types.TransactionCanceledException
	return errors.As(err, &ccf) || errors.As(err, &tce)
}

// Lease is the cdc's lease item (pk cdc#<name>, sk lease): the holder alone
// reads the binlog and writes checkpoints; a standby takes it over once it
// expires. It is safe for concurrent use.
type Lease struct {
	base  *control.Lease
	api   ControlAPI
	table string
	pk    string
	owner string
	ttl   time.Duration
	now   func() time.Time

	mu sync.Mutex
	// heldUntil is when the lease last taken or renewed by this owner
	// expires, counted from before the call that took it (zero: not held).
	heldUntil time.Time
}

// NewLease returns owner's handle on the lease of the cdc name.
func NewLease(api ControlAPI, table, name, owner string, ttl time.Duration, now func() time.Time) *Lease {
	if now == nil {
		now = time.Now
	}
	pk := "cdc#" + name
	return &Lease{base: control.NewLease(api, table, pk, "lease", owner, ttl, now), api: api, table: table, pk: pk, owner: owner, ttl: ttl, now: now}
}

func (l *Lease) key(sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{control.PK: control.S(l.pk), control.SK: control.S(sk)}
}

// Acquire takes or renews the lease; false means another owner holds it.
func (l *Lease) Acquire(ctx context.Context) (bool, error) {
	until, ok, err := l.base.Acquire(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case ok:
		l.heldUntil = until
	case err == nil:
		l.heldUntil = time.Time{} // another owner has it
	}
	return ok, err
}

// Renew extends a held lease; ErrLeaseLost when another owner has it.
func (l *Lease) Renew(ctx context.Context) error {
	ok, err := l.Acquire(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ErrLeaseLost
	}
	return nil
}

// Held reports whether this owner surely still holds the lease: it took or
// renewed it, and less than 4/5 of the TTL passed since (the rest is a
// margin for clock drift between machines and for a write already on its
// way). A standby takes over only once the TTL passed.
func (l *Lease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now().Before(l.heldUntil.Add(-l.ttl / 5))
}

// Wait returns nil once this owner surely holds the lease (Held). A renewal
// that is late, because DynamoDB is slow, is waited for, up to one TTL, so a
// write is held back rather than failed and retried. It returns ErrLeaseLost
// (wrapped) when another owner took the lease, or when it was not renewed
// within the TTL.
func (l *Lease) Wait(ctx context.Context) error {
	if l.Held() {
		return nil
	}
	deadline := l.now().Add(l.ttl)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if l.Held() {
			return nil
		}
		l.mu.Lock()
		taken := l.heldUntil.IsZero()
		l.mu.Unlock()
		switch {
		case taken:
			return fmt.Errorf("%w: another process holds it", ErrLeaseLost)
		case l.now().After(deadline):
			return fmt.Errorf("%w: it was not renewed within %s (is DynamoDB slow or unreachable?)", ErrLeaseLost, l.ttl)
		}
	}
}

// Fence returns nil when this owner may write: the lease is Held, or
// renewing it now succeeds. Otherwise it returns ErrLeaseLost (wrapping the
// renewal's error, if any): a process that stalled past its lease, or whose
// lease another took, writes nothing more.
func (l *Lease) Fence(ctx context.Context) error {
	if l.Held() {
		return nil
	}
	ok, err := l.Acquire(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("%w: it could not be renewed in time: %w", ErrLeaseLost, err)
	case !ok:
		return fmt.Errorf("%w: another process holds it", ErrLeaseLost)
	}
	return nil
}

// keep is the lease keeper: it renews the lease every TTL/3 while this
// process leads, until ctx ends, and ends the term (end, with ErrLeaseLost
// wrapped) once another owner took it or renewing failed until it ran out.
func (l *Lease) keep(ctx context.Context, end context.CancelCauseFunc, sleep func(context.Context, time.Duration) error, failed prometheus.Counter, log *slog.Logger) {
	last := l.now()
	for {
		// Every TTL/3 from the start of the last renewal, so a slow
		// DynamoDB call does not also push the next one back.
		if err := sleep(ctx, max(l.ttl/3-l.now().Sub(last), 0)); err != nil {
			return
		}
		last = l.now()
		err := l.Renew(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			continue
		}
		failed.Inc()
		switch {
		case errors.Is(err, ErrLeaseLost):
			end(err)
			return
		case !l.Held():
			end(fmt.Errorf("%w: renewing it failed until it ran out: %w", ErrLeaseLost, err))
			return
		}
		log.Warn("renewing the lease failed; trying again", "err", err)
	}
}

// Release gives the lease up so a standby need not wait for it to expire.
func (l *Lease) Release(ctx context.Context) error {
	err := l.base.Release(ctx)
	l.mu.Lock()
	l.heldUntil = time.Time{}
	l.mu.Unlock()
	return err
}

// LeaseState is the lease as stored.
type LeaseState = control.LeaseState

// Checkpoint is the last transaction whose changes both sinks acknowledged.
type Checkpoint struct {
	Pos position.Position
	// CommitTime is the transaction's commit time.
	CommitTime time.Time
	SavedAt    time.Time
	Owner      string
}

// CheckpointStore stores the checkpoint item (pk cdc#<name>, sk checkpoint),
// fenced by the lease: a save succeeds only while the lease is this
// owner's, so a process that lost its lease cannot move the checkpoint.
// It also records the cdc's dead letters (internal/deadletter, source cdc).
// It is safe for concurrent use.
type CheckpointStore struct {
	lease *Lease
	dead  *deadletter.Sink
}

// NewCheckpointStore returns the checkpoint store fenced by lease.
func NewCheckpointStore(lease *Lease) *CheckpointStore {
	return &CheckpointStore{lease: lease, dead: deadletter.NewSink(lease.api, lease.table, deadletter.CDC, lease.now)}
}

// Load reads the checkpoint; ok is false when there is none.
func (c *CheckpointStore) Load(ctx context.Context) (Checkpoint, bool, error) {
	return loadCheckpoint(ctx, c.lease.api, c.lease.table, c.lease.pk)
}

func loadCheckpoint(ctx context.Context, api ControlAPI, table, pk string) (Checkpoint, bool, error) {
	out, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{control.PK: control.S(pk), control.SK: control.S("checkpoint")}})
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("reading the cdc checkpoint: %w", err)
	}
	if out.Item == nil {
		return Checkpoint{}, false, nil
	}
	p, err := position.ParseResume(position.Kind(control.Int(out.Item, "kind")), control.Str(out.Item, "resume"))
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("reading the cdc checkpoint %q: %w", control.Str(out.Item, "resume"), err)
	}
	return Checkpoint{
		Pos: p, CommitTime: time.Unix(control.Int(out.Item, "commit_s"), 0).UTC(),
		SavedAt: time.UnixMilli(control.Int(out.Item, "saved_ms")).UTC(), Owner: control.Str(out.Item, "owner"),
	}, true, nil
}

func loadLease(ctx context.Context, api ControlAPI, table, pk string) (LeaseState, bool, error) {
	return control.NewLease(api, table, pk, "lease", "", 0, nil).Load(ctx)
}

// Save stores cp; ErrLeaseLost when the lease is no longer this owner's.
func (c *CheckpointStore) Save(ctx context.Context, cp Checkpoint) error {
	l := c.lease
	item := l.key("checkpoint")
	item["kind"] = control.N(int64(cp.Pos.Kind))
	item["resume"] = control.S(cp.Pos.Resume())
	item["position"] = control.S(cp.Pos.String())
	item["number"] = &types.AttributeValueMemberN{Value: cp.Pos.Number()}
	item["commit_s"] = control.N(cp.CommitTime.Unix())
	item["saved_ms"] = control.N(l.now().UnixMilli())
	item["owner"] = control.S(l.owner)
	_, err := l.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{
			TableName: aws.String(l.table), Key: l.key("lease"),
			ConditionExpression:       aws.String("#owner = :me"),
			ExpressionAttributeNames:  map[string]string{"#owner": "owner"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":me": control.S(l.owner)},
		}},
		{Put: &types.Put{TableName: aws.String(l.table), Item: item}},
	}})
	if isConditionFailed(err) {
		return ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("saving the cdc checkpoint %s: %w", cp.Pos, err)
	}
	return nil
}

// AddItem records a change whose item could not be written, with its row
// image (DeadLetterStore).
func (c *CheckpointStore) AddItem(ctx context.Context, r deadletter.Record) error {
	return c.dead.Add(ctx, r)
}

// Add records an event that can never be published, whole
// (events.DeadLetterSink).
func (c *CheckpointStore) Add(ctx context.Context, dl events.DeadLetter) error {
	e := dl.Entry
	return c.dead.Add(ctx, deadletter.Record{ID: e.EventID, Kind: deadletter.Event, Key: e.Key, Reason: dl.Reason,
		Payload: deadletter.Payload{Event: deadletter.NewEvent(dl.Source, dl.Bus, e.DetailType, e.EventID, e.Key, e.Detail)}})
}

var (
	_ events.DeadLetterSink = (*CheckpointStore)(nil)
	_ DeadLetterStore       = (*CheckpointStore)(nil)
)
