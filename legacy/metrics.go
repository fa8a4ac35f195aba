package legacy

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/anycompany/strangler/internal/problem"
)

// metrics are the legacy service's Prometheus series.
type metrics struct {
	requests           *prometheus.CounterVec
	latency            *prometheus.HistogramVec
	created            *prometheus.CounterVec
	downstreamFailures *prometheus.CounterVec
	downstreamSeconds  *prometheus.HistogramVec
	unreported         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "legacy_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "legacy_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "legacy_orders_created_total", Help: "Orders committed, by channel.",
		}, []string{"channel"}),
		downstreamFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "legacy_downstream_failures_total", Help: "Downstream calls that failed after the order committed.",
		}, []string{"service"}),
		downstreamSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "legacy_downstream_call_duration_seconds", Help: "Synchronous downstream call latency.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"service"}),
		unreported: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "legacy_orders_unreported_total", Help: "Orders committed that at least one downstream service never heard of.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.created, m.downstreamFailures, m.downstreamSeconds, m.unreported,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code    int
	swallow bool
	path    string
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	if (code == http.StatusMethodNotAllowed || code == http.StatusNotFound) && strings.HasPrefix(r.Header().Get("Content-Type"), "text/plain") {
		// The mux's own 404 and 405 are plain text; answer with a problem
		// document like every other error (the Allow header stays).
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

func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK, path: r.Method + " " + r.URL.Path}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		s.metrics.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
