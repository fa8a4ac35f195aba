package cdc

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/internal/clock"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/internal/retry"
)

// Env is what Run needs besides its config.
type Env struct {
	Log *slog.Logger
	// Out receives status lines.
	Out io.Writer
	// Now is the clock. Optional: time.Now.
	Now func() time.Time
	// Sleep waits (standby polling, reconnection). Optional: a timer.
	Sleep func(context.Context, time.Duration) error
	// Registry receives the metrics. Optional: a new one, served on
	// cfg.MetricsListen.
	Registry *prometheus.Registry
}

// Options are cdc run's flags.
type Options struct {
	// FromNow starts at the source's current position when there is neither
	// a checkpoint nor a backfill position.
	FromNow bool
	// From, when set and there is no checkpoint, is the start instead of
	// the backfill's position: the cdc starts after this transaction (the
	// Resume form, "0-1-42").
	From string
}

// The garbage collector settings strangler cdc run applies unless GOGC or
// GOMEMLIMIT say otherwise. The cdc allocates every change's rows, item and
// event anew while its live heap stays small (the read-ahead and two
// batches), so the default GOGC=100 spent about a fifth of its CPU
// collecting: 400 collects a quarter as often (73 -> 67 us of CPU per
// change in scripts/bench/cdc.sh), and the soft limit makes it collect
// sooner rather than let the heap pass it (peak RSS stays under 300 MB).
const (
	GCPercent   = 400
	MemoryLimit = 200 << 20
)

// ErrNoStart is a cdc with no checkpoint, no backfill position and no
// --from-now.
var ErrNoStart = errors.New("no start position: no cdc checkpoint and no recorded backfill position; run `strangler migrate backfill` first, or pass --from-now to start at the source's current position")

// metrics are the cdc's Prometheus metrics.
type metrics struct {
	lag       *prometheus.GaugeVec
	changes   *prometheus.CounterVec
	txns      prometheus.Counter
	events    prometheus.Counter
	written   prometheus.Counter
	skipped   prometheus.Counter
	dead      prometheus.Counter
	errors    *prometheus.CounterVec
	reconnect prometheus.Counter
	leaseLost prometheus.Counter
	swept     prometheus.Counter
	batch     prometheus.Histogram
	calls     *prometheus.CounterVec
	leader    prometheus.Gauge
	tagged    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "strangler_cdc_lag_seconds",
			Help: "Seconds behind the source per stage: now minus the commit time (whole seconds in the binlog) of the last transaction read (decoded), applied (acknowledged by DynamoDB and EventBridge) or checkpointed; 0 once everything read is checkpointed and nothing waits."}, []string{"stage"}),
		changes:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strangler_cdc_changes_total", Help: "Row changes applied, by kind."}, []string{"kind"}),
		txns:      prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_cdc_transactions_total", Help: "Source transactions applied."}),
		events:    prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_cdc_events_published_total", Help: "Events accepted by EventBridge."}),
		written:   prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_cdc_items_written_total", Help: "DynamoDB items written."}),
		skipped:   prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_cdc_items_skipped_total", Help: "DynamoDB writes refused by the position guard (newer state present) or coalesced."}),
		dead:      prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_cdc_dead_letters_total", Help: "Changes and events recorded as dead letters."}),
		errors:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strangler_cdc_errors_total", Help: "Errors by stage."}, []string{"stage"}),
		reconnect: prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_cdc_reconnects_total", Help: "Binlog connection failures."}),
		swept: prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_cdc_swept_items_total",
			Help: "Items scanned by sweeps that remove dropped columns' attributes from items older than the DDL."}),
		leaseLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_cdc_lease_lost_total", Help: "Times this process lost the lease while leading and went back to standby."}),
		batch:     prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strangler_cdc_batch_seconds", Help: "Time to apply one batch to both sinks.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		calls:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strangler_cdc_calls_total", Help: "SDK calls by sink."}, []string{"sink"}),
		leader:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "strangler_cdc_leader", Help: "1 while this process holds the lease."}),
		tagged: prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_cdc_tagged_transactions_skipped_total",
			Help: "Source transactions written by strangler syncback (they hold a row of skip_marker_table): read and checkpointed, but neither written nor published (the new service already did both)."}),
	}
	reg.MustRegister(m.lag, m.changes, m.txns, m.events, m.written, m.skipped, m.dead, m.errors, m.reconnect, m.leaseLost, m.swept, m.batch, m.calls, m.leader, m.tagged)
	return m
}

