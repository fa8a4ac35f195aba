// Package relay is the new order service's outbox relay: it publishes the
// outbox records the service writes beside each order change to
// EventBridge, and deletes each record only once the bus accepted it.
//
// The parts, one type each, wired by Run:
//   - Leases hold a lease per outbox shard in the service table, so several
//     relays share the shards and a dead relay's shards are taken over once
//     its leases expire;
//   - Store reads a shard (strongly consistent, ascending seq), deletes
//     published records and moves records that can never be published to
//     dead letters;
//   - Relay makes one pass over a shard: read a page, publish it through
//     events.Publisher (per-order order inside the page), delete what the bus
//     accepted.
//
// Delivery is at-least-once: a crash between the bus's acceptance and the
// delete publishes the record again with the same event_id, and consumers
// drop the duplicate. A page is deleted only when every record in it was
// accepted or dead-lettered; after a failure the shard is read again from
// its oldest record, so a later record of an order is never published
// before an earlier one was accepted.
package relay

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/tracing"
	"github.com/anycompany/strangler/orders/outbox"
)

// Publisher is the part of events.Publisher the relay uses.
type Publisher interface {
	Publish(ctx context.Context, entries []events.Entry) (events.Result, error)
}

var _ Publisher = (*events.Publisher)(nil)

// PassResult counts what one pass over a shard did.
type PassResult struct {
	// Read is the items the page held; Full says more may follow.
	Read int
	Full bool
	// Published and Dead count records accepted by the bus and moved to
	// dead letters.
	Published, Dead int
	// Calls counts PutEvents calls; DeleteCalls BatchWriteItem calls.
	Calls, DeleteCalls int
	// Oldest and Newest are the created times of the page's first and last
	// records (zero when it was empty).
	Oldest, Newest time.Time
}

// Relay publishes outbox pages. It is safe for concurrent use by one
// goroutine per shard; it must not be copied.
type Relay struct {
	store     *Store
	publisher Publisher
	dead      *DeadLetters
	pageSize  int
	log       *slog.Logger
	tp        trace.TracerProvider
}

// NewRelay returns a relay reading pages of pageSize from store and
// publishing them through publisher, whose dead-letter sink must be dead.
// With tracing on (tp records spans; nil is off) each published record
// whose detail carries a traceparent is a producer span continuing it, and
// the event carries that span's traceparent on.
func NewRelay(store *Store, publisher Publisher, dead *DeadLetters, pageSize int, tp trace.TracerProvider, log *slog.Logger) *Relay {
	if !tracing.Enabled(tp) {
		tp = nil
	}
	return &Relay{store: store, publisher: publisher, dead: dead, pageSize: pageSize, tp: tp, log: log}
}

// Pass reads one page of shard, publishes it and deletes what the bus
// accepted. On an error nothing of the page is deleted (what was
// dead-lettered is already moved): the next pass publishes it again.
func (r *Relay) Pass(ctx context.Context, shard int) (PassResult, error) {
	p, err := r.store.Read(ctx, shard, r.pageSize)
	if err != nil {
		return PassResult{}, err
	}
	res := PassResult{Read: p.Len(), Full: p.Full}
	if res.Read == 0 {
		return res, nil
	}
	for _, m := range p.Malformed {
		if err := r.store.DeadLetter(ctx, shard, m.SK, malformed(shard, m)); err != nil {
			return res, err
		}
		r.log.Warn("outbox record dead-lettered", "shard", shard, "sk", m.SK, "reason", m.Err.Error())
		res.Dead++
	}
	if len(p.Records) == 0 {
		return res, nil
	}
	res.Oldest, res.Newest = p.Records[0].Created, p.Records[len(p.Records)-1].Created
	entries := make([]events.Entry, len(p.Records))
	ids := r.dead.track(p.Records, entries)
	defer r.dead.untrack(ids)
	spans := r.trace(ctx, entries)
	out, err := r.publisher.Publish(ctx, entries)
	for _, s := range spans {
		if err != nil {
			s.SetStatus(codes.Error, err.Error())
		}
		s.End()
	}
	res.Calls, res.Dead = out.Calls, res.Dead+out.Dead
	if err != nil {
		return res, fmt.Errorf("publishing %d records of outbox shard %d: %w", len(entries), shard, err)
	}
	res.Published = out.Accepted
	// Dead-lettered records are already gone from the outbox; deleting them
	// again is harmless and keeps this simple.
	res.DeleteCalls, err = r.store.Delete(ctx, p.Records)
	if err != nil {
		return res, err
	}
	return res, nil
}

