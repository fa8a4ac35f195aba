package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/anycompany/strangler/internal/clock"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/internal/tracing"
	"github.com/anycompany/strangler/proxy/plan"
)

// Deps are what a Server needs beside its Config.
type Deps struct {
	// Logger receives every log line. Required.
	Logger *slog.Logger
	// Reload re-reads the whole configuration (file, env, flags) for a live
	// reload. Optional: nil disables reloads.
	Reload func() (Config, error)
	// ConfigFile is the file whose changes trigger Reload. Optional.
	ConfigFile string
	// DynamoDB is the control table's client. Optional: built from
	// Config.DynamoDB when control.table is set.
	DynamoDB ddbClient
	// Now is the clock. Optional: defaults to time.Now.
	Now func() time.Time
	// PlanTick is how often running plans are evaluated. Optional: defaults to 1s.
	PlanTick time.Duration
	// HistoryEvery is how often the figures of each route and write group
	// are sampled for GET /admin/routes/{route}/history (the last 360
	// samples are kept). Optional: defaults to 10s (an hour).
	HistoryEvery time.Duration
	// Owner names this replica in the plan lease. Optional: defaults to
	// host:pid/<random>, unique per Server.
	Owner string
	// Tracer makes each proxied request a server span, continuing the
	// client's traceparent, and forwards the span's traceparent to the
	// backend (internal/tracing). Optional: nil, not traced (a client's
	// traceparent is forwarded as it came).
	Tracer trace.TracerProvider
}

// uniqueOwner is host:pid plus a random suffix, so that two Servers in one
// process (tests, embedding) are two lease owners.
func uniqueOwner() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return control.Owner() + "/" + hex.EncodeToString(b)
}

// ddbClient is what the server needs of DynamoDB: the control table's calls
// and table creation.
type ddbClient interface {
	ddbAPI
	ddbtable.API
}

// Server is the strangler proxy: the proxied order API (Handler), the admin
// API (AdminHandler) and the loops behind them (Run). Make one with BackendNew;
// never copy one.
type Server struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	reg      *prometheus.Registry
	metrics  *Metrics
	stats    *Stats
	sw       *Switch
	proxy    *Proxy
	admin    *Admin
	plans    *plan.Controller
	keeper   *planKeeper
	mirrors  *mirrorSet
	breaker  *Breaker
	pool     *bufferPool
	reloader *Reloader
	mirrorMu sync.Mutex // serialises mirror updates (start, reloads)

	backends atomic.Pointer[backendSet] // upstreams and their health checkers in force
	health   healthRunner
	poll     atomic.Int64 // control.poll, live
	drain    atomic.Int64 // shutdown_timeout, live

	cfgMu sync.Mutex // serialises reloads; guards cfg
}