// sourceAddr splits the DSN into the replica connection's parts.
func sourceAddr(cfg Config, owner string) (SourceAddr, error) {
	mc, err := mysql.ParseDSN(cfg.MySQL.DSN.Reveal())
	if err != nil {
		return SourceAddr{}, fmt.Errorf("mysql.dsn: %w", err)
	}
	host, port, err := net.SplitHostPort(mc.Addr)
	if err != nil {
		return SourceAddr{}, fmt.Errorf("mysql.dsn address %q: %w", mc.Addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return SourceAddr{}, fmt.Errorf("mysql.dsn port %q: %w", port, err)
	}
	id := cfg.MySQL.ServerID
	if id == 0 {
		h := fnv.New32a()
		h.Write([]byte(owner))
		id = 100_000 + h.Sum32()%1_000_000_000
	}
	return SourceAddr{Host: host, Port: uint16(p), User: mc.User, Password: mc.Passwd, Schema: mc.DBName, ServerID: id}, nil
}

// Run runs the cdc until ctx ends: it waits for the lease as a standby,
// then streams from its start position, applying and checkpointing. A
// leader that loses its lease (it stalled past the TTL, or another took
// it) stops writing at once, drops what it read and did not checkpoint,
// and goes back to standby; when it gets the lease again it resumes from
// the checkpoint.
func Run(ctx context.Context, cfg Config, opts Options, env Env) error {
	log := env.Log.With("component", "cdc")
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Sleep == nil {
		env.Sleep = clock.Sleep
	}
	owner := cfg.Lease.Owner
	if owner == "" {
		owner = control.Owner()
	}
	reg := env.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		httpserver.ServeMetrics(ctx, cfg.MetricsListen, reg, log)
	}
	met := newMetrics(reg)

	db, err := sql.Open("mysql", cfg.MySQL.DSN.Reveal())
	if err != nil {
		return fmt.Errorf("mysql.dsn: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(4)
	in := NewInspector(db)
	if err := in.CheckSource(ctx); err != nil {
		return err
	}
	if _, err := codec.Resolve(ctx, db, cfg.Mapping); err != nil {
		return err
	}
	addr, err := sourceAddr(cfg, owner)
	if err != nil {
		return err
	}
	ddb, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return err
	}
	eb, err := cfg.EventBridge.EventBridge(ctx)
	if err != nil {
		return err
	}
	l := &leader{cfg: cfg, opts: opts, env: env, log: log, met: met, db: db, in: in, addr: addr, ddb: ddb, eb: eb,
		lease: NewLease(ddb, cfg.ControlTable, cfg.name(), owner, cfg.Lease.TTL, env.Now)}
	l.ckp = NewCheckpointer(l.lease)
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = l.lease.Release(rctx)
	}()
	for {
		if err := l.standby(ctx); err != nil {
			return err
		}
		met.leader.Set(1)
		log.Info("lease taken", "owner", owner)
		err := l.lead(ctx)
		met.leader.Set(0)
		if ctx.Err() == nil && errors.Is(err, ErrLeaseLost) {
			met.leaseLost.Inc()
			log.Warn("lease lost: stopped writing, dropped what was not checkpointed; back to standby", "err", err)
			continue
		}
		return err
	}
}

// leader is one process's cdc: its standby wait and its terms as leader.
type leader struct {
	cfg   Config
	opts  Options
	env   Env
	log   *slog.Logger
	met   *metrics
	db    *sql.DB
	in    *Inspector
	addr  SourceAddr
	ddb   *dynamodb.Client
	eb    *eventbridge.Client
	lease *Lease
	ckp   *Checkpointer
}

