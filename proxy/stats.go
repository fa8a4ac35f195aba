package proxy

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the proxy's Prometheus collectors, registered on the
// registry given to NewMetrics (never the global one). Never copy one.
type Metrics struct {
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	circuit  *prometheus.GaugeVec
	healthy  *prometheus.GaugeVec
	reloads  *prometheus.CounterVec
	changes  *prometheus.CounterVec
	weight   *prometheus.GaugeVec
	pins     *prometheus.CounterVec
	retries  prometheus.Counter
	refused  *prometheus.CounterVec
}

// NewMetrics registers the proxy's collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxy_requests_total",
			Help: "Requests answered, by route, backend and status class (499: the client went away)."}, []string{"route", "backend", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxy_errors_total",
			Help: "Requests answered with a 5xx (backend or proxy), by route and backend."}, []string{"route", "backend"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "proxy_request_duration_seconds",
			Help:    "Time from the request's arrival to the end of its response, by route and backend.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"route", "backend"}),
		circuit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "proxy_circuit_state",
			Help: "Circuit breaker state of a backend: 0 closed, 1 half-open, 2 open."}, []string{"backend"}),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "proxy_backend_healthy",
			Help: "1 when the backend's active health check passes."}, []string{"backend"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxy_config_reloads_total",
			Help: "Live reloads of the config file, by result (applied, refused)."}, []string{"result"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxy_route_changes_total",
			Help: "Route state changes applied, by route and origin (admin, plan, file, sync)."}, []string{"route", "origin"}),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "proxy_route_weight_percent",
			Help: "Current weight of a route, in percent of sticky buckets sent to new."}, []string{"route", "mode"}),
		pins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxy_idempotency_pins_total",
			Help: "Idempotency-Key pin lookups, by result (cached, created, existing; fail_open: the store failed or missed idempotency.pin_budget and the request went by its sticky bucket; behind: written without waiting, on a route that sends nothing to new; behind_failed: such a write failed)."}, []string{"result"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "proxy_retries_total",
			Help: "Backend attempts retried (dial errors, or idempotent requests with a replayable body)."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxy_refused_total",
			Help: "Requests the proxy answered itself without a backend (body over the limit, pin store down), by route and status."}, []string{"route", "code"}),
	}
	reg.MustRegister(m.requests, m.errors, m.latency, m.circuit, m.healthy, m.reloads, m.changes, m.weight, m.pins, m.retries, m.refused)
	return m
}

// Latency histogram of the in-memory windows: log buckets from 50 µs,
// growing by 15 % (the p99 read from them is within 7.5 %).
const (
	latBuckets = 96
	latBase    = 50 * time.Microsecond
	latGrowth  = 1.15
	// windowSlots is how many seconds of per-second figures a window keeps;
	// plans with a longer bake read only the last windowSlots seconds.
	windowSlots = 600
)

// latLogGrowth is ln(latGrowth).
const latLogGrowth = 0.13976194237515863

func latBucket(d time.Duration) int {
	if d <= latBase {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(latBase)) / latLogGrowth))
	return min(i, latBuckets-1)
}

func latUpper(i int) time.Duration {
	return time.Duration(float64(latBase) * math.Pow(latGrowth, float64(i)))
}

// WindowStats are one backend's figures over a time window.
type WindowStats struct {
	Requests  int
	Errors5xx int
	P50, P99  time.Duration
}

// window keeps per-second request, error and latency figures of one route
// and backend for the last windowSlots seconds. The zero value is ready; never copy one.
type window struct {
	mu    sync.Mutex
	slots [windowSlots]winSlot
	total atomic.Int64
	errs  atomic.Int64
}

type winSlot struct {
	sec  int64
	n    uint32
	errs uint32
	hist [latBuckets]uint32
}

func (w *window) record(now time.Time, d time.Duration, isErr bool) {
	sec := now.Unix()
	b := latBucket(d)
	w.mu.Lock()
	s := &w.slots[sec%windowSlots]
	if s.sec != sec {
		*s = winSlot{sec: sec}
	}
	s.n++
	if isErr {
		s.errs++
	}
	s.hist[b]++
	w.mu.Unlock()
	w.total.Add(1)
	if isErr {
		w.errs.Add(1)
	}
}

