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
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/internal/clock"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/migrator"
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
		batch:     prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strangler_cdc_batch_seconds", Help: "Time to apply one batch to both sinks.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		calls:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strangler_cdc_calls_total", Help: "SDK calls by sink."}, []string{"sink"}),
		leader:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "strangler_cdc_leader", Help: "1 while this process holds the lease."}),
		tagged: prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_cdc_tagged_transactions_skipped_total",
			Help: "Source transactions written by strangler syncback (they hold a row of skip_marker_table): read and checkpointed, but neither written nor published (the new service already did both)."}),
	}
	reg.MustRegister(m.lag, m.changes, m.txns, m.events, m.written, m.skipped, m.dead, m.errors, m.reconnect, m.batch, m.calls, m.leader, m.tagged)
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
// then streams from its start position, applying and checkpointing.
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
	mapping, err := codec.Resolve(ctx, db, cfg.Mapping)
	if err != nil {
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

	lease := NewLease(ddb, cfg.ControlTable, cfg.name(), owner, cfg.Lease.TTL, env.Now)
	ckp := NewCheckpointer(lease)
	for waited := false; ; waited = true {
		ok, err := lease.Acquire(ctx)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		if !waited {
			st, _, _ := loadLease(ctx, ddb, cfg.ControlTable, lease.pk)
			log.Info("standby: another cdc holds the lease; waiting", "holder", st.Owner, "until", st.Until)
		}
		if err := env.Sleep(ctx, cfg.Lease.TTL/4); err != nil {
			return err
		}
	}
	met.leader.Set(1)
	defer met.leader.Set(0)
	log.Info("lease taken", "owner", owner)
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = lease.Release(rctx)
	}()

	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		for {
			if err := env.Sleep(rctx, cfg.Lease.TTL/3); err != nil {
				return
			}
			if err := lease.Renew(rctx); err != nil {
				if rctx.Err() == nil {
					log.Error("lease renewal failed; stopping", "err", err)
					met.errors.WithLabelValues("lease").Inc()
					cancel(err)
				}
				return
			}
		}
	}()

	start, from, err := startPosition(rctx, cfg, opts, ckp, ddb, in)
	if err != nil {
		return err
	}
	if err := in.CheckStart(rctx, start); err != nil {
		return err
	}
	log.Info("streaming", "from", from, "after", start.String(), "table", mapping.Table, "server_id", addr.ServerID)

	streamer := NewStreamer(StreamerDeps{
		Addr: addr, DB: db, MappingConfig: cfg.Mapping, Mapping: mapping, Logger: log.With("component", "streamer"),
		Sleep: env.Sleep, MaxBackoff: cfg.MySQL.Reconnect,
		OnRead: func(t Txn) {
			met.lag.WithLabelValues("read").Set(max(0, env.Now().Sub(t.Time).Seconds()))
			if t.Tagged {
				met.tagged.Inc()
			}
		},
		SkipMarkerTable: cfg.SkipMarkerTable,
		OnReconnect:     func(error) { met.reconnect.Inc(); met.errors.WithLabelValues("read").Inc() },
	})
	writer := guard.NewWriter(ddb, cfg.Table, cfg.Apply.WriteMode, guard.Options{Concurrency: cfg.Apply.WriteConcurrency})
	publisher := events.NewPublisher(eb, events.PublisherOptions{
		Source: cfg.Events.Source, Bus: cfg.Events.Bus, Concurrency: cfg.Events.Concurrency,
		MaxAttempts: cfg.Events.MaxAttempts, DeadLetters: ckp, Logger: log.With("component", "publisher"),
	})
	applier := NewApplier(writer, publisher, ckp, cfg.Events.Rules, cfg.TombstoneTTL, env.Now, log)

	txns := make(chan Txn, 8) // read-ahead while a batch is applied; bounds memory
	serr := make(chan error, 1)
	go func() { serr <- streamer.Run(rctx, start, txns) }()

	var (
		acked     *Txn
		saved     position.Position
		lastSave  time.Time
		batchSize int
	)
	save := func(ctx context.Context) error {
		if acked == nil || acked.Pos == saved {
			return nil
		}
		if err := ckp.Save(ctx, Checkpoint{Pos: acked.Pos, CommitTime: acked.Time}); err != nil {
			met.errors.WithLabelValues("checkpoint").Inc()
			return err
		}
		saved, lastSave = acked.Pos, env.Now()
		met.lag.WithLabelValues("checkpoint").Set(max(0, env.Now().Sub(acked.Time).Seconds()))
		return nil
	}
	finish := func(err error) error {
		sctx, c := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer c()
		if context.Cause(rctx) == nil || !errors.Is(context.Cause(rctx), ErrLeaseLost) {
			if serr := save(sctx); serr != nil && err == nil {
				err = serr
			}
		}
		if cause := context.Cause(rctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause
		}
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// When the source goes quiet, the last acknowledged transaction is
	// still checkpointed once the interval has passed.
	flush := time.NewTicker(max(cfg.CheckpointInterval, 100*time.Millisecond))
	defer flush.Stop()
	for {
		var batch []Txn
		select {
		case t := <-txns:
			batch, batchSize = append(batch, t), len(t.Changes)
		case <-flush.C:
			if env.Now().Sub(lastSave) >= cfg.CheckpointInterval {
				if err := save(rctx); err != nil {
					return finish(err)
				}
			}
			if len(txns) == 0 && (acked == nil || acked.Pos == saved) {
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
		case <-rctx.Done():
			return finish(nil)
		}
		deadline := time.NewTimer(cfg.Apply.Window)
	collect:
		for batchSize < cfg.Apply.MaxBatch {
			select {
			case t := <-txns:
				batch = append(batch, t)
				batchSize += len(t.Changes)
			case <-deadline.C:
				break collect
			}
		}
		deadline.Stop()
		began := env.Now()
		var res ApplyResult
		for attempt, wait := 0, 250*time.Millisecond; ; attempt++ {
			res, err = applier.Apply(rctx, batch)
			if err == nil || rctx.Err() != nil {
				break
			}
			met.errors.WithLabelValues("apply").Inc()
			if attempt >= cfg.Apply.Retries {
				return finish(fmt.Errorf("applying transactions up to %s, %d attempts: %w", batch[len(batch)-1].Pos, attempt+1, err))
			}
			// Both sinks take the batch again: the guard keeps DynamoDB exact,
			// repeated events keep their ids.
			log.Warn("applying a batch failed; applying it again", "attempt", attempt+1, "wait", wait, "err", err)
			if serr := env.Sleep(rctx, wait); serr != nil {
				break
			}
			wait = min(2*wait, 10*time.Second)
		}
		met.batch.Observe(env.Now().Sub(began).Seconds())
		if err != nil {
			return finish(err)
		}
		last := batch[len(batch)-1]
		acked = &last
		met.txns.Add(float64(res.Txns))
		for _, t := range batch {
			for _, c := range t.Changes {
				met.changes.WithLabelValues(string(c.Kind)).Inc()
			}
		}
		met.events.Add(float64(res.Events.Accepted))
		met.written.Add(float64(res.Written))
		met.skipped.Add(float64(res.Skipped + res.Coalesced))
		met.dead.Add(float64(res.Dead + res.Events.Dead))
		met.calls.WithLabelValues("dynamodb").Add(float64(res.WriteCall))
		met.calls.WithLabelValues("eventbridge").Add(float64(res.Events.Calls))
		met.lag.WithLabelValues("applied").Set(max(0, env.Now().Sub(last.Time).Seconds()))
		if env.Now().Sub(lastSave) >= cfg.CheckpointInterval {
			if err := save(rctx); err != nil {
				return finish(err)
			}
		}
	}
}

// startPosition is the checkpoint, else --from, else the backfill's
// recorded position, else (with FromNow) the source's current one.
func startPosition(ctx context.Context, cfg Config, opts Options, ckp *Checkpointer, api migrator.ControlAPI, in *Inspector) (position.Position, string, error) {
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
	js, ok, err := migrator.NewJobStore(api, cfg.ControlTable, cfg.backfillJob(), nil).Job(ctx)
	if err != nil {
		return position.Position{}, "", err
	}
	if ok && js.StartPosSet {
		return js.StartPos, "backfill " + cfg.backfillJob(), nil
	}
	if opts.FromNow {
		p, err := in.Current(ctx)
		return p, "now", err
	}
	return position.Position{}, "", ErrNoStart
}
