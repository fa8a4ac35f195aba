package plan

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Controller's Prometheus series.
type metrics struct {
	step      *prometheus.GaugeVec
	weight    *prometheus.GaugeVec
	rollbacks *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		step: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "proxy_plan_step", Help: "Step of the route's plan whose weight is applied, counted from 1; 0 when none is.",
		}, []string{"route"}),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "proxy_plan_weight", Help: "Weight (percent to new) the route's plan last applied.",
		}, []string{"route"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proxy_plan_rollbacks_total", Help: "Automatic rollbacks of the route's plan on an SLO breach.",
		}, []string{"route"}),
	}
	reg.MustRegister(m.step, m.weight, m.rollbacks)
	return m
}
