package events

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"golang.org/x/sync/errgroup"

	"github.com/anycompany/strangler/internal/retry"
)

// PutEvents limits.
const (
	// MaxEntries is the entries of one PutEvents call.
	MaxEntries = 10
	// MaxCallBytes is the size of one call as AWS counts it.
	MaxCallBytes = 256 * 1024
)

// API is the part of the EventBridge client a Publisher uses.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ API = (*eventbridge.Client)(nil)

// DeadLetter is an entry EventBridge can never accept, with the reason,
// and the Source and Bus it was published with (to publish it again).
type DeadLetter struct {
	Entry       Entry
	Reason      string
	Source, Bus string
}

// DeadLetterSink stores dead letters. Add must be durable when it returns
// nil: the entry counts as handled (invariant 6: never dropped).
type DeadLetterSink interface {
	Add(ctx context.Context, dl DeadLetter) error
}

// Result counts what a Publish did.
type Result struct {
	// Accepted entries were accepted by EventBridge.
	Accepted int
	// Dead entries went to the dead-letter sink.
	Dead int
	// Calls counts PutEvents calls, retries included.
	Calls int
	// Retried counts entries sent again after a failure or throttling.
	Retried int
}

func (r *Result) add(o Result) {
	r.Accepted += o.Accepted
	r.Dead += o.Dead
	r.Calls += o.Calls
	r.Retried += o.Retried
}

// Publisher sends entries to one event bus with PutEvents: at most 10
// entries and 256 KiB a call, several calls in flight across keys, entries
// of one key accepted in the order given (a call carries at most one entry
// per key, and a key's next entry waits until the one before is accepted).
// Failed entries of a partial failure are retried alone; throttling backs
// off. It is safe for concurrent use.
type Publisher struct {
	api    API
	source string
	bus    string
	lanes  int
	retry  retry.Policy
	dead   DeadLetterSink
	log    *slog.Logger
}

// PublisherOptions tune a Publisher.
type PublisherOptions struct {
	// Source is every entry's Source. Optional: defaults to DefaultSource.
	Source string
	// Bus is the event bus name. Optional: empty is the default bus.
	Bus string
	// Concurrency is the calls in flight per Publish (entries are split
	// into lanes by key hash). Optional: defaults to 4.
	Concurrency int
	// Retry is how failed entries and calls are tried again (the SDK
	// tries each call once); an entry still failing after its MaxAttempts
	// makes Publish return an error wrapping retry.ErrExhausted (it is not
	// dead-lettered: the bus may come back, and the caller replays).
	// Optional: retry.Events(), filling in its zero numbers.
	Retry retry.Policy
	// DeadLetters receives entries that can never be accepted (too large,
	// malformed). Required.
	DeadLetters DeadLetterSink
	// Logger logs retries. Optional: discards.
	Logger *slog.Logger
}

