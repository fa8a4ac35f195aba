package orders

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/anycompany/strangler/internal/orderapi"
)

// metrics are the order API's Prometheus series.
type metrics struct {
	http      orderapi.RequestMetrics
	created   *prometheus.CounterVec
	conflicts *prometheus.CounterVec
	dryRuns   *prometheus.CounterVec
	faults    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		http: orderapi.NewRequestMetrics(reg, "orders"),
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
	reg.MustRegister(m.created, m.conflicts, m.dryRuns, m.faults,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