// New builds a Server: it creates the control table when missing and loads
// the persisted routing state.
func New(ctx context.Context, cfg Config, deps Deps) (*Server, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.PlanTick == 0 {
		deps.PlanTick = time.Second
	}
	if deps.HistoryEvery == 0 {
		deps.HistoryEvery = defaultHistoryEvery
	}
	log := deps.Logger.With("component", "proxy")
	s := &Server{cfg: cfg, deps: deps, log: log, reg: prometheus.NewRegistry()}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = NewMetrics(s.reg)
	s.stats = NewStats(s.metrics, deps.Now)

	var (
		states   StateStore
		pins     PinStore
		plans    PlanStore
		leaseAPI control.LeaseAPI
	)
	if cfg.Control.Table == "" {
		log.Warn("control.table is empty: routing state, pins and audit stay in memory (one replica, lost on restart)")
		mem := NewMemoryStore()
		mem.MaxPins = cfg.Idempotency.CacheSize
		states, pins, plans = mem, mem, mem
	} else {
		api := deps.DynamoDB
		if api == nil {
			c, err := cfg.DynamoDB.DynamoDB(ctx)
			if err != nil {
				return nil, err
			}
			api = c
		}
		spec := control.Spec(cfg.Control.Table)
		spec.TTLAttribute = TTLAttribute
		if _, err := ddbtable.Ensure(ctx, api, spec); err != nil {
			return nil, fmt.Errorf("ensuring control table: %w", err)
		}
		ct := NewControlTable(api, cfg.Control.Table, cfg.Control.Name)
		states, pins, plans, leaseAPI = ct, ct, ct, api
	}

	for _, g := range cfg.WriteGroups {
		if g.CDCStatus == "" {
			log.Warn("write group without cdc_status: it can be raised whatever the cdc's lag (experiments only)", "group", g.Name)
		}
	}
	sw, err := NewSwitch(cfg.Routes, cfg.WriteGroups, CDCGate{}, states, s.stats, s.metrics, deps.Now, deps.Logger.With("component", "switch"))
	if err != nil {
		return nil, err
	}
	if err := sw.Load(ctx); err != nil {
		return nil, fmt.Errorf("loading routing state: %w", err)
	}
	s.sw = sw

	s.proxy = &Proxy{
		sw: sw, forceToken: []byte(cfg.Force.Token.Reveal()), now: deps.Now, sleep: clock.Sleep, log: log, refused: s.metrics.refused,
		pins: NewPinner(pins, cfg.Idempotency, deps.Now, s.metrics, log),
	}
	s.proxy.maxBody.Store(cfg.MaxBodyBytes)
	s.proxy.bodyTimeout.Store(int64(cfg.BodyTimeout))
	s.poll.Store(int64(cfg.Control.Poll))
	s.drain.Store(int64(cfg.ShutdownTimeout))
	s.pool = &bufferPool{}
	bs, err := s.newBackendSet(cfg)
	if err != nil {
		return nil, err
	}
	s.backends.Store(bs)
	s.proxy.ups.Store(bs.ups)

	circuit := s.metrics.circuit.WithLabelValues(string(BackendNew))
	s.breaker = NewBreaker(cfg.Circuit, deps.Now, func(st CircuitState) {
		circuit.Set(float64(st))
		log.Warn("circuit of the new backend changed", "state", st.String())
	})
	s.proxy.newAvail = &availability{health: func() bool { return s.backends.Load().health[1].Healthy() }, breaker: s.breaker}

	s.mirrors = newMirrorSet(bs.ups.new.transport, bs.ups.legacy.transport, bs.ups.new.url, bs.ups.legacy.url, deps.Logger)
	s.proxy.mirrors = s.mirrors
	s.plans = plan.NewController(planObserver{stats: s.stats, members: sw.members}, sw, deps.Now, deps.Logger, s.reg)
	routeNames := sw.Units
	var lease *control.Lease
	if leaseAPI != nil {
		owner := deps.Owner
		if owner == "" {
			owner = uniqueOwner()
		}
		lease = control.NewLease(leaseAPI, cfg.Control.Table, "proxy#"+cfg.Control.Name, "lease#plans", owner, cfg.Control.PlanLease, deps.Now)
	}
	s.keeper = newPlanKeeper(s.plans, plans, lease, routeNames, deps.Now, deps.Logger.With("component", "plans"))
	if lease == nil {
		// One replica, state in memory: it drives the plans from the start.
		if err := s.keeper.restore(ctx, routeNames()); err != nil {
			return nil, fmt.Errorf("restoring plans: %w", err)
		}
	} else {
		// Try the lease once now, so that a lone replica drives (and a
		// restarted one resumes) its plans as soon as it is built; Run keeps
		// renewing it.
		s.keeper.leaseOnce(ctx)
	}
	s.admin = &Admin{
		token: []byte(cfg.Admin.Token.Reveal()), sw: sw, stats: s.stats, hist: NewHistory(s.stats, deps.Now, deps.HistoryEvery, historySamples), plans: s.keeper, diffs: s.mirrors.Report,
		backend: s.backendStatus, gather: prometheus.Gatherers{s.reg, s.mirrors}, now: deps.Now, log: deps.Logger.With("component", "admin"),
	}
	if deps.Reload != nil && deps.ConfigFile != "" && cfg.ReloadInterval > 0 {
		s.reloader = NewReloader(deps.ConfigFile, cfg, deps.Reload, s.applyConfig, s.metrics, deps.Logger.With("component", "reload"))
	}
	return s, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// availability is the new backend's: healthy and let through by its breaker.
type availability struct {
	health  func() bool
	breaker *Breaker
}

func (a *availability) Allow() bool        { return a.health() && a.breaker.Allow() }
func (a *availability) Record(failed bool) { a.breaker.Record(failed) }

// planObserver answers the plan controller from the proxy's figures: a
// write group's are its member routes' together.
type planObserver struct {
	stats   *Stats
	members func(name string) []string
}

var _ plan.Observer = planObserver{}

func (o planObserver) Window(route, backend string, since time.Time) plan.Window {
	names := []string{route}
	if m := o.members(route); m != nil {
		names = m
	}
	ws := o.stats.Window(Backend(backend), since, names...)
	return plan.Window{Requests: ws.Requests, Errors5xx: ws.Errors5xx, P99: ws.P99}
}

var _ plan.Setter = (*Switch)(nil)

func (s *Server) backendStatus() []BackendStatus {
	bs := s.backends.Load()
	return []BackendStatus{
		{Name: BackendLegacy, URL: bs.ups.legacy.url.String(), Healthy: bs.health[0].Healthy()},
		{Name: BackendNew, URL: bs.ups.new.url.String(), Healthy: bs.health[1].Healthy(), Circuit: s.breaker.State().String()},
	}
}

// Handler returns the proxied order API, traced when Deps.Tracer records.
func (s *Server) Handler() http.Handler {
	if !tracing.Enabled(s.deps.Tracer) {
		return s.proxy
	}
	return tracing.Handler(s.deps.Tracer, "strangler/proxy", s.proxy)
}

// AdminHandler returns the admin API.
func (s *Server) AdminHandler() http.Handler { return s.admin.Handler() }

// Switch returns the routing state owner (for tests and embedding).
func (s *Server) Switch() *Switch { return s.sw }

// Reload reloads the configuration once (as the file watcher does), for
// tests and SIGHUP-style triggers. It reports whether it was applied.
func (s *Server) Reload(ctx context.Context) bool {
	if s.reloader == nil {
		return false
	}
	return s.reloader.Reload(ctx)
}

// Run runs the loops behind the handlers until ctx ends: health checks,
// shadow mirrors, plan ticks, control table sync and config reloads.
func (s *Server) Run(ctx context.Context) error {
	s.mirrorMu.Lock()
	s.mirrors.apply(ctx, s.sw.currentFile())
	s.mirrorMu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	s.health.start(gctx, s.backends.Load())
	defer s.health.stop()
	if s.cfg.Control.Table != "" {
		g.Go(func() error {
			return s.sw.RunSync(gctx, func() time.Duration { return time.Duration(s.poll.Load()) })
		})
	}
	if s.reloader != nil {
		g.Go(func() error { return s.reloader.Run(gctx) })
	}
	g.Go(func() error { return s.keeper.runLease(gctx) })
	g.Go(func() error { return s.admin.hist.Run(gctx, s.sw.historyUnits) })
	g.Go(func() error {
		t := time.NewTicker(s.deps.PlanTick)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				s.keeper.tick(gctx)
			}
		}
	})
	err := g.Wait()
	s.mirrors.wait()
	return err
}

