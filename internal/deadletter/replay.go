package deadletter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/guard"
)

// ItemWriter is the guarded writer a replay writes items with
// (*guard.Writer, in Put or Transact mode: never Batch, which skips the
// guard).
type ItemWriter interface {
	Write(ctx context.Context, items []guard.Item) (guard.Result, error)
}

// Publisher is what a replay publishes events with (*events.Publisher).
type Publisher interface {
	Publish(ctx context.Context, entries []events.Entry) (events.Result, error)
}

var (
	_ ItemWriter = (*guard.Writer)(nil)
	_ Publisher  = (*events.Publisher)(nil)
)

// ErrStillFailing is a replay that failed the way the dead letter did: the
// fault is not cleared yet. The dead letter is kept, with the new reason.
var ErrStillFailing = errors.New("the replay failed again")

// Replayer redoes dead letters: an item is written under the position
// guard at its recorded position, so it never overwrites a newer image (the
// guard refuses it: the item is moot, the table holds a later state of the
// key), then the event its change withheld, if any, is published (a change
// that happened; consumers order an order's events by source_position);
// an event is published again with its own id (consumers drop a
// duplicate). What was redone is removed with an audit line saying which.
// It is safe for concurrent use.
type Replayer struct {
	// Store holds the dead letters. Required.
	Store *Store
	// Resolve returns the mapping row images are decoded with (the
	// config's, which may have changed to clear a fault); it is called once,
	// on the first item replayed. Required to replay items.
	Resolve func(ctx context.Context) (*codec.Mapping, error)
	// Items writes items. Required to replay items.
	Items ItemWriter
	// TombstoneTTL is how long the tombstone of a deleted row lives.
	// Optional: defaults to 168h.
	TombstoneTTL time.Duration
	// Now is the clock of tombstones. Optional: time.Now.
	Now func() time.Time
	// Publisher returns the publisher of an event's source and bus, whose
	// dead letters go to dead. Required to replay events.
	Publisher func(source, bus string, dead events.DeadLetterSink) Publisher
	// By names the operator in the audit line. Optional.
	By string
	// Log logs replays. Optional: discards.
	Log *slog.Logger

	once    sync.Once
	mapping *codec.Mapping
	mapErr  error
}

// resolve is the mapping, resolved once.
func (r *Replayer) resolve(ctx context.Context) (*codec.Mapping, error) {
	r.once.Do(func() {
		if r.Resolve == nil {
			r.mapErr = errors.New("internal: the replayer cannot resolve the mapping")
			return
		}
		r.mapping, r.mapErr = r.Resolve(ctx)
	})
	return r.mapping, r.mapErr
}

// Replay redoes src's dead letter id and returns its audit line.
func (r *Replayer) Replay(ctx context.Context, src Source, id string) (string, error) {
	rec, err := r.Store.Get(ctx, src, id)
	if err != nil {
		return "", err
	}
	var note string
	switch rec.Kind {
	case Item:
		note, err = r.item(ctx, rec)
	case Event:
		if note, err = r.event(ctx, rec, rec.Payload.Event); err != nil {
			err = r.failed(ctx, rec, err, false)
		}
	default:
		err = fmt.Errorf("dead letter %s/%s is of kind %q, which this version cannot replay", src, id, rec.Kind)
	}
	if err != nil {
		return "", err
	}
	line, err := r.Store.Remove(ctx, rec, "replay", r.By, note)
	if err != nil {
		return "", err
	}
	if r.Log != nil {
		r.Log.Info("dead letter replayed", "source", src, "id", id, "key", rec.Key, "note", note)
	}
	return line, nil
}

// item writes rec's row image under the guard, then publishes its
// withheld event.
func (r *Replayer) item(ctx context.Context, rec Record) (string, error) {
	row := rec.Payload.Row
	note := "item written before"
	switch {
	case row == nil:
		return "", fmt.Errorf("dead letter %s/%s has no row image: it cannot be redone; drop it and re-copy the key with strangler migrate verify --repair", rec.Source, rec.ID)
	case rec.Position == "":
		return "", fmt.Errorf("dead letter %s/%s has no source position, so the guard cannot order it: drop it and re-copy the key with strangler migrate verify --repair", rec.Source, rec.ID)
	case r.Items == nil:
		return "", errors.New("internal: the replayer has no item writer")
	case !rec.ItemWritten:
		note = "item written at position " + rec.Position
		m, err := r.resolve(ctx)
		if err != nil {
			return "", fmt.Errorf("the mapping to decode row images with: %w", err)
		}
		if !strings.EqualFold(row.Table, m.Table) {
			return "", fmt.Errorf("dead letter %s/%s is a row of table %s, but the mapping is of %s: use the config of that table's cdc (--config)", rec.Source, rec.ID, row.Table, m.Table)
		}
		superseded, err := r.writeItem(ctx, m, rec)
		if err != nil {
			return "", err
		}
		if superseded {
			note = "item not written: the position guard refused it, the table holds a newer image of key " + rec.Key
		}
	}
	if ev := rec.Payload.Event; ev != nil {
		if _, err := r.event(ctx, rec, ev); err != nil {
			return "", r.failed(ctx, rec, fmt.Errorf("the row is done (%s), its event is not: replay again to publish it: %w", note, err), true)
		}
		note += ", event " + ev.EventID + " published"
	}
	return note, nil
}

