package downstream

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcomes of a call, as the downstream_requests_total metric labels them.
const (
	outcomeRecorded  = "recorded"  // 201
	outcomeDuplicate = "duplicate" // 200, a repeat of an Idempotency-Key
	outcomeFailed    = "failed"    // 503 on purpose
	outcomeInvalid   = "invalid"   // 4xx: bad body or a reused key
	outcomeCancelled = "cancelled" // the client gave up during the delay
	eventIgnored     = "ignored"   // an event no service reacts to
)

// metrics are the server's Prometheus collectors, registered on a registry
// of their own.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	events   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(held func(Service) float64) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "downstream_requests_total",
			Help: "Calls to the stand-in services by service and outcome (recorded, duplicate, failed, invalid, cancelled).",
		}, []string{"service", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "downstream_events_total",
			Help: "Order events delivered through the bus (POST /events) by outcome (recorded, duplicate, ignored, failed, invalid).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "downstream_request_duration_seconds",
			Help:    "Time to answer a call, injected delay included, by service.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}, []string{"service"}),
	}
	for _, o := range []string{outcomeRecorded, outcomeDuplicate, eventIgnored, outcomeFailed, outcomeInvalid} {
		m.events.WithLabelValues(o)
	}
	m.registry.MustRegister(m.requests, m.events, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, svc := range Services() {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "downstream_records_held",
			Help:        "Calls the service remembers (bounded by max_records).",
			ConstLabels: prometheus.Labels{"service": string(svc)},
		}, func() float64 { return held(svc) }))
		for _, o := range []string{outcomeRecorded, outcomeDuplicate, outcomeFailed, outcomeInvalid, outcomeCancelled} {
			m.requests.WithLabelValues(string(svc), o) // expose zeros so rates work from the start
		}
	}
	return m
}
