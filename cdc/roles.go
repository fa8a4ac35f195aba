package cdc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/internal/retry"
)

// The roles of a term as leader, in the order lead wires them: the lease
// keeper (Lease.keep), the Streamer (streamer.go), the batcher, the sender
// and the checkpointer.

// batcher collects the streamer's transactions into batches and prepares
// each for the sinks (Applier.Prepare).
type batcher struct {
	applier *Applier
	cfg     ApplyConfig
	retry   retry.Policy
	failed  prometheus.Counter
	log     *slog.Logger
	pending *atomic.Int32 // batches taken and not yet handled by the checkpointer
}

// run collects batches of up to apply.max_batch changes, waiting at most
// apply.window once one transaction arrived, until ctx ends.
func (b *batcher) run(ctx context.Context, txns <-chan Txn, out chan<- *Batch) error {
	for {
		var (
			batch []Txn
			size  int
		)
		select {
		case t := <-txns:
			batch, size = append(batch, t), len(t.Changes)
		case <-ctx.Done():
			return nil
		}
		b.pending.Add(1)
		deadline := time.NewTimer(b.cfg.Window)
	collect:
		for size < b.cfg.MaxBatch {
			select {
			case t := <-txns:
				batch = append(batch, t)
				size += len(t.Changes)
			case <-deadline.C:
				break collect
			case <-ctx.Done():
				deadline.Stop()
				return nil
			}
		}
		deadline.Stop()
		p, err := b.prepare(ctx, batch)
		if p == nil {
			return err
		}
		select {
		case out <- p:
		case <-ctx.Done():
			return nil
		}
	}
}

// prepare prepares batch, trying again while a retry may help (b.retry);
// nil and no error once ctx ended.
func (b *batcher) prepare(ctx context.Context, batch []Txn) (*Batch, error) {
	for attempt := 1; ; attempt++ {
		p, err := b.applier.Prepare(ctx, batch)
		if err == nil {
			p.DropChanges()
			return p, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		// Preparing writes only dead letters (idempotent): a control
		// table hiccup is retried like a failed batch.
		if !retry.Retryable(err) || b.retry.Last(attempt) {
			return nil, fmt.Errorf("preparing transactions up to %s, %d attempts: %w", batch[len(batch)-1].Pos, attempt, err)
		}
		b.failed.Inc()
		b.log.Warn("preparing a batch failed; trying again", "attempt", attempt, "err", err)
		if err := b.retry.Wait(ctx, attempt); err != nil {
			return nil, nil
		}
	}
}

// inflight is a batch being sent. The sender fills res, err and took, then
// closes done; events is closed once its events were all accepted (never
// if they failed), so the next batch's events may go.
type inflight struct {
	b      *Batch
	began  time.Time
	events chan struct{}
	done   chan struct{}
	res    ApplyResult
	err    error
	took   time.Duration
}

// sender keeps up to apply.in_flight prepared batches in flight and hands
// them to the checkpointer in read order.
type sender struct {
	applier *Applier
	lease   *Lease
	retry   retry.Policy
	now     func() time.Time
	failed  prometheus.Counter
	acked   prometheus.Counter
	log     *slog.Logger
	// slots holds one token per batch sent and not yet handled; the
	// checkpointer takes it back.
	slots chan struct{}
}

// run sends each prepared batch once a slot is free until ctx ends, and
// returns once every send it started ended.
func (s *sender) run(ctx context.Context, in <-chan *Batch, out chan<- *inflight) {
	var wg sync.WaitGroup
	defer wg.Wait()
	prevEvents := make(chan struct{})
	close(prevEvents) // the first batch's events wait for no earlier ones
	for {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		var b *Batch
		select {
		case b = <-in:
		case <-ctx.Done():
			return
		}
		f := &inflight{b: b, began: s.now(), events: make(chan struct{}), done: make(chan struct{})}
		prev := prevEvents
		prevEvents = f.events
		out <- f // out holds apply.in_flight: as many as there are slots
		wg.Go(func() { s.send(ctx, f, prev) })
	}
}

// send sends f's batch: its items at once, its events once prev is closed
// (the previous batch's events were all accepted, so a key's events are
// accepted in order across batches), each sink retried on its own
// (s.retry; the guard keeps DynamoDB exact, repeated events keep their
// ids). Every attempt first checks the lease.
func (s *sender) send(ctx context.Context, f *inflight, prev <-chan struct{}) {
	var (
		items    ApplyResult
		itemsErr error
		written  = make(chan struct{})
	)
	go func() {
		defer close(written)
		itemsErr = s.retried(ctx, f.b, func(ctx context.Context) (err error) {
			items, err = s.applier.SendItems(ctx, f.b)
			return err
		})
	}()
	var (
		evs    events.Result
		evsErr error
	)
	select {
	case <-prev:
		evsErr = s.retried(ctx, f.b, func(ctx context.Context) (err error) {
			evs, err = s.applier.SendEvents(ctx, f.b)
			return err
		})
		if evsErr == nil {
			close(f.events)
		}
	case <-ctx.Done():
		evsErr = leaseCause(ctx, ctx.Err())
	}
	<-written
	f.res, f.err, f.took = f.b.Merge(items, evs), cmp.Or(itemsErr, evsErr), s.now().Sub(f.began)
	ok := f.err == nil
	close(f.done)
	if ok {
		s.acked.Inc()
	}
}

// retried runs send until it succeeds, the lease is lost, ctx ends, it
// fails for a reason no retry cures, or apply.retries more attempts
// failed, waiting between attempts (s.retry).
func (s *sender) retried(ctx context.Context, b *Batch, send func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		if err := s.lease.Fence(ctx); err != nil {
			return err
		}
		err := send(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return leaseCause(ctx, err)
		}
		s.failed.Inc()
		if !retry.Retryable(err) || s.retry.Last(attempt) {
			return fmt.Errorf("applying transactions up to %s, %d attempts: %w", b.Txns[len(b.Txns)-1].Pos, attempt, err)
		}
		s.log.Warn("sending a batch failed; sending it again", "attempt", attempt, "err", err)
		if serr := s.retry.Wait(ctx, attempt); serr != nil {
			return leaseCause(ctx, err)
		}
	}
}