// Run serves the proxy and its admin API until ctx ends, then drains.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	tuneRuntime(cfg, deps.Logger)
	s, err := New(ctx, cfg, deps)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Run(gctx) })
	g.Go(func() error {
		// Streamed bodies: no fixed read/write deadline, but request bodies
		// have body_timeout (Proxy.ServeHTTP) and connections max_conns; a
		// stalled backend is bounded by transport.response_header_timeout.
		drain := func() time.Duration { return time.Duration(s.drain.Load()) }
		return httpserver.ServeStreams(gctx, httpserver.Listener{Addr: cfg.Listen, TLS: cfg.TLS}, s.Handler(), drain, cfg.MaxConns, s.log.With("listener", "proxy"))
	})
	g.Go(func() error {
		return httpserver.Serve(gctx, httpserver.Listener{Addr: cfg.Admin.Listen, TLS: cfg.Admin.TLS}, s.AdminHandler(), cfg.ShutdownTimeout, s.log.With("listener", "admin"))
	})
	return g.Wait()
}

// tuneRuntime applies gomaxprocs, gogc and memory_limit_bytes; the GOGC and
// GOMEMLIMIT environment variables win over the file, as the runtime's own
// knobs should.
func tuneRuntime(cfg Config, logger *slog.Logger) {
	switch {
	case cfg.GOMAXPROCS > 0:
		runtime.GOMAXPROCS(cfg.GOMAXPROCS)
	case os.Getenv("GOMAXPROCS") == "":
		runtime.SetDefaultGOMAXPROCS() // a reload back to 0
	}
	gogc, limit := os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT")
	if gogc == "" {
		debug.SetGCPercent(cfg.GOGC)
		gogc = strconv.Itoa(cfg.GOGC)
	}
	if limit == "" {
		if cfg.MemoryLimitBytes > 0 {
			debug.SetMemoryLimit(cfg.MemoryLimitBytes)
		} else {
			debug.SetMemoryLimit(math.MaxInt64) // none
		}
		limit = strconv.FormatInt(cfg.MemoryLimitBytes, 10)
	}
	logger.Info("runtime tuned", "component", "proxy", "gomaxprocs", runtime.GOMAXPROCS(0), "gogc", gogc, "memory_limit", limit)
}

// Plans returns the plan controller (for tests and embedding).
func (s *Server) Plans() *plan.Controller { return s.plans }
