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
	"github.com/anycompany/strangler/internal/deadletter"
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

// DeadLetterStore records a change whose item cannot be written, with its
// row image and the reason (invariant 6: never dropped silently).
type DeadLetterStore interface {
	AddItem(ctx context.Context, r deadletter.Record) error
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
	// source and bus are the events' (kept in a withheld event's dead
	// letter, to publish it again).
	source, bus string
	rules       []Rule
	ttl         time.Duration
	now         func() time.Time
	log         *slog.Logger
}

// NewApplier returns an applier.
func NewApplier(w ItemWriter, p EventPublisher, dead DeadLetterStore, rules []Rule, tombstoneTTL time.Duration, now func() time.Time, log *slog.Logger) *Applier {
	if now == nil {
		now = time.Now
	}
	return &Applier{writer: w, publisher: p, dead: dead, source: events.DefaultSource, rules: rules, ttl: tombstoneTTL, now: now, log: log}
}

// WithEvents names the Source and bus the events are published with, kept
// in the dead letter of a withheld event (to publish it again); without it
// they are events.DefaultSource and the default bus. It returns a.
func (a *Applier) WithEvents(source, bus string) *Applier {
	a.source, a.bus = source, bus
	return a
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
	Txns  []Txn
	items []guard.Item
	// maps holds each item's mapping, to dead-letter its row image should
	// DynamoDB refuse it.
	maps    []*codec.Mapping
	entries []events.Entry
	res     ApplyResult
}

// Prepare encodes txns: one item per key (its newest image; the position
// guard makes older images moot) and one event per change. A key whose
// newest image DynamoDB cannot hold (the codec refuses a value, or the item
// is over 400 KB) goes to the dead letters whole: every change of it in the
// batch, with its row image; none of it is written (an older image would
// stand for a newer state), and the failed change's event is withheld in
// its dead letter, so no event announces what the table does not hold.
// Images superseded by a newer one of their key are neither encoded nor
// checked. Prepare writes nothing but dead letters, so batches may be
// prepared ahead of the one being sent.
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
	dead, err := a.prepareItems(b, txns)
	<-built
	if err != nil {
		return b, err
	}
	if evErr != nil {
		return b, evErr
	}
	return b, a.deadLetter(ctx, b, dead)
}

// deadChange is a change of a key that goes to the dead letters whole;
// failed marks the change that failed (its event is withheld).
type deadChange struct {
	c      Change
	reason string
	failed bool
}

// prepareItems fills b's items, newest image per key first found from the
// end, and returns the changes of keys whose newest image failed.
func (a *Applier) prepareItems(b *Batch, txns []Txn) ([]deadChange, error) {
	done := make(map[string]bool, b.res.Changes)
	var (
		dead     []deadChange
		deadKeys map[string]string
	)
	for ti := len(txns) - 1; ti >= 0; ti-- {
		t := txns[ti]
		for ci := len(t.Changes) - 1; ci >= 0; ci-- {
			c := t.Changes[ci]
			if reason, ok := deadKeys[c.Key]; ok {
				dead = append(dead, deadChange{c: c, reason: "an older change of a key whose newest change in the batch failed: " + reason})
				continue
			}
			if done[c.Key] {
				b.res.Coalesced++
				continue
			}
			it, err := a.item(c, c.Pos.Number())
			if err != nil {
				var (
					ve *codec.ValueError
					tl tooLargeError
				)
				if !errors.As(err, &ve) && !errors.As(err, &tl) {
					return nil, err
				}
				if deadKeys == nil {
					deadKeys = map[string]string{}
				}
				deadKeys[c.Key] = err.Error()
				dead = append(dead, deadChange{c: c, reason: err.Error(), failed: true})
				continue
			}
			done[c.Key] = true
			b.items = append(b.items, it)
			b.maps = append(b.maps, c.Mapping)
		}
	}
	// The order of first appearance, for readers of logs and tests.
	slices.Reverse(b.items)
	slices.Reverse(b.maps)
	slices.Reverse(dead)
	return dead, nil
}

