package eventbus

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Stats is the body of GET /admin/stats: counts since start.
type Stats struct {
	// Calls counts PutEvents calls answered 200 (some entries may have failed).
	Calls int64 `json:"calls"`
	// Accepted counts entries accepted (given an EventId and archived).
	Accepted int64 `json:"accepted"`
	// Failed counts entries failed, by validation or by injected fault.
	Failed int64 `json:"failed"`
	// InjectedFailures counts the entries of Failed failed on purpose.
	InjectedFailures int64 `json:"injected_failures"`
	// Throttled counts calls answered ThrottlingException on purpose.
	Throttled int64 `json:"throttled"`
	// Rejected counts calls refused whole (ValidationException and the like).
	Rejected int64 `json:"rejected"`
	// Rules holds each rule's counts by rule name.
	Rules map[string]RuleStats `json:"rules"`
}

// RuleStats are the counts of one rule.
type RuleStats struct {
	// Matched counts accepted events the rule's pattern matched.
	Matched int64 `json:"matched"`
	// Targets holds each target's counts by target name.
	Targets map[string]TargetStats `json:"targets"`
}

// TargetStats are the counts of one target of one rule.
type TargetStats struct {
	Delivered    int64 `json:"delivered"`
	Retries      int64 `json:"retries"`
	DeadLettered int64 `json:"dead_lettered"`
	// QueueFull counts the events of DeadLettered refused because the queue was full.
	QueueFull int64 `json:"queue_full"`
	// Queued is the events waiting now.
	Queued int `json:"queued"`
}

// counters are the live counts behind Stats and /metrics: one set of
// atomics read by both, so they never disagree. The zero value is not
// usable; make one with newCounters. It must not be copied.
type counters struct {
	calls, accepted, failed, injected, throttled, rejected atomic.Int64
	rules                                                  []*ruleCounters
}

type ruleCounters struct {
	name    string
	matched atomic.Int64
	targets []*targetCounters
}

type targetCounters struct {
	name                                        string
	delivered, retries, deadLettered, queueFull atomic.Int64
	queued                                      func() int // set by the dispatcher
}

func newCounters(rules []RuleConfig) *counters {
	c := &counters{}
	for _, r := range rules {
		rc := &ruleCounters{name: r.Name}
		for _, t := range r.Targets {
			rc.targets = append(rc.targets, &targetCounters{name: t.Name, queued: func() int { return 0 }})
		}
		c.rules = append(c.rules, rc)
	}
	return c
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Calls: c.calls.Load(), Accepted: c.accepted.Load(), Failed: c.failed.Load(),
		InjectedFailures: c.injected.Load(), Throttled: c.throttled.Load(), Rejected: c.rejected.Load(),
		Rules: map[string]RuleStats{},
	}
	for _, r := range c.rules {
		rs := RuleStats{Matched: r.matched.Load(), Targets: map[string]TargetStats{}}
		for _, t := range r.targets {
			rs.Targets[t.name] = TargetStats{
				Delivered: t.delivered.Load(), Retries: t.retries.Load(),
				DeadLettered: t.deadLettered.Load(), QueueFull: t.queueFull.Load(), Queued: t.queued(),
			}
		}
		s.Rules[r.name] = rs
	}
	return s
}

// newRegistry exposes c on a Prometheus registry of its own.
func newRegistry(c *counters) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, v *atomic.Int64, labels prometheus.Labels) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(v.Load()) }))
	}
	counter("eventbus_putevents_calls_total", "PutEvents calls answered 200.", &c.calls, nil)
	counter("eventbus_putevents_throttled_total", "PutEvents calls answered ThrottlingException on purpose.", &c.throttled, nil)
	counter("eventbus_putevents_rejected_total", "PutEvents calls refused whole (validation).", &c.rejected, nil)
	counter("eventbus_entries_total", "PutEvents entries by outcome.", &c.accepted, prometheus.Labels{"outcome": "accepted"})
	counter("eventbus_entries_total", "PutEvents entries by outcome.", &c.failed, prometheus.Labels{"outcome": "failed"})
	counter("eventbus_entries_injected_failures_total", "PutEvents entries failed on purpose (fail_ratio).", &c.injected, nil)
	for _, r := range c.rules {
		counter("eventbus_rule_matched_total", "Accepted events a rule matched.", &r.matched, prometheus.Labels{"rule": r.name})
		for _, t := range r.targets {
			l := func(outcome string) prometheus.Labels {
				return prometheus.Labels{"rule": r.name, "target": t.name, "outcome": outcome}
			}
			counter("eventbus_deliveries_total", "Events by delivery outcome per rule and target.", &t.delivered, l("delivered"))
			counter("eventbus_deliveries_total", "Events by delivery outcome per rule and target.", &t.deadLettered, l("dead_lettered"))
			counter("eventbus_delivery_retries_total", "Retried delivery attempts per rule and target.", &t.retries,
				prometheus.Labels{"rule": r.name, "target": t.name})
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "eventbus_target_queued", Help: "Events waiting for a target.",
				ConstLabels: prometheus.Labels{"rule": r.name, "target": t.name},
			}, func() float64 { return float64(t.queued()) }))
		}
	}
	return reg
}
