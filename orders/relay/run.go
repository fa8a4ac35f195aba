package relay

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/internal/clock"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/internal/retry"
	"github.com/anycompany/strangler/orders/outbox"
)

// Env is what Run needs besides its config.
type Env struct {
	// Log receives the relay's logs. Required.
	Log *slog.Logger
	// Now is the clock. Optional: time.Now.
	Now func() time.Time
	// Sleep waits (polling, backoff, lease renewal). Optional: a timer.
	Sleep func(context.Context, time.Duration) error
	// Registry receives the metrics. Optional: a new one, served on
	// cfg.MetricsListen.
	Registry *prometheus.Registry
	// Tracer records a span per published record that carries a
	// traceparent (internal/tracing). Optional: nil, not traced.
	Tracer trace.TracerProvider
}

// metrics are the relay's Prometheus metrics.
type metrics struct {
	published prometheus.Counter
	dead      prometheus.Counter
	errors    *prometheus.CounterVec
	backlog   *prometheus.GaugeVec
	lag       *prometheus.GaugeVec
	delay     prometheus.Histogram
	calls     *prometheus.CounterVec
	held      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_relay_events_published_total", Help: "Outbox records accepted by EventBridge (a record republished after a crash counts again)."}),
		dead:      prometheus.NewCounter(prometheus.CounterOpts{Name: "strangler_relay_dead_letters_total", Help: "Outbox records moved to dead letters (pk dead) because the bus can never accept them."}),
		errors:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strangler_relay_errors_total", Help: "Failed passes by stage: read, publish, delete, lease."}, []string{"stage"}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "strangler_relay_backlog_age_seconds",
			Help: "Per held shard: now minus the created time of the oldest record in the outbox at the last poll; 0 when the shard is empty."}, []string{"shard"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "strangler_relay_lag_seconds",
			Help: "Per held shard: acceptance time minus created time of the newest record of the last page published; 0 when the shard is empty."}, []string{"shard"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strangler_relay_publish_delay_seconds",
			Help: "Per published page: acceptance by the bus minus the created time of its oldest record (the page's longest wait).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strangler_relay_calls_total", Help: "SDK calls by kind: query, put_events, batch_delete."}, []string{"kind"}),
		held:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "strangler_relay_shards_held", Help: "Outbox shards whose lease this relay holds."}),
	}
	reg.MustRegister(m.published, m.dead, m.errors, m.backlog, m.lag, m.delay, m.calls, m.held)
	return m
}

// progress counts for the periodic progress log.
type progress struct {
	published, dead atomic.Int64
}

// Run runs the relay until ctx ends: it takes the leases of the shards it
// can (up to cfg.MaxShards), publishes each held shard in its own loop, and
// renews its leases every lease.ttl/3; a shard whose lease is lost stops at
// once. On return the leases are released, so another relay takes over
// without waiting for them to expire.
func Run(ctx context.Context, cfg Config, env Env) error {
	log := env.Log.With("component", "relay")
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
		httpserver.ServeMetrics(ctx, httpserver.Listener{Addr: cfg.MetricsListen, TLS: cfg.MetricsTLS}, reg, log)
	}
	met := newMetrics(reg)

	ddb, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return err
	}
	eb, err := cfg.EventBridge.EventBridge(ctx)
	if err != nil {
		return err
	}
	// The order service creates the table too; whoever starts first wins.
	if _, err := ddbtable.Ensure(ctx, ddb, outbox.Spec(cfg.Table)); err != nil {
		return fmt.Errorf("the service table: %w", err)
	}
	if _, err := ddbtable.Ensure(ctx, ddb, control.Spec(cfg.ControlTable)); err != nil {
		return fmt.Errorf("the control table (dead letters): %w", err)
	}
	reg.MustRegister(deadletter.NewCollector(deadletter.NewStore(ddb, cfg.ControlTable, env.Now), deadletter.Relay))
	store := NewStore(ddb, cfg.Table, cfg.ControlTable, env.Sleep, env.Now)
	dead := NewDeadLetters(store)
	pub := events.NewPublisher(eb, events.PublisherOptions{
		Source: cfg.Events.Source, Bus: cfg.Events.Bus, Concurrency: cfg.Events.Concurrency,
		Retry: retry.Policy{MaxAttempts: cfg.Events.MaxAttempts, Sleep: env.Sleep}, DeadLetters: dead, Logger: log.With("component", "publisher"),
	})
	r := &runner{
		cfg: cfg, env: env, log: log, met: met, prog: &progress{},
		relay:  NewRelay(store, pub, dead, cfg.Poll.PageSize, env.Tracer, log),
		leases: NewLeases(ddb, cfg.Table, owner, cfg.Lease.TTL, env.Now),
	}
	log.Info("relay starting", "table", cfg.Table, "shards", cfg.Shards, "max_shards", cfg.MaxShards, "owner", owner,
		"source", cfg.Events.Source, "bus", cfg.Events.Bus)
	return r.run(ctx)
}

// runner is one Run's state: the shards it holds and their loops.
type runner struct {
	cfg    Config
	env    Env
	log    *slog.Logger
	met    *metrics
	prog   *progress
	relay  *Relay
	leases *Leases
}