// add adds the slots from since to now to hist and out's counts.
func (w *window) add(since, now time.Time, hist *[latBuckets]uint64, out *WindowStats) {
	from, to := since.Unix(), now.Unix()
	if to-from >= windowSlots {
		from = to - windowSlots + 1
	}
	w.mu.Lock()
	for i := range w.slots {
		s := &w.slots[i]
		if s.sec < from || s.sec > to || s.n == 0 {
			continue
		}
		out.Requests += int(s.n)
		out.Errors5xx += int(s.errs)
		for b, c := range s.hist {
			hist[b] += uint64(c)
		}
	}
	w.mu.Unlock()
}

func quantile(hist *[latBuckets]uint64, n int, q float64) time.Duration {
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range hist {
		seen += c
		if seen >= rank {
			return latUpper(i)
		}
	}
	return latUpper(latBuckets - 1)
}

// backendObs records one route's traffic to one backend.
type backendObs struct {
	byClass [6]prometheus.Counter // 1xx-5xx by class-1, then 499
	errors  prometheus.Counter
	latency prometheus.Observer
	win     window
}

// routeObs records one route's traffic to both backends. It outlives
// tables: every table built for a route name shares it.
type routeObs struct {
	name     string
	backends [2]*backendObs // legacy, new
}

func backendIndex(b Backend) int {
	if b == BackendNew {
		return 1
	}
	return 0
}

func (o *routeObs) backend(b Backend) *backendObs { return o.backends[backendIndex(b)] }

// record counts one answered request. Status 499 (client gone) is counted
// but is not an error.
func (bo *backendObs) record(now time.Time, status int, d time.Duration) {
	isErr := status >= 500
	cls := status/100 - 1
	if status == StatusClientClosedRequest {
		cls = 5
	}
	if cls >= 0 && cls < 6 {
		bo.byClass[cls].Inc()
	}
	if isErr {
		bo.errors.Inc()
	}
	bo.latency.Observe(d.Seconds())
	bo.win.record(now, d, isErr)
}

// Stats keeps a routeObs per route name; it answers the plan controller's
// questions about a route's backends. Never copy one.
type Stats struct {
	m   *Metrics
	now func() time.Time
	mu  sync.Mutex
	obs map[string]*routeObs
}

// NewStats returns an empty Stats recording into m, reading time from now.
func NewStats(m *Metrics, now func() time.Time) *Stats {
	return &Stats{m: m, now: now, obs: map[string]*routeObs{}}
}

// route returns the observer of route name, creating it.
func (s *Stats) route(name string) *routeObs {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.obs[name]; ok {
		return o
	}
	o := &routeObs{name: name}
	for i, b := range []Backend{BackendLegacy, BackendNew} {
		bo := &backendObs{
			errors:  s.m.errors.WithLabelValues(name, string(b)),
			latency: s.m.latency.WithLabelValues(name, string(b)),
		}
		for c, code := range []string{"1xx", "2xx", "3xx", "4xx", "5xx", "499"} {
			bo.byClass[c] = s.m.requests.WithLabelValues(name, string(b), code)
		}
		o.backends[i] = bo
	}
	s.obs[name] = o
	return o
}

// Window returns backend's figures on routes together since the given time
// (at most the last windowSlots seconds).
func (s *Stats) Window(backend Backend, since time.Time, routes ...string) WindowStats {
	var (
		hist [latBuckets]uint64
		out  WindowStats
		now  = s.now()
	)
	for _, route := range routes {
		s.mu.Lock()
		o, ok := s.obs[route]
		s.mu.Unlock()
		if ok {
			o.backend(backend).win.add(since, now, &hist, &out)
		}
	}
	out.P50 = quantile(&hist, out.Requests, 0.50)
	out.P99 = quantile(&hist, out.Requests, 0.99)
	return out
}

// Totals returns backend's request and error counts on route since start.
func (s *Stats) Totals(route string, backend Backend) (requests, errors int64) {
	s.mu.Lock()
	o, ok := s.obs[route]
	s.mu.Unlock()
	if !ok {
		return 0, 0
	}
	w := &o.backend(backend).win
	return w.total.Load(), w.errs.Load()
}
