package cdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
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
// or failed. It is safe for concurrent use, but batches must be applied one
// after another for events to keep their order.
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

// Apply writes and publishes txns.
func (a *Applier) Apply(ctx context.Context, txns []Txn) (ApplyResult, error) {
	res := ApplyResult{Txns: len(txns)}
	// Events are built beside the items: encoding both is most of the
	// Applier's CPU, and they share nothing.
	var (
		entries []events.Entry
		evErr   error
		built   = make(chan struct{})
	)
	go func() {
		defer close(built)
		for _, t := range txns {
			for _, c := range t.Changes {
				e, ok, err := a.event(c, t, c.Pos.Number())
				if err != nil {
					evErr = err
					return
				}
				if ok {
					entries = append(entries, e)
				}
			}
		}
	}()
	latest := map[string]int{}
	var items []guard.Item
	for _, t := range txns {
		for _, c := range t.Changes {
			res.Changes++
			pos := c.Pos.Number()
			it, err := a.item(c, pos)
			if err != nil {
				var ve *codec.ValueError
				if !errors.As(err, &ve) {
					<-built
					return res, err
				}
				if err := a.dead.AddChange(ctx, c.Key, pos, err.Error()); err != nil {
					<-built
					return res, err
				}
				res.Dead++
				continue
			}
			if i, ok := latest[c.Key]; ok {
				items[i] = it
				res.Coalesced++
			} else {
				latest[c.Key] = len(items)
				items = append(items, it)
			}
		}
	}
	<-built
	if evErr != nil {
		return res, evErr
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if len(items) == 0 {
			return nil
		}
		r, err := a.writer.Write(gctx, items)
		res.Written, res.Skipped, res.WriteCall = r.Written, r.Skipped, r.Calls
		for _, d := range r.Dead {
			if err := a.dead.AddChange(gctx, d.Key, "", d.Reason); err != nil {
				return err
			}
			res.Dead++
		}
		if err != nil {
			return fmt.Errorf("writing %d items to DynamoDB: %w", len(items), err)
		}
		return nil
	})
	g.Go(func() error {
		if len(entries) == 0 {
			return nil
		}
		r, err := a.publisher.Publish(gctx, entries)
		res.Events = r
		if err != nil {
			return fmt.Errorf("publishing %d events: %w", len(entries), err)
		}
		return nil
	})
	err := g.Wait()
	return res, err
}

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

// event builds the change's event; ok is false when no rule matches.
func (a *Applier) event(c Change, t Txn, pos string) (events.Entry, bool, error) {
	img := c.After
	if c.Kind == Delete {
		img = c.Before
	}
	m := c.Mapping
	order := make(map[string]any, len(m.Columns))
	for i, col := range m.Columns {
		if !m.IsRef(i) {
			order[col.Name] = jsonValue(img[i])
		}
	}
	if _, i, ok := m.Ref(); ok && img[i] != nil {
		// One id per order: a row copied from the new service is its ord_ id.
		order[m.Key().Name] = img[i]
	}
	d := events.Detail{
		EventID:        events.ID(pos, m.Table, c.Key),
		OccurredAt:     events.FormatTime(t.Time),
		SourcePosition: pos,
		Order:          order,
	}
	if c.Kind == Update {
		d.Changed = []string{}
		d.Previous = map[string]any{}
		for i, col := range m.Columns {
			if !m.IsRef(i) && !reflect.DeepEqual(c.Before[i], c.After[i]) {
				d.Changed = append(d.Changed, col.Name)
				d.Previous[col.Name] = jsonValue(c.Before[i])
			}
		}
	}
	dt := detailType(a.rules, c.Kind, d.Changed, order)
	if dt == "" {
		return events.Entry{}, false, nil
	}
	e, err := events.NewEntry(c.Key, dt, d)
	return e, err == nil, err
}

// jsonValue is a canonical value as the event carries it: times as RFC 3339
// UTC with microseconds, JSON null as null, the rest as encoding/json has
// it (decimals are strings, BLOBs base64).
func jsonValue(v any) any {
	switch t := v.(type) {
	case time.Time:
		return t.UTC().Format(codec.TimeLayout)
	case codec.JSONNull:
		return nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = jsonValue(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = jsonValue(e)
		}
		return out
	case json.Number:
		return t
	}
	return v
}
