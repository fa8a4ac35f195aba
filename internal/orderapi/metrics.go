package orderapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/internal/problem"
)

// RequestMetrics are the per-route HTTP series of one service:
// <prefix>_http_requests_total and <prefix>_http_request_duration_seconds.
// Make them with NewRequestMetrics; the value may be copied.
type RequestMetrics struct {
	Requests *prometheus.CounterVec
	Latency  *prometheus.HistogramVec
}

// NewRequestMetrics creates the series named after prefix ("legacy",
// "orders") and registers them with reg.
func NewRequestMetrics(reg prometheus.Registerer, prefix string) RequestMetrics {
	m := RequestMetrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: prefix + "_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
	}
	reg.MustRegister(m.Requests, m.Latency)
	return m
}

// Instrument wraps next with Instrument(next, m.Requests, m.Latency).
func (m RequestMetrics) Instrument(next http.Handler) http.Handler {
	return Instrument(next, m.Requests, m.Latency)
}

// Instrument counts every request to next by route pattern and status code
// in requests (labels route, code) and observes its latency in latency
// (label route), and answers the mux's plain-text 404 and 405 with problem
// documents like every other error.
func Instrument(next http.Handler, requests *prometheus.CounterVec, latency *prometheus.HistogramVec) http.Handler {
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
