// Package plan runs progressive rollout plans: a route's share of traffic to
// the new service climbs through fixed steps, each held for a bake time while
// the new service stays inside the route's SLO, and falls back to the last
// safe weight at once when it leaves it.
package plan

import (
	"fmt"
	"time"

	"github.com/anycompany/strangler/internal/config"
)

// Plan is a route's rollout plan (the `plan:` section of a route in
// configs/proxy.yaml). The zero value is not valid. A Plan may be copied,
// but Steps is shared.
type Plan struct {
	// Steps are the weights (percent of sticky buckets sent to new, 0-100]
	// to go through, strictly ascending, e.g. [1, 5, 25, 50, 100]. Required.
	Steps []float64 `mapstructure:"steps"`
	// Bake is how long each step must hold inside the SLO before the next. Required.
	Bake time.Duration `mapstructure:"bake"`
	// SLO is what the new backend must keep during each step. Required.
	SLO SLO `mapstructure:"slo"`
}

// SLO is the service level the new backend must keep, judged against legacy's
// figures over the same window (see Controller for the rule). A value may be copied.
type SLO struct {
	// Max5xxRatio is the largest tolerated share of 5xx answers, in [0, 1). Required.
	Max5xxRatio float64 `mapstructure:"max_5xx_ratio"`
	// MaxP99 is the largest tolerated 99th percentile latency. Optional: 0
	// judges errors only.
	MaxP99 time.Duration `mapstructure:"max_p99"`
	// MinRequests is how many requests new must have served in a window
	// before any decision (advance or roll back) is taken. Required: at least 1.
	MinRequests int `mapstructure:"min_requests"`
}

// Validate records every unusable field in ck, with keys under prefix
// (for example "routes[2].plan").
func (p Plan) Validate(ck *config.Checker, prefix string) {
	ck.Check(len(p.Steps) > 0, prefix+".steps", p.Steps, "at least one weight, e.g. [1, 5, 25, 50, 100]")
	for i, s := range p.Steps {
		key := fmt.Sprintf("%s.steps[%d]", prefix, i)
		ck.Check(s > 0 && s <= 100, key, s, "a percentage in (0, 100]")
		if i > 0 {
			ck.Check(s > p.Steps[i-1], key, s, "greater than the step before")
		}
	}
	ck.Check(p.Bake > 0, prefix+".bake", p.Bake, "a positive duration like 5m")
	ck.Check(p.SLO.Max5xxRatio >= 0 && p.SLO.Max5xxRatio < 1, prefix+".slo.max_5xx_ratio", p.SLO.Max5xxRatio, "a ratio in [0, 1), e.g. 0.01")
	ck.Check(p.SLO.MaxP99 >= 0, prefix+".slo.max_p99", p.SLO.MaxP99, "a duration like 250ms, or 0 to judge errors only")
	ck.Check(p.SLO.MinRequests >= 1, prefix+".slo.min_requests", p.SLO.MinRequests, "at least 1, e.g. 100")
}