// writeItem decodes the row image with the mapping of the day and writes
// it under the guard at the recorded position (a deleted row: its
// tombstone); superseded says the guard refused it.
func (r *Replayer) writeItem(ctx context.Context, m *codec.Mapping, rec Record) (superseded bool, err error) {
	it, err := r.itemOf(m, rec)
	if err != nil {
		return false, r.failed(ctx, rec, err, false)
	}
	res, err := r.Items.Write(ctx, []guard.Item{it})
	switch {
	case err != nil:
		return false, fmt.Errorf("writing the item of dead letter %s/%s: %w", rec.Source, rec.ID, err)
	case len(res.Dead) > 0:
		return false, r.failed(ctx, rec, fmt.Errorf("DynamoDB still refuses the item of dead letter %s/%s (%w): %s", rec.Source, rec.ID, ErrStillFailing, res.Dead[0].Reason), false)
	}
	return res.Skipped > 0, nil
}

// itemOf is rec's item under m.
func (r *Replayer) itemOf(m *codec.Mapping, rec Record) (guard.Item, error) {
	if rec.Payload.Row.Deleted {
		now, ttl := time.Now, r.TombstoneTTL
		if r.Now != nil {
			now = r.Now
		}
		if ttl <= 0 {
			ttl = 168 * time.Hour
		}
		return guard.Tombstone(rec.Key, rec.Position, now().Add(ttl)), nil
	}
	row, err := m.RowFromNamedText(rec.Payload.Row.Text())
	if err == nil && m.KeyString(row) != rec.Key {
		err = fmt.Errorf("the row image's key is %s, the dead letter's %s", m.KeyString(row), rec.Key)
	}
	if err != nil {
		return guard.Item{}, fmt.Errorf("decoding the row image of dead letter %s/%s (%w): %w", rec.Source, rec.ID, ErrStillFailing, err)
	}
	item, err := m.Item(row)
	if err != nil {
		return guard.Item{}, fmt.Errorf("dead letter %s/%s still cannot be encoded (%w): clear the fault (the mapping in the config, or the row) and replay again: %w", rec.Source, rec.ID, ErrStillFailing, err)
	}
	return guard.NewItem(rec.Key, item, rec.Position), nil
}

// failed records err as rec's reason (and whether its item is written)
// and returns it.
func (r *Replayer) failed(ctx context.Context, rec Record, err error, itemWritten bool) error {
	if ferr := r.Store.Failed(ctx, rec, err.Error(), itemWritten); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// event publishes ev with its own id.
func (r *Replayer) event(ctx context.Context, rec Record, ev *EventPayload) (string, error) {
	if ev == nil || ev.DetailType == "" || ev.Source == "" {
		return "", fmt.Errorf("dead letter %s/%s has no publishable event (a malformed record?): read it with show, publish it by hand if it matters, then drop it", rec.Source, rec.ID)
	}
	if r.Publisher == nil {
		return "", errors.New("internal: the replayer has no publisher")
	}
	refused := &refusals{}
	pub := r.Publisher(ev.Source, ev.Bus, refused)
	entry := events.Entry{Key: ev.Key, DetailType: ev.DetailType, Detail: ev.DetailBytes(), EventID: ev.EventID}
	if _, err := pub.Publish(ctx, []events.Entry{entry}); err != nil {
		return "", fmt.Errorf("publishing event %s of dead letter %s/%s: %w", ev.EventID, rec.Source, rec.ID, err)
	}
	if refused.reason != "" {
		return "", fmt.Errorf("the bus still refuses event %s of dead letter %s/%s (%w): %s", ev.EventID, rec.Source, rec.ID, ErrStillFailing, refused.reason)
	}
	return "event " + ev.EventID + " published to source " + ev.Source, nil
}

// refusals is the dead-letter sink of a replay's publisher: an event the
// bus refuses again stays in its dead letter, with the new reason.
type refusals struct{ reason string }

func (f *refusals) Add(_ context.Context, dl events.DeadLetter) error {
	f.reason = dl.Reason
	return nil
}
