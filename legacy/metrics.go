package legacy

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/anycompany/strangler/internal/orderapi"
)

// metrics are the legacy service's Prometheus series.
type metrics struct {
	http               orderapi.RequestMetrics
	created            *prometheus.CounterVec
	downstreamFailures *prometheus.CounterVec
	downstreamSeconds  *prometheus.HistogramVec
	unreported         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		http: orderapi.NewRequestMetrics(reg, "legacy"),
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
	reg.MustRegister(m.created, m.downstreamFailures, m.downstreamSeconds, m.unreported,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