// deadLetter records dead's changes, each with its row image, and moves
// the failed changes' events from b into their dead letters.
func (a *Applier) deadLetter(ctx context.Context, b *Batch, dead []deadChange) error {
	if len(dead) == 0 {
		return nil
	}
	withheld := map[string]*deadletter.EventPayload{}
	for _, d := range dead {
		if d.failed {
			withheld[events.ID(d.c.Pos.Number(), d.c.Mapping.Table, d.c.Key)] = nil
		}
	}
	kept := b.entries[:0]
	for _, e := range b.entries {
		if _, ok := withheld[e.EventID]; ok {
			withheld[e.EventID] = deadletter.NewEvent(a.source, a.bus, e.DetailType, e.EventID, e.Key, e.Detail)
			continue
		}
		kept = append(kept, e)
	}
	clear(b.entries[len(kept):])
	b.entries = kept
	for _, d := range dead {
		c, pos := d.c, d.c.Pos.Number()
		img, deleted := c.After, c.Kind == Delete
		if deleted {
			img = c.Before
		}
		text, err := c.Mapping.RowText(img)
		if err != nil {
			return fmt.Errorf("dead-lettering key %s at %s: %w", c.Key, pos, err)
		}
		r := deadletter.Record{ID: deadletter.ItemID(c.Key, pos), Kind: deadletter.Item, Key: c.Key, Position: pos, Reason: d.reason,
			Payload: deadletter.Payload{Row: deadletter.NewRow(c.Mapping.Table, text)}}
		r.Payload.Row.Deleted = deleted
		if d.failed {
			r.Payload.Event = withheld[events.ID(pos, c.Mapping.Table, c.Key)]
		}
		if err := a.dead.AddItem(ctx, r); err != nil {
			return err
		}
		b.res.Dead++
	}
	return nil
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
		if err := a.deadItem(ctx, b, d); err != nil {
			return res, err
		}
		res.Dead++
	}
	if err != nil {
		return res, fmt.Errorf("writing %d items to DynamoDB: %w", len(b.items), err)
	}
	b.items, b.maps = nil, nil
	return res, nil
}

// deadItem records an item DynamoDB refused, with its row image (decoded
// back from the item). Its event was sent beside it and is not withheld.
func (a *Applier) deadItem(ctx context.Context, b *Batch, d guard.DeadLetter) error {
	i := slices.IndexFunc(b.items, func(it guard.Item) bool { return it.Key == d.Key })
	if i < 0 {
		return fmt.Errorf("internal: DynamoDB refused item %s, which the batch does not hold", d.Key)
	}
	it, m := b.items[i], b.maps[i]
	r := deadletter.Record{ID: deadletter.ItemID(it.Key, it.Pos), Kind: deadletter.Item, Key: it.Key, Position: it.Pos, Reason: d.Reason}
	row, err := m.RowFromItem(it.Item)
	if err == nil {
		var text map[string][]byte
		if text, err = m.RowText(row); err == nil {
			r.Payload.Row = deadletter.NewRow(m.Table, text)
			_, r.Payload.Row.Deleted = it.Item[codec.AttrDeleted]
		}
	}
	if err != nil {
		return fmt.Errorf("dead-lettering item %s: %w", it.Key, err)
	}
	return a.dead.AddItem(ctx, r)
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
	size := codec.ItemSize(it)
	if size > codec.MaxItemBytes-maxToolkitBytes {
		return guard.Item{}, tooLargeError(size)
	}
	return guard.NewSizedItem(c.Key, it, pos, size), nil
}

// maxToolkitBytes bounds what the toolkit adds to an item (src_pos).
const maxToolkitBytes = 64

// tooLargeError is a row whose item DynamoDB cannot hold, of this size.
type tooLargeError int

func (e tooLargeError) Error() string {
	return fmt.Sprintf("the row's item of about %d bytes exceeds DynamoDB's 400 KB item limit", int(e))
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
