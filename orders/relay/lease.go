package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/orders/outbox"
)

// LeasePK is the pk of the relay's shard leases in the service table; a
// shard's lease has sk outbox#<shard>.
const LeasePK = "lease"

// LeaseAPI is the part of the DynamoDB client the leases use.
type LeaseAPI = control.LeaseAPI

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

// lease is shard's lease item, sk outbox#<shard> under LeasePK.
func (l *Leases) lease(shard int) *control.Lease {
	return control.NewLease(l.api, l.table, LeasePK, outbox.ShardKey(shard), l.owner, l.ttl, l.now)
}

// Acquire takes or renews shard's lease and returns until when it holds;
// ok is false when another owner holds an unexpired lease.
func (l *Leases) Acquire(ctx context.Context, shard int) (until time.Time, ok bool, err error) {
	until, ok, err = l.lease(shard).Acquire(ctx)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("outbox shard %d: %w", shard, err)
	}
	return until, ok, nil
}

// Release gives shard's lease up, if it is still this owner's, so another
// relay need not wait for it to expire.
func (l *Leases) Release(ctx context.Context, shard int) error {
	if err := l.lease(shard).Release(ctx); err != nil {
		return fmt.Errorf("outbox shard %d: %w", shard, err)
	}
	return nil
}

// Holder returns the owner of shard's lease and until when it holds ("" when
// there is none).
func (l *Leases) Holder(ctx context.Context, shard int) (string, time.Time, error) {
	st, _, err := l.lease(shard).Load(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("outbox shard %d: %w", shard, err)
	}
	return st.Owner, st.Until, nil
}
