package cdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/guard"
)

// ItemWriter is the guarded DynamoDB writer the Applier uses
// (*guard.Writer).
type ItemWriter interface {
	Write(ctx context.Context, items []guard.Item) (guard.Result, error)
}

// EventPublisher is the EventBridge publisher the Applier uses
// (*events.Publisher).
type EventPublisher interface {
	Publish(ctx context.Context, entries []events.Entry) (events.Result, error)
}

// DeadLetterStore records a change or item that cannot be written, with
// the reason (invariant 6: never dropped silently).
type DeadLetterStore interface {
	AddChange(ctx context.Context, key, pos, reason string) error
}

var (
	_ ItemWriter     = (*guard.Writer)(nil)
	_ EventPublisher = (*events.Publisher)(nil)
)

// ApplyResult counts what one Apply did.
type ApplyResult struct {
	Txns, Changes int
	// Inserts, Updates, Deletes count Changes by kind.
	Inserts, Updates, Deletes int
	// Written, Skipped: items written, and lost to newer state (guard).
	Written, Skipped int
	// Coalesced changes were not written because a newer image of their key
	// in the same batch was.
	Coalesced int
	Events    events.Result
	// Dead counts changes or items dead-lettered.
	Dead      int
	WriteCall int
}

// Applier applies a batch of transactions to both sinks: one guarded write
// per key (its newest image; the position guard makes older images moot and
// lets keys be written in any order) and one event per change, every key's
// events in order. It returns only when both sinks acknowledged everything
// or failed. It is safe for concurrent use; events keep their order across
// batches only if a batch's events are sent after the previous batch's were
// all accepted (items may be written in any order).
type Applier struct {
	writer    ItemWriter
	publisher EventPublisher
	dead      DeadLetterStore
	rules     []Rule
	ttl       time.Duration
	now       func() time.Time
	log       *slog.Logger
}

// NewApplier returns an applier.
func NewApplier(w ItemWriter, p EventPublisher, dead DeadLetterStore, rules []Rule, tombstoneTTL time.Duration, now func() time.Time, log *slog.Logger) *Applier {
	if now == nil {
		now = time.Now
	}
	return &Applier{writer: w, publisher: p, dead: dead, rules: rules, ttl: tombstoneTTL, now: now, log: log}
}

// Apply writes and publishes txns: Prepare, then Send.
func (a *Applier) Apply(ctx context.Context, txns []Txn) (ApplyResult, error) {
	b, err := a.Prepare(ctx, txns)
	if err != nil {
		return b.res, err
	}
	return a.Send(ctx, b)
}

// Batch is a prepared batch: its items and events, ready to send. It may
// be sent again after a failed Send; SendItems and SendEvents release what
// they sent once it was acknowledged, so a batch in flight holds only what
// may still be sent.
type Batch struct {
	Txns    []Txn
	items   []guard.Item
	entries []events.Entry
	res     ApplyResult
}

// Prepare encodes txns: one item per key (its newest image; the position
// guard makes older images moot) and one event per change. A change whose
// image DynamoDB cannot hold is dead-lettered; an older image of its key in
// the batch is then written instead. Images superseded by a newer one of
// their key are neither encoded nor checked. Prepare writes nothing but
// dead letters, so batches may be prepared ahead of the one being sent.
func (a *Applier) Prepare(ctx context.Context, txns []Txn) (*Batch, error) {
	b := &Batch{Txns: txns}
	b.res.Txns = len(txns)
	for _, t := range txns {
		b.res.Changes += len(t.Changes)
		for _, c := range t.Changes {
			switch c.Kind {
			case Insert:
				b.res.Inserts++
			case Update:
				b.res.Updates++
			case Delete:
				b.res.Deletes++
			}
		}
	}
	// Events are built beside the items: encoding both is most of the
	// Applier's CPU, and they share nothing.
	var (
		evErr error
		built = make(chan struct{})
	)
	go func() {
		defer close(built)
		b.entries, evErr = a.events(txns, b.res.Changes)
	}()
	done := make(map[string]bool, b.res.Changes)
	for ti := len(txns) - 1; ti >= 0; ti-- {
		t := txns[ti]
		for ci := len(t.Changes) - 1; ci >= 0; ci-- {
			c := t.Changes[ci]
			if done[c.Key] {
				b.res.Coalesced++
				continue
			}
			pos := c.Pos.Number()
			it, err := a.item(c, pos)
			if err != nil {
				var ve *codec.ValueError
				if !errors.As(err, &ve) {
					<-built
					return b, err
				}
				if err := a.dead.AddChange(ctx, c.Key, pos, err.Error()); err != nil {
					<-built
					return b, err
				}
				b.res.Dead++
				continue
			}
			done[c.Key] = true
			b.items = append(b.items, it)
		}
	}
	slices.Reverse(b.items) // the order of first appearance, for readers of logs and tests
	<-built
	if evErr != nil {
		return b, evErr
	}
	return b, nil
}