// NewPublisher returns a publisher into api.
func NewPublisher(api API, o PublisherOptions) *Publisher {
	if o.Source == "" {
		o.Source = DefaultSource
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Publisher{api: api, source: o.Source, bus: o.Bus, lanes: o.Concurrency, retry: o.Retry.Or(retry.Events()), dead: o.DeadLetters, log: o.Logger}
}

// entrySize is an entry's size as AWS counts it (no Time, no Resources).
func (p *Publisher) entrySize(e Entry) int { return len(p.source) + len(e.DetailType) + len(e.Detail) }

// Publish sends every entry and returns when each is accepted or
// dead-lettered; an error means some may be neither (the caller must not
// checkpoint past them).
func (p *Publisher) Publish(ctx context.Context, entries []Entry) (Result, error) {
	lanes := make([][]Entry, p.lanes)
	for _, e := range entries {
		i := int(fnv32a(e.Key) % uint32(p.lanes))
		lanes[i] = append(lanes[i], e)
	}
	var (
		mu  sync.Mutex
		res Result
	)
	g, gctx := errgroup.WithContext(ctx)
	for _, lane := range lanes {
		if len(lane) == 0 {
			continue
		}
		g.Go(func() error {
			r, err := p.lane(gctx, lane)
			mu.Lock()
			res.add(r)
			mu.Unlock()
			return err
		})
	}
	err := g.Wait()
	return res, err
}

type pending struct {
	e        Entry
	attempts int
}

// lane publishes entries in order, one call at a time.
func (p *Publisher) lane(ctx context.Context, entries []Entry) (Result, error) {
	var res Result
	queue := make([]pending, 0, len(entries))
	for _, e := range entries {
		if size := p.entrySize(e); size > MaxCallBytes {
			if err := p.deadLetter(ctx, e, fmt.Sprintf("event of %d bytes exceeds PutEvents' 256 KiB limit", size)); err != nil {
				return res, err
			}
			res.Dead++
			continue
		}
		queue = append(queue, pending{e: e})
	}
	source := aws.String(p.source)
	var bus *string
	if p.bus != "" {
		bus = aws.String(p.bus)
	}
	var again []pending
	throttles := 0
	for len(queue) > 0 {
		in := p.nextCall(queue, source, bus)
		n := len(in.Entries)
		batch := queue[:n]
		res.Calls++
		// The SDK retries nothing: this loop retries only what failed.
		out, err := p.api.PutEvents(ctx, in, retry.NoSDKRetryEvents)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if !retry.Retryable(err) {
				return res, fmt.Errorf("publishing %d events: %w", n, err)
			}
			throttles++
			for i := range batch {
				batch[i].attempts++
			}
			if p.retry.Last(batch[0].attempts) {
				return res, fmt.Errorf("publishing %d events: %w after %d attempts: %w", n, retry.ErrExhausted, batch[0].attempts, err)
			}
			res.Retried += n
			p.log.Debug("PutEvents failed, backing off", "entries", n, "attempt", batch[0].attempts, "err", err)
			if err := p.retry.Wait(ctx, throttles); err != nil {
				return res, err
			}
			continue
		}
		if len(out.Entries) != n {
			return res, fmt.Errorf("publishing %d events: the bus answered %d results", n, len(out.Entries))
		}
		again = again[:0]
		progress := false
		for i, r := range out.Entries {
			code := aws.ToString(r.ErrorCode)
			switch {
			case code == "" && aws.ToString(r.EventId) != "":
				res.Accepted++
				progress = true
			case !retry.RetryableEntry(code):
				if err := p.deadLetter(ctx, batch[i].e, code+": "+aws.ToString(r.ErrorMessage)); err != nil {
					return res, err
				}
				res.Dead++
				progress = true
			default:
				batch[i].attempts++
				if p.retry.Last(batch[i].attempts) {
					return res, fmt.Errorf("event %s: %w after %d attempts: %s: %s", batch[i].e.EventID, retry.ErrExhausted, batch[i].attempts, code, aws.ToString(r.ErrorMessage))
				}
				again = append(again, batch[i])
			}
		}
		res.Retried += len(again)
		// Failed entries go first into the next call, alone or with new ones
		// (never behind a later entry of their key: a call holds one per key).
		// They move into the tail of the slots just sent, so the queue is
		// never copied (it holds a whole Publish: copying it per call was
		// quadratic).
		copy(queue[n-len(again):n], again)
		queue = queue[n-len(again):]
		// A call that made progress resets the backoff; one that made none
		// (every entry failed) backs off like throttling.
		if progress {
			throttles = 0
		} else {
			throttles++
			if err := p.retry.Wait(ctx, throttles); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// nextCall is the PutEvents input of the next call: the queue's entries in
// order, at most one per key, within the limits. A key seen twice stops the
// call so its order holds even if the first fails.
func (p *Publisher) nextCall(queue []pending, source, bus *string) *eventbridge.PutEventsInput {
	n, size := 0, 0
	for n < len(queue) && n < MaxEntries {
		e := queue[n].e
		s := p.entrySize(e)
		if keyIn(queue[:n], e.Key) || (n > 0 && size+s > MaxCallBytes) {
			break
		}
		size += s
		n++
	}
	in := &eventbridge.PutEventsInput{Entries: make([]types.PutEventsRequestEntry, n)}
	// One string header block for the call: three pointers per entry
	// would be three allocations each.
	strs := make([]string, 2*n)
	for i, pe := range queue[:n] {
		strs[2*i], strs[2*i+1] = pe.e.DetailType, detailString(pe.e.Detail)
		in.Entries[i] = types.PutEventsRequestEntry{Source: source, DetailType: &strs[2*i], Detail: &strs[2*i+1], EventBusName: bus}
	}
	return in
}

// fnv32a is FNV-1a of s (hash/fnv without its allocations).
func fnv32a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// keyIn reports whether a queued entry has key.
func keyIn(q []pending, key string) bool {
	for _, pe := range q {
		if pe.e.Key == key {
			return true
		}
	}
	return false
}

func (p *Publisher) deadLetter(ctx context.Context, e Entry, reason string) error {
	if p.dead == nil {
		return fmt.Errorf("event %s can never be published (%s) and no dead-letter store is configured", e.EventID, reason)
	}
	if err := p.dead.Add(ctx, DeadLetter{Entry: e, Reason: reason, Source: p.source, Bus: p.bus}); err != nil {
		return fmt.Errorf("dead-lettering event %s: %w", e.EventID, err)
	}
	p.log.Warn("event dead-lettered", "event_id", e.EventID, "detail_type", e.DetailType, "reason", reason)
	return nil
}

// detailString is d as a string without copying it: a detail is often a
// kilobyte, and copying each one for the SDK was a tenth of what the cdc
// allocated. Sound because an Entry's Detail is never modified once given
// to Publish (see Entry) and the SDK only reads the string.
func detailString(d []byte) string {
	if len(d) == 0 {
		return ""
	}
	return unsafe.String(&d[0], len(d))
}