// checkpointer takes the sent batches in read order and moves the
// checkpoint past each once both sinks acknowledged it.
type checkpointer struct {
	store    *CheckpointStore
	lease    *Lease
	sweeper  *Sweeper
	sweep    func(Sweep) // starts a recorded sweep
	interval time.Duration
	now      func() time.Time
	met      *metrics
	log      *slog.Logger
	slots    chan struct{}
	pending  *atomic.Int32
	// idle reports that nothing read waits to be batched.
	idle func() bool

	acked    *Txn // the last transaction both sinks acknowledged
	saved    position.Position
	lastSave time.Time
}

// run handles the sent batches in read order until one failed, errs yields
// an error (the streamer's or the batcher's) or ctx ends. It saves the
// checkpoint every checkpoint_interval, also while the source is quiet.
func (c *checkpointer) run(ctx context.Context, sent <-chan *inflight, errs <-chan error) error {
	flush := time.NewTicker(max(c.interval, 100*time.Millisecond))
	defer flush.Stop()
	var head *inflight // the oldest batch sent and not yet handled
	for {
		var (
			next <-chan *inflight
			done <-chan struct{}
		)
		if head == nil {
			next = sent
		} else {
			done = head.done
		}
		select {
		case head = <-next:
			continue
		case <-done:
		case <-flush.C:
			if err := c.tick(ctx); err != nil {
				return err
			}
			continue
		case err := <-errs:
			return err
		case <-ctx.Done():
			return nil
		}
		f := head
		head = nil
		<-c.slots
		if err := c.handle(ctx, f); err != nil {
			return err
		}
	}
}

// handle takes a batch both sinks acknowledged, or that failed: batches
// are handled in the order they were read, so the checkpoint never passes
// one that is still being sent.
func (c *checkpointer) handle(ctx context.Context, f *inflight) error {
	c.pending.Add(-1)
	c.met.batch.Observe(f.took.Seconds())
	if f.err != nil {
		return f.err
	}
	for _, t := range f.b.Txns {
		if len(t.Dropped) == 0 {
			continue
		}
		// Recorded before the checkpoint passes the DDL, so a crash
		// cannot forget it.
		sw := Sweep{Pos: t.Pos.Number(), Attrs: t.Dropped}
		if err := c.sweeper.Record(ctx, sw); err != nil {
			return err
		}
		c.log.Info("columns dropped: sweeping their attributes from older items", "attributes", t.Dropped, "ddl", t.Pos.String())
		c.sweep(sw)
	}
	last := f.b.Txns[len(f.b.Txns)-1]
	c.acked = &last
	c.met.applied(f.res, c.now().Sub(last.Time))
	if c.now().Sub(c.lastSave) >= c.interval {
		return c.fencedSave(ctx)
	}
	return nil
}

// tick saves the checkpoint when the interval has passed, so the last
// acknowledged transaction is checkpointed when the source goes quiet, and
// zeroes the lag once nothing read is waiting.
func (c *checkpointer) tick(ctx context.Context) error {
	if c.now().Sub(c.lastSave) >= c.interval {
		if err := c.fencedSave(ctx); err != nil {
			return err
		}
	}
	if c.idle() && (c.acked == nil || c.acked.Pos == c.saved) {
		// Caught up, whatever the age of the last commit (binlog times are
		// whole seconds, and a quiet source commits nothing).
		for _, stage := range []string{"read", "applied", "checkpoint"} {
			c.met.lag.WithLabelValues(stage).Set(0)
		}
	}
	return nil
}

// fencedSave saves the checkpoint once the lease is known to be held.
func (c *checkpointer) fencedSave(ctx context.Context) error {
	if err := c.lease.Fence(ctx); err != nil {
		return err
	}
	return c.save(ctx)
}

// save stores the last acknowledged transaction, if it moved.
func (c *checkpointer) save(ctx context.Context) error {
	if c.acked == nil || c.acked.Pos == c.saved {
		return nil
	}
	if err := c.store.Save(ctx, Checkpoint{Pos: c.acked.Pos, CommitTime: c.acked.Time}); err != nil {
		c.met.errors.WithLabelValues("checkpoint").Inc()
		return err
	}
	c.saved, c.lastSave = c.acked.Pos, c.now()
	c.met.lag.WithLabelValues("checkpoint").Set(max(0, c.now().Sub(c.acked.Time).Seconds()))
	return nil
}

// finish ends a term that run ended with err: unless the lease was lost,
// it saves the checkpoint past the last acknowledged batch. It returns the
// term's cause (ErrLeaseLost), nil when ctx (the process) ended, else err.
func (c *checkpointer) finish(ctx, term context.Context, err error) error {
	cause := context.Cause(term)
	if !errors.Is(cause, ErrLeaseLost) && !errors.Is(err, ErrLeaseLost) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if serr := c.save(sctx); serr != nil && err == nil {
			err = serr
		}
	}
	if cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// leaseCause is err, or the lease's loss when that is why ctx ended.
func leaseCause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && errors.Is(c, ErrLeaseLost) {
		return c
	}
	return err
}