// Send writes b's items and publishes its events, both sinks at once, and
// returns when both acknowledged everything or one failed.
func (a *Applier) Send(ctx context.Context, b *Batch) (ApplyResult, error) {
	var items, evs ApplyResult
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { items, err = a.SendItems(gctx, b); return err })
	g.Go(func() (err error) { evs.Events, err = a.SendEvents(gctx, b); return err })
	err := g.Wait()
	return b.Merge(items, evs.Events), err
}

// Merge is b's result with the counts of its items' write and its events'
// publication (SendItems and SendEvents).
func (b *Batch) Merge(items ApplyResult, evs events.Result) ApplyResult {
	res := b.res
	res.Written, res.Skipped, res.WriteCall = items.Written, items.Skipped, items.WriteCall
	res.Dead += items.Dead
	res.Events = evs
	return res
}

// SendItems writes b's items to DynamoDB and dead-letters those DynamoDB
// cannot hold. The result counts only the write (Written, Skipped,
// WriteCall, Dead). Items of different batches may be written at once, in
// any order: the position guard keeps the newest image.
func (a *Applier) SendItems(ctx context.Context, b *Batch) (ApplyResult, error) {
	var res ApplyResult
	if len(b.items) == 0 {
		return res, nil
	}
	r, err := a.writer.Write(ctx, b.items)
	res.Written, res.Skipped, res.WriteCall = r.Written, r.Skipped, r.Calls
	for _, d := range r.Dead {
		if err := a.dead.AddChange(ctx, d.Key, "", d.Reason); err != nil {
			return res, err
		}
		res.Dead++
	}
	if err != nil {
		return res, fmt.Errorf("writing %d items to DynamoDB: %w", len(b.items), err)
	}
	b.items = nil
	return res, nil
}

// SendEvents publishes b's events. A key's events stay in order only if
// the events of the batch before were all accepted first.
func (a *Applier) SendEvents(ctx context.Context, b *Batch) (events.Result, error) {
	if len(b.entries) == 0 {
		return events.Result{}, nil
	}
	r, err := a.publisher.Publish(ctx, b.entries)
	if err != nil {
		return r, fmt.Errorf("publishing %d events: %w", len(b.entries), err)
	}
	b.entries = nil
	return r, nil
}

// DropChanges drops the row images of b's transactions (Txns keep their
// positions, times and dropped columns): once b is prepared, sending it
// needs only its items and events, and a batch in flight need not hold
// its rows.
func (b *Batch) DropChanges() {
	for i := range b.Txns {
		b.Txns[i].Changes = nil
	}
}

// item is the change's item: its row's attributes (codec.Mapping.Item),
// stamped with pos, or its tombstone.
func (a *Applier) item(c Change, pos string) (guard.Item, error) {
	if c.Kind == Delete {
		return guard.Tombstone(c.Key, pos, a.now().Add(a.ttl)), nil
	}
	it, err := c.Mapping.Item(c.After)
	if err != nil {
		return guard.Item{}, err
	}
	return guard.NewItem(c.Key, it, pos), nil
}

// events builds the events of txns, in order.
func (a *Applier) events(txns []Txn, n int) ([]events.Entry, error) {
	entries := make([]events.Entry, 0, n)
	for _, t := range txns {
		occurred := events.FormatTime(t.Time)
		for _, c := range t.Changes {
			e, ok, err := a.event(c, occurred)
			if err != nil {
				return nil, err
			}
			if ok {
				entries = append(entries, e)
			}
		}
	}
	return entries, nil
}

// event is the change's event; ok is false when no rule matches. Its
// Detail is encoding/json's of events.Detail, the order being the row's
// image (codec.Mapping.Image).
func (a *Applier) event(c Change, occurredAt string) (events.Entry, bool, error) {
	m, img := c.Mapping, c.After
	if c.Kind == Delete {
		img = c.Before
	}
	d := events.Detail{OccurredAt: occurredAt, SourcePosition: c.Pos.Number(), Order: m.Image(img)}
	if c.Kind == Update {
		for i, col := range m.Columns {
			if m.IsRef(i) || c.changed != nil && !c.changed[i] || c.changed == nil && sameValue(c.Before[i], c.After[i]) {
				continue
			}
			if d.Previous == nil {
				d.Previous = map[string]any{}
			}
			d.Changed = append(d.Changed, col.Name)
			d.Previous[col.Name] = codec.EventValue(c.Before[i])
		}
	}
	dt := detailType(a.rules, c.Kind, d.Changed, func(col string) any { return d.Order[col] })
	if dt == "" {
		return events.Entry{}, false, nil
	}
	d.EventID = events.ID(d.SourcePosition, m.Table, c.Key)
	e, err := events.NewEntry(c.Key, dt, d)
	return e, err == nil, err
}
