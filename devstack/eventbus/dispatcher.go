package eventbus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// dispatcher hands matched events to their targets asynchronously: one
// bounded queue and a few workers per target, so a slow or failing target
// never blocks PutEvents or the other targets. An event that cannot be
// queued or delivered lands in the dead-letter file with the reason. The
// zero value is not usable; make one with newDispatcher. It is safe for
// concurrent use and must not be copied.
type dispatcher struct {
	mu      sync.RWMutex // guards closed against Enqueue racing Close
	closed  bool
	queues  [][]*targetQueue // by rule index, then target index
	sender  *Sender
	dead    *DeadLetters
	now     func() time.Time
	logger  *slog.Logger
	pending atomic.Int64 // events queued or in delivery

	deadPath string       // for the warning
	lastLog  atomic.Int64 // unix ns of the last dead-letter warning
	unlogged atomic.Int64 // dead letters since then
}

// targetQueue is the queue of one target of one rule.
type targetQueue struct {
	rule string
	cfg  TargetConfig
	ch   chan []byte
	c    *targetCounters
}

// newDispatcher builds the queues of rules (already defaulted) and wires
// their depth into c. Start the workers with Run.
func newDispatcher(rules []RuleConfig, sender *Sender, dead *DeadLetters, c *counters, now func() time.Time, logger *slog.Logger) *dispatcher {
	d := &dispatcher{sender: sender, dead: dead, now: now, logger: logger, deadPath: dead.out.path}
	for i, r := range rules {
		var qs []*targetQueue
		for j, t := range r.Targets {
			q := &targetQueue{rule: r.Name, cfg: t, ch: make(chan []byte, t.QueueSize), c: c.rules[i].targets[j]}
			q.c.queued = func() int { return len(q.ch) }
			qs = append(qs, q)
		}
		d.queues = append(d.queues, qs)
	}
	return d
}

// Enqueue queues envelope for every target of rule without blocking; a
// target whose queue is full (or a dispatcher already closed) dead-letters
// it at once.
func (d *dispatcher) Enqueue(rule int, envelope []byte) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, q := range d.queues[rule] {
		if d.closed {
			d.deadLetter(q, envelope, 0, "the bus was shutting down")
			continue
		}
		d.pending.Add(1)
		select {
		case q.ch <- envelope:
		default:
			d.pending.Add(-1)
			q.c.queueFull.Add(1)
			d.deadLetter(q, envelope, 0, fmt.Sprintf("queue full (%d events waiting); the target is too slow or down", q.cfg.QueueSize))
		}
	}
}

// Pending returns the events queued or being delivered.
func (d *dispatcher) Pending() int64 { return d.pending.Load() }

// Close stops Enqueue from queueing; Run returns once the queues are drained.
func (d *dispatcher) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	for _, qs := range d.queues {
		for _, q := range qs {
			close(q.ch)
		}
	}
}

// Run delivers queued events until Close was called and every queue is
// drained. When ctx ends first, the events still queued and the deliveries
// in flight are dead-lettered (reason: stopped) instead of delivered, so
// nothing is dropped silently; Run then returns once Close is called.
func (d *dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, qs := range d.queues {
		for _, q := range qs {
			for range q.cfg.Concurrency {
				wg.Go(func() { d.work(ctx, q) })
			}
		}
	}
	wg.Wait()
}

func (d *dispatcher) work(ctx context.Context, q *targetQueue) {
	for env := range q.ch {
		d.deliver(ctx, q, env)
		d.pending.Add(-1)
	}
}

func (d *dispatcher) deliver(ctx context.Context, q *targetQueue, env []byte) {
	if err := ctx.Err(); err != nil {
		d.deadLetter(q, env, 0, "the bus stopped before delivery: "+err.Error())
		return
	}
	attempts, err := d.sender.Deliver(ctx, q.cfg, env, func(int, error) { q.c.retries.Add(1) })
	if err == nil {
		q.c.delivered.Add(1)
		return
	}
	d.deadLetter(q, env, attempts, err.Error())
}

func (d *dispatcher) deadLetter(q *targetQueue, env []byte, attempts int, reason string) {
	q.c.deadLettered.Add(1)
	dl := DeadLetter{At: d.now().UTC(), Rule: q.rule, Target: q.cfg.Name, URL: q.cfg.URL, Attempts: attempts, Reason: reason, Event: env}
	if err := d.dead.Add(dl); err != nil {
		// The last resort: the log keeps the event when the file cannot.
		d.logger.Error("writing dead letter failed; the event is in this log line", "rule", q.rule, "target", q.cfg.Name,
			"reason", reason, "event", string(env), "err", err)
		return
	}
	// One warning a second at most: a target down under load would
	// otherwise write a log line per event.
	now := d.now().UnixNano()
	d.unlogged.Add(1)
	if last := d.lastLog.Load(); now-last >= int64(time.Second) && d.lastLog.CompareAndSwap(last, now) {
		d.logger.Warn("events dead-lettered", "rule", q.rule, "target", q.cfg.Name, "attempts", attempts, "reason", reason,
			"dead_lettered_since_last_warning", d.unlogged.Swap(0), "file", d.deadPath)
	}
}