// trace starts a producer span "publish <detail type>" per entry whose
// detail carries a traceparent, continuing it, and sets the entry's
// traceparent to the span's, so consumers continue from the relay. A
// detail that cannot be rewritten is published as it is (the publisher
// says what is wrong with it). Nothing happens with tracing off.
func (r *Relay) trace(ctx context.Context, entries []events.Entry) []trace.Span {
	if r.tp == nil {
		return nil
	}
	var spans []trace.Span
	for i, e := range entries {
		parent := tracing.DetailParent(e.Detail)
		if parent == "" {
			continue
		}
		sctx, span := tracing.Produce(ctx, r.tp, "publish "+e.DetailType, parent)
		span.SetAttributes(attribute.String("strangler.event_id", e.EventID), attribute.String("strangler.order_id", e.Key))
		spans = append(spans, span)
		if d, err := tracing.WithDetailParent(e.Detail, tracing.Traceparent(sctx)); err == nil {
			entries[i].Detail = d
		}
	}
	return spans
}

// DeadLetters is the publisher's dead-letter sink: an entry the bus can
// never accept moves its outbox record to a dead letter with the reason. It
// knows the records of the pages being published (by the entries' event
// ids). It is safe for concurrent use; it must not be copied.
type DeadLetters struct {
	store *Store
	mu    sync.Mutex
	recs  map[string]outbox.Record
}

// NewDeadLetters returns the sink writing into store.
func NewDeadLetters(store *Store) *DeadLetters {
	return &DeadLetters{store: store, recs: map[string]outbox.Record{}}
}

var _ events.DeadLetterSink = (*DeadLetters)(nil)

// track fills entries from recs and remembers each record by its entry's
// event id (a record whose detail carries no usable event id, or whose id
// is taken, is tracked by its sort key instead).
func (d *DeadLetters) track(recs []outbox.Record, entries []events.Entry) []string {
	ids := make([]string, len(recs))
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, rec := range recs {
		e := rec.Entry()
		if _, taken := d.recs[e.EventID]; e.EventID == "" || taken {
			e.EventID = "outbox:" + outbox.ShardKey(rec.Shard) + "/" + rec.SK()
		}
		d.recs[e.EventID] = rec
		entries[i], ids[i] = e, e.EventID
	}
	return ids
}

func (d *DeadLetters) untrack(ids []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		delete(d.recs, id)
	}
}

// Add moves dl's record from the outbox to a dead letter.
func (d *DeadLetters) Add(ctx context.Context, dl events.DeadLetter) error {
	d.mu.Lock()
	rec, ok := d.recs[dl.Entry.EventID]
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("dead letter for event %s: no outbox record is being published with that id", dl.Entry.EventID)
	}
	e := dl.Entry
	return d.store.DeadLetter(ctx, rec.Shard, rec.SK(), deadletter.Record{ID: e.EventID, Kind: deadletter.Event, Key: e.Key, Reason: dl.Reason,
		Payload: deadletter.Payload{Event: deadletter.NewEvent(dl.Source, dl.Bus, e.DetailType, e.EventID, e.Key, e.Detail)}})
}

// malformed is the dead letter of an outbox item that does not decode:
// its attributes as codec.Show writes them, for a person to read.
func malformed(shard int, m Malformed) deadletter.Record {
	raw := make(map[string]string, len(m.Item))
	for k, v := range m.Item {
		raw[k] = codec.Show(v)
	}
	return deadletter.Record{ID: outbox.ShardKey(shard) + "/" + m.SK, Kind: deadletter.Event, Key: control.Str(m.Item, outbox.AttrOrderID),
		Reason: "malformed outbox record: " + m.Err.Error(), Payload: deadletter.Payload{Raw: raw}}
}