// held is one shard this process holds: its loop and until when its lease
// runs (Unix milliseconds; the loop publishes only before it).
type held struct {
	until  atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *runner) run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	pctx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	if r.cfg.ProgressInterval > 0 {
		wg.Go(func() { r.progressLoop(pctx) })
	}

	shards := map[int]*held{}
	defer func() {
		for _, h := range shards {
			h.cancel()
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		for n, h := range shards {
			<-h.done
			if err := r.leases.Release(rctx, n); err != nil {
				r.log.Warn("releasing a shard lease failed; another relay takes it over once it expires", "shard", n, "err", err)
			}
		}
		r.met.held.Set(0)
	}()
	// Start at a shard derived from the owner, so relays limited by
	// max_shards spread over the shards instead of all racing for shard 0.
	h := fnv.New32a()
	h.Write([]byte(r.leases.owner))
	first := int(h.Sum32() % uint32(r.cfg.Shards))
	limit := r.cfg.MaxShards
	if limit == 0 {
		limit = r.cfg.Shards
	}
	for {
		for i := range r.cfg.Shards {
			n := (first + i) % r.cfg.Shards
			s, mine := shards[n]
			if !mine && len(shards) >= limit {
				continue
			}
			until, ok, err := r.leases.Acquire(ctx, n)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				// The loops stop publishing on their own once the lease
				// runs out; a later round may renew it.
				r.met.errors.WithLabelValues("lease").Inc()
				r.log.Warn("lease call failed", "shard", n, "err", err)
			case ok && mine:
				s.until.Store(until.UnixMilli())
			case ok:
				s = &held{done: make(chan struct{})}
				s.until.Store(until.UnixMilli())
				sctx, cancel := context.WithCancel(ctx)
				s.cancel = cancel
				shards[n] = s
				r.met.held.Set(float64(len(shards)))
				r.log.Info("shard taken", "shard", n)
				go func() {
					defer close(s.done)
					r.shardLoop(sctx, n, s)
				}()
			case mine:
				r.log.Warn("shard lease lost to another relay; stopping it", "shard", n)
				s.cancel()
				<-s.done
				delete(shards, n)
				r.met.held.Set(float64(len(shards)))
				r.met.backlog.DeleteLabelValues(strconv.Itoa(n))
				r.met.lag.DeleteLabelValues(strconv.Itoa(n))
			}
		}
		if err := r.env.Sleep(ctx, r.cfg.Lease.TTL/3); err != nil {
			return nil
		}
	}
}

// shardLoop publishes shard n while its lease holds: a full page is
// followed at once by the next, an empty one waits (50ms doubling to 1s by
// default), a failure backs off and reads the shard again from its oldest
// record.
func (r *runner) shardLoop(ctx context.Context, n int, s *held) {
	label := strconv.Itoa(n)
	log := r.log.With("shard", n)
	idle, failures := r.cfg.Poll.MinInterval, 0
	pause := retry.Policy{Base: r.cfg.Poll.MinInterval, Cap: r.cfg.Poll.ErrorBackoff}
	for ctx.Err() == nil {
		if r.env.Now().UnixMilli() >= s.until.Load() {
			// Not renewed in time (DynamoDB unreachable?): another relay may
			// take the shard now; wait for the renewal.
			if r.env.Sleep(ctx, r.cfg.Poll.MinInterval) != nil {
				return
			}
			continue
		}
		res, err := r.relay.Pass(ctx, n)
		r.count(label, res)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.met.errors.WithLabelValues(stageOf(res)).Inc()
			failures++
			wait := pause.Backoff(failures)
			log.Warn("outbox pass failed; reading the shard again after a pause", "wait", wait, "err", err)
			if r.env.Sleep(ctx, wait) != nil {
				return
			}
			continue
		}
		failures = 0
		if res.Full {
			idle = r.cfg.Poll.MinInterval
			continue
		}
		if res.Read > 0 {
			idle = r.cfg.Poll.MinInterval
		}
		if r.env.Sleep(ctx, idle) != nil {
			return
		}
		if res.Read == 0 {
			idle = min(2*idle, r.cfg.Poll.MaxInterval)
		}
	}
}

// stageOf names the stage a failed pass stopped in.
func stageOf(res PassResult) string {
	switch {
	case res.Read == 0:
		return "read"
	case res.DeleteCalls > 0:
		return "delete"
	}
	return "publish"
}

// count records a pass in the metrics and the progress.
func (r *runner) count(shard string, res PassResult) {
	now := r.env.Now()
	r.met.calls.WithLabelValues("query").Inc()
	r.met.calls.WithLabelValues("put_events").Add(float64(res.Calls))
	r.met.calls.WithLabelValues("batch_delete").Add(float64(res.DeleteCalls))
	r.met.dead.Add(float64(res.Dead))
	r.prog.dead.Add(int64(res.Dead))
	if res.Read == 0 {
		r.met.backlog.WithLabelValues(shard).Set(0)
		r.met.lag.WithLabelValues(shard).Set(0)
		return
	}
	if !res.Oldest.IsZero() {
		r.met.backlog.WithLabelValues(shard).Set(max(0, now.Sub(res.Oldest).Seconds()))
	}
	if res.Published > 0 {
		r.met.published.Add(float64(res.Published))
		r.prog.published.Add(int64(res.Published))
		r.met.lag.WithLabelValues(shard).Set(max(0, now.Sub(res.Newest).Seconds()))
		r.met.delay.Observe(max(0, now.Sub(res.Oldest).Seconds()))
	}
}

// progressLoop logs progress at Info every progress_interval while records
// are being published.
func (r *runner) progressLoop(ctx context.Context) {
	var lastPub, lastDead int64
	last := r.env.Now()
	for r.env.Sleep(ctx, r.cfg.ProgressInterval) == nil {
		pub, dead := r.prog.published.Load(), r.prog.dead.Load()
		now := r.env.Now()
		if pub != lastPub || dead != lastDead {
			secs := now.Sub(last).Seconds()
			r.log.Info("relay progress", "published", pub, "dead_letters", dead,
				"per_second", float64(pub-lastPub)/max(secs, 0.001))
		}
		lastPub, lastDead, last = pub, dead, now
	}
}
