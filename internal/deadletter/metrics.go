package deadletter

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports strangler_dead_letters{source}: the dead letters of
// each source waiting in the store, counted at each scrape (a consistent
// Query of the source's partition, at most timeout long), so replays and
// drops bring it down. A count that fails is reported as a scrape error.
// It is safe for concurrent use.
type Collector struct {
	store   *Store
	sources []Source
	timeout time.Duration
	desc    *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns the collector of sources' counts.
func NewCollector(store *Store, sources ...Source) *Collector {
	return &Collector{store: store, sources: sources, timeout: 5 * time.Second, desc: prometheus.NewDesc(
		"strangler_dead_letters", "Dead letters waiting per source (strangler deadletters list|replay|drop; docs/runbook.md).", []string{"source"}, nil)}
}

// Describe sends the metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect counts each source's dead letters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for _, src := range c.sources {
		n, err := c.store.Count(ctx, src)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), string(src))
	}
}
