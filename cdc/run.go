package cdc

import (
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
	"github.com/anycompany/strangler/internal/deadletter"
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
	// From, when set and there is no checkpoint (or mysql.epoch was
	// raised past it), is the start instead of the backfill's position: the
	// cdc starts after this transaction ("0-1-42" on MariaDB, a GTID set or
	// "binlog.000042:1234" on MySQL; position.Parse).
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
	sent      prometheus.Counter
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
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_cdc_batches_acknowledged_total",
			Help: "Batches both sinks acknowledged. The checkpoint passes them in read order, so one may wait there for an earlier one still being sent."}),
		calls:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strangler_cdc_calls_total", Help: "SDK calls by sink."}, []string{"sink"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strangler_cdc_leader", Help: "1 while this process holds the lease."}),
		tagged: prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_cdc_tagged_transactions_skipped_total",
			Help: "Source transactions written by strangler syncback (they hold a row of skip_marker_table): read and checkpointed, but neither written nor published (the new service already did both)."}),
	}
	reg.MustRegister(m.lag, m.changes, m.txns, m.events, m.written, m.skipped, m.dead, m.errors, m.reconnect, m.leaseLost, m.swept, m.batch, m.sent, m.calls, m.leader, m.tagged)
	return m
}

// applied records a batch both sinks acknowledged, whose last transaction
// committed lag ago.
func (m *metrics) applied(res ApplyResult, lag time.Duration) {
	m.txns.Add(float64(res.Txns))
	for k, n := range map[Kind]int{Insert: res.Inserts, Update: res.Updates, Delete: res.Deletes} {
		if n > 0 {
			m.changes.WithLabelValues(string(k)).Add(float64(n))
		}
	}
	m.events.Add(float64(res.Events.Accepted))
	m.written.Add(float64(res.Written))
	m.skipped.Add(float64(res.Skipped + res.Coalesced))
	m.dead.Add(float64(res.Dead + res.Events.Dead))
	m.calls.WithLabelValues("dynamodb").Add(float64(res.WriteCall))
	m.calls.WithLabelValues("eventbridge").Add(float64(res.Events.Calls))
	m.lag.WithLabelValues("applied").Set(max(0, lag.Seconds()))
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
	reg, serve := env.Registry, env.Registry == nil
	if serve {
		reg = prometheus.NewRegistry()
	}
	met := newMetrics(reg)
	var leading atomic.Bool

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
	reg.MustRegister(deadletter.NewCollector(deadletter.NewStore(ddb, cfg.ControlTable, env.Now), deadletter.CDC))
	if serve && cfg.MetricsListen != "" {
		// /metrics and /status (the proxy's write gate reads it).
		h := statusHandler(cfg, db, ddb, reg, leading.Load, env.Now, log)
		go func() {
			if err := httpserver.Serve(ctx, httpserver.Listener{Addr: cfg.MetricsListen, TLS: cfg.MetricsTLS}, h, time.Second, log.With("component", "metrics")); err != nil {
				log.Warn("metrics and status endpoint unavailable", "err", err)
			}
		}()
	}
	l := &leader{cfg: cfg, opts: opts, env: env, log: log, met: met, db: db, in: in, addr: addr, ddb: ddb, eb: eb,
		lease: NewLease(ddb, cfg.ControlTable, cfg.name(), owner, cfg.Lease.TTL, env.Now)}
	l.ckp = NewCheckpointStore(l.lease)
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
		leading.Store(true)
		log.Info("lease taken", "owner", owner)
		err := l.lead(ctx)
		met.leader.Set(0)
		leading.Store(false)
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
	ckp   *CheckpointStore
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

// lead is one term as leader. Its roles are wired in order, like gh-ost's
// Migrator: the lease keeper first (Lease.keep: it ends the term once the
// lease is lost), then streamer -> batcher -> sender -> checkpointer,
// joined by channels that bound what is held in memory. The stages
// overlap; the checkpointer takes batches in read order, so the checkpoint
// passes one only once it and every earlier one were acknowledged by both
// sinks. lead returns ErrLeaseLost (wrapped) when the lease was lost,
// having written nothing after its fence failed, and only once every
// goroutine it started ended.
func (l *leader) lead(ctx context.Context) error {
	tctx, end := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer end(nil)
	wg.Go(func() { l.lease.keep(tctx, end, l.env.Sleep, l.met.errors.WithLabelValues("lease"), l.log) })

	t, err := l.newTerm(tctx, &wg)
	if err != nil {
		return leaseCause(tctx, err)
	}
	txns := make(chan Txn, 8)        // read-ahead while a batch is applied; bounds memory
	prepared := make(chan *Batch, 1) // one batch prepared while others are sent: it bounds memory too
	sent := make(chan *inflight, l.cfg.Apply.InFlight)
	errs := make(chan error, 2)
	t.checkpointer.idle = func() bool { return len(txns) == 0 && t.pending.Load() == 0 }
	wg.Go(func() { errs <- t.streamer.Run(tctx, t.start, txns) })
	wg.Go(func() { errs <- t.batcher.run(tctx, txns, prepared) })
	wg.Go(func() { t.sender.run(tctx, prepared, sent) })
	err = t.checkpointer.run(tctx, sent, errs)
	return t.checkpointer.finish(ctx, tctx, err)
}

// term is one term's roles, built once the lease is held.
type term struct {
	start        position.Position
	streamer     *Streamer
	batcher      *batcher
	sender       *sender
	checkpointer *checkpointer
	// pending counts the batches taken from the streamer and not yet
	// handled by the checkpointer.
	pending atomic.Int32
}

// newTerm resolves the mapping and the start position, checks the start,
// builds the roles and resumes the sweeps a crash or a lost lease cut
// short; the sweeps' goroutines join wg.
func (l *leader) newTerm(ctx context.Context, wg *sync.WaitGroup) (*term, error) {
	cfg, met, log := l.cfg, l.met, l.log
	mapping, err := codec.Resolve(ctx, l.db, cfg.Mapping)
	if err != nil {
		return nil, err
	}
	start, from, err := startPosition(ctx, cfg, l.opts, l.ckp, l.ddb, l.in)
	if err != nil {
		return nil, err
	}
	if err := l.in.CheckStart(ctx, start); err != nil {
		return nil, err
	}
	log.Info("streaming", "from", from, "after", start.String(), "table", mapping.Table, "server_id", l.addr.ServerID)

	t := &term{start: start}
	readLag := met.lag.WithLabelValues("read")
	t.streamer = NewStreamer(StreamerDeps{
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
	applier := NewApplier(writer, publisher, l.ckp, cfg.Events.Rules, cfg.TombstoneTTL, l.env.Now, log).WithEvents(cfg.Events.Source, cfg.Events.Bus)
	sweeper := NewSweeper(newFencedDynamoDB(l.ddb, l.lease.Wait), l.ddb, cfg.Table, cfg.ControlTable, l.lease.pk,
		log.With("component", "sweeper"), func(n int) { met.swept.Add(float64(n)) })
	sweep := func(sw Sweep) {
		wg.Go(func() {
			sweeper.Keep(ctx, sw, retry.Policy{Base: time.Second, Cap: 30 * time.Second, Sleep: l.env.Sleep}.Wait)
		})
	}
	// Sweeps a crash or a lost lease cut short resume from their cursor.
	pending, err := sweeper.Pending(ctx)
	if err != nil {
		return nil, err
	}
	for _, sw := range pending {
		sweep(sw)
	}
	// A failed batch (or prepare) is tried again under retry.Batches()
	// with apply.retries more attempts.
	batchRetry := retry.Batches()
	batchRetry.MaxAttempts, batchRetry.Sleep = cfg.Apply.Retries+1, l.env.Sleep
	slots := make(chan struct{}, cfg.Apply.InFlight)
	t.batcher = &batcher{applier: applier, cfg: cfg.Apply, retry: batchRetry, failed: met.errors.WithLabelValues("prepare"), log: log, pending: &t.pending}
	t.sender = &sender{applier: applier, lease: l.lease, retry: batchRetry, now: l.env.Now,
		failed: met.errors.WithLabelValues("apply"), acked: met.sent, log: log, slots: slots}
	t.checkpointer = &checkpointer{store: l.ckp, lease: l.lease, sweeper: sweeper, sweep: sweep, interval: cfg.CheckpointInterval,
		now: l.env.Now, met: met, log: log, slots: slots, pending: &t.pending}
	return t, nil
}

// startPosition is the checkpoint, else --from, else the backfill's
// recorded position, else (with FromNow) the source's current one, in
// mysql.epoch. A raised epoch (a failover the positions cannot follow)
// sets the checkpoint aside: the operator names the new source's position
// with --from (docs/positions.md, Failover).
func startPosition(ctx context.Context, cfg Config, opts Options, ckp *CheckpointStore, api control.ItemGetter, in *Inspector) (position.Position, string, error) {
	epoch := cfg.MySQL.Epoch
	cp, ok, err := ckp.Load(ctx)
	if err != nil {
		return position.Position{}, "", err
	}
	switch {
	case ok && cp.Pos.Epoch > epoch:
		return position.Position{}, "", fmt.Errorf("mysql.epoch is %d but the checkpoint %s is of epoch %d: an epoch is only ever raised; set mysql.epoch to %d or more", epoch, cp.Pos, cp.Pos.Epoch, cp.Pos.Epoch)
	case ok && cp.Pos.Epoch == epoch:
		return cp.Pos, "checkpoint", nil
	case ok && opts.From == "":
		return position.Position{}, "", fmt.Errorf("mysql.epoch was raised to %d past the checkpoint %s: start once with --from <the new source's position> (docs/positions.md, Failover)", epoch, cp.Pos)
	}
	if opts.From != "" {
		p, err := position.Parse(opts.From)
		return p.InEpoch(max(p.Epoch, epoch)), "--from", err
	}
	p, ok, err := control.LoadBackfillStart(ctx, api, cfg.ControlTable, cfg.backfillJob())
	if err != nil {
		return position.Position{}, "", err
	}
	if ok {
		return p.InEpoch(max(p.Epoch, epoch)), "backfill " + cfg.backfillJob(), nil
	}
	if opts.FromNow {
		p, err := position.Current(ctx, in.db)
		return p.InEpoch(epoch), "now", err
	}
	return position.Position{}, "", ErrNoStart
}
