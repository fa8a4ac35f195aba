package shadow

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Mirror's Prometheus series.
type metrics struct {
	compared *prometheus.CounterVec
	mismatch *prometheus.CounterVec
	noise    *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	errors   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		compared: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proxy_shadow_compared_total", Help: "Shadowed exchanges whose new answer was compared with legacy's, by route.",
		}, []string{"route"}),
		mismatch: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proxy_shadow_mismatch_total", Help: "New-vs-legacy field mismatches by route and field, before noise cancelling (see /admin/diffs for reported fields).",
		}, []string{"route", "field"}),
		noise: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proxy_shadow_noise_total", Help: "Legacy-vs-legacy field mismatches by route and field: the noise baseline.",
		}, []string{"route", "field"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proxy_shadow_dropped_total", Help: "Exchanges not shadowed because the queue was full, by route.",
		}, []string{"route"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proxy_shadow_errors_total", Help: "Shadow calls that failed, by route and backend.",
		}, []string{"route", "backend"}),
	}
	reg.MustRegister(m.compared, m.mismatch, m.noise, m.dropped, m.errors)
	return m
}
