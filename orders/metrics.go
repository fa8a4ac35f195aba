package orders

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/anycompany/strangler/internal/problem"
)

// metrics are the order API's Prometheus series.
type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	created   *prometheus.CounterVec
	conflicts *prometheus.CounterVec
	dryRuns   *prometheus.CounterVec
	faults    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orders_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_created_total", Help: "Orders stored (with their OrderCreated outbox record), by channel.",
		}, []string{"channel"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_transaction_conflicts_total", Help: "Order writes that lost a race (transaction conflict or changed version) and were retried, by operation.",
		}, []string{"op"}),
		dryRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_dry_runs_total", Help: "Writes answered as a dry run (nothing persisted), by route.",
		}, []string{"route"}),
		faults: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orders_faults_injected_total", Help: "Requests answered 503 by an injected fault.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.created, m.conflicts, m.dryRuns, m.faults,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// statusRecorder remembers the status code a handler wrote and turns the
// mux's plain-text 404 and 405 into problem documents.
type statusRecorder struct {
	http.ResponseWriter
	code    int
	swallow bool
	path    string
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	if (code == http.StatusMethodNotAllowed || code == http.StatusNotFound) && strings.HasPrefix(r.Header().Get("Content-Type"), "text/plain") {
		r.Header().Del("X-Content-Type-Options")
		p := problem.New(code, "Not found", r.path+" is not part of the order API")
		if code == http.StatusMethodNotAllowed {
			p = problem.New(code, "Method not allowed", "use one of: "+r.Header().Get("Allow"))
		}
		problem.Write(r.ResponseWriter, p)
		r.swallow = true
		return
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.swallow {
		return len(b), nil
	}
	return r.ResponseWriter.Write(b)
}

// instrument counts every request by route pattern and status.
func instrument(next http.Handler, requests *prometheus.CounterVec, latency *prometheus.HistogramVec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK, path: r.Method + " " + r.URL.Path}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