// standby waits until the lease is this process's.
func (l *leader) standby(ctx context.Context) error {
	for waited := false; ; waited = true {
		ok, err := l.lease.Acquire(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if !waited {
			st, _, _ := loadLease(ctx, l.ddb, l.cfg.ControlTable, l.lease.pk)
			l.log.Info("standby: another cdc holds the lease; waiting", "holder", st.Owner, "until", st.Until)
		}
		if err := l.env.Sleep(ctx, l.cfg.Lease.TTL/4); err != nil {
			return err
		}
	}
}

// lead streams, applies and checkpoints while the lease is held. It returns
// ErrLeaseLost (wrapped) when the lease is lost, having written nothing
// after its fence failed, and only once every goroutine it started ended.
//
// Three stages overlap: the Streamer decodes transactions, a builder
// collects them into batches and encodes each (Applier.Prepare), and this
// loop sends up to apply.in_flight batches at once (sendBatch) and handles
// them in order: a batch's DynamoDB writes start at once (the position
// guard makes their order across batches moot), its events only once the
// previous batch's were all accepted (so a key's events stay in order),
// and the checkpoint passes a batch only once it and every earlier batch
// were acknowledged by both sinks.
func (l *leader) lead(ctx context.Context) error {
	cfg, met, log := l.cfg, l.met, l.log
	rctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := l.env.Now()
		for {
			// Every TTL/3 from the start of the last renewal, so a slow
			// DynamoDB call does not also push the next one back.
			if err := l.env.Sleep(rctx, max(cfg.Lease.TTL/3-l.env.Now().Sub(last), 0)); err != nil {
				return
			}
			last = l.env.Now()
			err := l.lease.Renew(rctx)
			switch {
			case rctx.Err() != nil:
				return
			case errors.Is(err, ErrLeaseLost):
				met.errors.WithLabelValues("lease").Inc()
				cancel(err)
				return
			case err != nil && !l.lease.Held():
				met.errors.WithLabelValues("lease").Inc()
				cancel(fmt.Errorf("%w: renewing it failed until it ran out: %w", ErrLeaseLost, err))
				return
			case err != nil:
				met.errors.WithLabelValues("lease").Inc()
				log.Warn("renewing the lease failed; trying again", "err", err)
			}
		}
	}()

	mapping, err := codec.Resolve(rctx, l.db, cfg.Mapping)
	if err != nil {
		return l.cause(rctx, err)
	}
	start, from, err := startPosition(rctx, cfg, l.opts, l.ckp, l.ddb, l.in)
	if err != nil {
		return l.cause(rctx, err)
	}
	if err := l.in.CheckStart(rctx, start); err != nil {
		return l.cause(rctx, err)
	}
	log.Info("streaming", "from", from, "after", start.String(), "table", mapping.Table, "server_id", l.addr.ServerID)

	readLag := met.lag.WithLabelValues("read")
	streamer := NewStreamer(StreamerDeps{
		Addr: l.addr, DB: l.db, MappingConfig: cfg.Mapping, Mapping: mapping, Logger: log.With("component", "streamer"),
		Sleep: l.env.Sleep, MaxBackoff: cfg.MySQL.Reconnect,
		OnRead: func(t Txn) {
			readLag.Set(max(0, l.env.Now().Sub(t.Time).Seconds()))
			if t.Tagged {
				met.tagged.Inc()
			}
		},
		SkipMarkerTable: cfg.SkipMarkerTable,
		OnReconnect:     func(error) { met.reconnect.Inc(); met.errors.WithLabelValues("read").Inc() },
	})
	writer := guard.NewWriter(newFencedDynamoDB(l.ddb, l.lease.Wait), cfg.Table, cfg.Apply.WriteMode, guard.Options{Concurrency: cfg.Apply.WriteConcurrency})
	publisher := events.NewPublisher(newFencedEventBridge(l.eb, l.lease.Wait), events.PublisherOptions{
		Source: cfg.Events.Source, Bus: cfg.Events.Bus, Concurrency: cfg.Events.Concurrency,
		Retry: retry.Policy{MaxAttempts: cfg.Events.MaxAttempts}, DeadLetters: l.ckp, Logger: log.With("component", "publisher"),
	})
	applier := NewApplier(writer, publisher, l.ckp, cfg.Events.Rules, cfg.TombstoneTTL, l.env.Now, log)
	sweeper := NewSweeper(newFencedDynamoDB(l.ddb, l.lease.Wait), l.ddb, cfg.Table, cfg.ControlTable, l.lease.pk,
		log.With("component", "sweeper"), func(n int) { met.swept.Add(float64(n)) })
	sweep := func(sw Sweep) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sweeper.Keep(rctx, sw, retry.Policy{Base: time.Second, Cap: 30 * time.Second, Sleep: l.env.Sleep}.Wait)
		}()
	}
	// Sweeps a crash or a lost lease cut short resume from their cursor.
	pending, err := sweeper.Pending(rctx)
	if err != nil {
		return l.cause(rctx, err)
	}
	for _, sw := range pending {
		sweep(sw)
	}

	txns := make(chan Txn, 8) // read-ahead while a batch is applied; bounds memory
	serr := make(chan error, 1)
	wg.Add(1)
	go func() { defer wg.Done(); serr <- streamer.Run(rctx, start, txns) }()
	// One batch prepared while one is sent: it bounds memory too.
	prepared := make(chan *Batch, 1)
	berr := make(chan error, 1)
	var inBuilder atomic.Int32 // batches taken from txns and not yet sent
	wg.Add(1)
	go func() { defer wg.Done(); berr <- l.build(rctx, applier, txns, prepared, &inBuilder) }()

	var (
		acked    *Txn
		saved    position.Position
		lastSave time.Time
	)
	save := func(ctx context.Context) error {
		if acked == nil || acked.Pos == saved {
			return nil
		}
		if err := l.ckp.Save(ctx, Checkpoint{Pos: acked.Pos, CommitTime: acked.Time}); err != nil {
			met.errors.WithLabelValues("checkpoint").Inc()
			return err
		}
		saved, lastSave = acked.Pos, l.env.Now()
		met.lag.WithLabelValues("checkpoint").Set(max(0, l.env.Now().Sub(acked.Time).Seconds()))
		return nil
	}
	finish := func(err error) error {
		cause := context.Cause(rctx)
		if !errors.Is(cause, ErrLeaseLost) && !errors.Is(err, ErrLeaseLost) {
			sctx, c := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer c()
			if serr := save(sctx); serr != nil && err == nil {
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
	changes := map[Kind]prometheus.Counter{}
	for _, k := range []Kind{Insert, Update, Delete} {
		changes[k] = met.changes.WithLabelValues(string(k))
	}
	ddbCalls, ebCalls := met.calls.WithLabelValues("dynamodb"), met.calls.WithLabelValues("eventbridge")
	appliedLag := met.lag.WithLabelValues("applied")
	// When the source goes quiet, the last acknowledged transaction is
	// still checkpointed once the interval has passed.
	flush := time.NewTicker(max(cfg.CheckpointInterval, 100*time.Millisecond))
	defer flush.Stop()
	var (
		queue      []*inflight // sent and not yet handled, oldest first
		prevEvents = make(chan struct{})
	)
	close(prevEvents) // the first batch's events wait for no earlier ones
	for {
		in := prepared
		if len(queue) >= cfg.Apply.InFlight {
			in = nil
		}
		var head <-chan struct{}
		if len(queue) > 0 {
			head = queue[0].done
		}
		select {
		case b := <-in:
			// Its items go out now; its events once the previous batch's
			// were all accepted (sendBatch).
			f := &inflight{b: b, began: l.env.Now(), events: make(chan struct{}), done: make(chan struct{})}
			queue = append(queue, f)
			prev := prevEvents
			prevEvents = f.events
			wg.Add(1)
			go func() { defer wg.Done(); l.sendBatch(rctx, applier, f, prev) }()
			continue
		case <-head:
		case <-flush.C:
			if l.env.Now().Sub(lastSave) >= cfg.CheckpointInterval {
				if err := l.fenced(rctx, save); err != nil {
					return finish(err)
				}
			}
			if len(txns) == 0 && inBuilder.Load() == 0 && (acked == nil || acked.Pos == saved) {
				// Nothing read is waiting: caught up, whatever the age of
				// the last commit (binlog times are whole seconds, and a
				// quiet source commits nothing).
				for _, stage := range []string{"read", "applied", "checkpoint"} {
					met.lag.WithLabelValues(stage).Set(0)
				}
			}
			continue
		case err := <-serr:
			return finish(err)
		case err := <-berr:
			return finish(err)
		case <-rctx.Done():
			return finish(nil)
		}
		// The oldest batch sent is acknowledged by both sinks, or failed:
		// batches are handled in the order they were read, so the
		// checkpoint never passes one that is still being sent.
		f := queue[0]
		queue[0] = nil
		queue = queue[1:]
		b, res, err := f.b, f.res, f.err
		inBuilder.Add(-1)
		met.batch.Observe(f.took.Seconds())
		if err != nil {
			return finish(err)
		}
		for _, t := range b.Txns {
			if len(t.Dropped) == 0 {
				continue
			}
			// Recorded before the checkpoint passes the DDL, so a crash
			// cannot forget it.
			sw := Sweep{Pos: t.Pos.Number(), Attrs: t.Dropped}
			if err := sweeper.Record(rctx, sw); err != nil {
				return finish(err)
			}
			log.Info("columns dropped: sweeping their attributes from older items", "attributes", t.Dropped, "ddl", t.Pos.String())
			sweep(sw)
		}
		last := b.Txns[len(b.Txns)-1]
		acked = &last
		met.txns.Add(float64(res.Txns))
		for k, n := range map[Kind]int{Insert: res.Inserts, Update: res.Updates, Delete: res.Deletes} {
			if n > 0 {
				changes[k].Add(float64(n))
			}
		}
		met.events.Add(float64(res.Events.Accepted))
		met.written.Add(float64(res.Written))
		met.skipped.Add(float64(res.Skipped + res.Coalesced))
		met.dead.Add(float64(res.Dead + res.Events.Dead))
		ddbCalls.Add(float64(res.WriteCall))
		ebCalls.Add(float64(res.Events.Calls))
		appliedLag.Set(max(0, l.env.Now().Sub(last.Time).Seconds()))
		if l.env.Now().Sub(lastSave) >= cfg.CheckpointInterval {
			if err := l.fenced(rctx, save); err != nil {
				return finish(err)
			}
		}
	}
}

// inflight is a batch being sent. sendBatch fills res, err and took, then
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

// sendBatch sends f's batch: its items at once, its events once prev is
// closed (the previous batch's events were all accepted, so a key's events
// are accepted in order across batches), each sink retried on its own
// (apply.retries, backoff to 10s; the guard keeps DynamoDB exact, repeated
// events keep their ids). Every attempt first checks the lease.
func (l *leader) sendBatch(ctx context.Context, applier *Applier, f *inflight, prev <-chan struct{}) {
	defer close(f.done)
	var (
		items    ApplyResult
		itemsErr error
		written  = make(chan struct{})
	)
	go func() {
		defer close(written)
		itemsErr = l.retried(ctx, f.b, func(ctx context.Context) (err error) {
			items, err = applier.SendItems(ctx, f.b)
			return err
		})
	}()
	var (
		evs    events.Result
		evsErr error
	)
	select {
	case <-prev:
		evsErr = l.retried(ctx, f.b, func(ctx context.Context) (err error) {
			evs, err = applier.SendEvents(ctx, f.b)
			return err
		})
		if evsErr == nil {
			close(f.events)
		}
	case <-ctx.Done():
		evsErr = l.cause(ctx, ctx.Err())
	}
	<-written
	f.res, f.err, f.took = f.b.Merge(items, evs), cmp.Or(itemsErr, evsErr), l.env.Now().Sub(f.began)
}

// retried runs send until it succeeds, the lease is lost, ctx ends, it
// fails for a reason no retry cures, or apply.retries more attempts failed,
// waiting between attempts (retry.Batches()).
func (l *leader) retried(ctx context.Context, b *Batch, send func(context.Context) error) error {
	p := l.batchRetry()
	for attempt := 1; ; attempt++ {
		if err := l.lease.Fence(ctx); err != nil {
			return err
		}
		err := send(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return l.cause(ctx, err)
		}
		l.met.errors.WithLabelValues("apply").Inc()
		if !retry.Retryable(err) || p.Last(attempt) {
			return fmt.Errorf("applying transactions up to %s, %d attempts: %w", b.Txns[len(b.Txns)-1].Pos, attempt, err)
		}
		l.log.Warn("sending a batch failed; sending it again", "attempt", attempt, "err", err)
		if serr := p.Wait(ctx, attempt); serr != nil {
			return l.cause(ctx, err)
		}
	}
}

// batchRetry is retry.Batches() with apply.retries and the injected sleep.
func (l *leader) batchRetry() retry.Policy {
	p := retry.Batches()
	p.MaxAttempts, p.Sleep = l.cfg.Apply.Retries+1, l.env.Sleep
	return p
}

// fenced runs f once the lease is known to be held.
func (l *leader) fenced(ctx context.Context, f func(context.Context) error) error {
	if err := l.lease.Fence(ctx); err != nil {
		return err
	}
	return f(ctx)
}

// cause is err, or the lease's loss when that is why ctx ended.
func (l *leader) cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && errors.Is(c, ErrLeaseLost) {
		return c
	}
	return err
}

// build collects transactions into batches (up to apply.max_batch changes,
// waiting at most apply.window once one arrived) and prepares each.
func (l *leader) build(ctx context.Context, applier *Applier, txns <-chan Txn, out chan<- *Batch, inBuilder *atomic.Int32) error {
	cfg := l.cfg
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
		inBuilder.Add(1)
		deadline := time.NewTimer(cfg.Apply.Window)
	collect:
		for size < cfg.Apply.MaxBatch {
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
		var b *Batch
		for attempt, p := 1, l.batchRetry(); ; attempt++ {
			var err error
			if b, err = applier.Prepare(ctx, batch); err == nil {
				b.DropChanges()
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			// Preparing writes only dead letters (idempotent): a control
			// table hiccup is retried like a failed batch.
			if !retry.Retryable(err) || p.Last(attempt) {
				return fmt.Errorf("preparing transactions up to %s, %d attempts: %w", batch[len(batch)-1].Pos, attempt, err)
			}
			l.met.errors.WithLabelValues("prepare").Inc()
			l.log.Warn("preparing a batch failed; trying again", "attempt", attempt, "err", err)
			if err := p.Wait(ctx, attempt); err != nil {
				return nil
			}
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
	}
}

// startPosition is the checkpoint, else --from, else the backfill's
// recorded position, else (with FromNow) the source's current one.
func startPosition(ctx context.Context, cfg Config, opts Options, ckp *Checkpointer, api control.ItemGetter, in *Inspector) (position.Position, string, error) {
	cp, ok, err := ckp.Load(ctx)
	if err != nil {
		return position.Position{}, "", err
	}
	if ok {
		return cp.Pos, "checkpoint", nil
	}
	if opts.From != "" {
		p, err := position.ParseMariaDBGTID(opts.From)
		return p, "--from", err
	}
	p, ok, err := control.LoadBackfillStart(ctx, api, cfg.ControlTable, cfg.backfillJob())
	if err != nil {
		return position.Position{}, "", err
	}
	if ok {
		return p, "backfill " + cfg.backfillJob(), nil
	}
	if opts.FromNow {
		p, err := position.Current(ctx, in.db)
		return p, "now", err
	}
	return position.Position{}, "", ErrNoStart
}
