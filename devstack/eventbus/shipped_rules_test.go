package eventbus

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/config"
)

// TestShippedRulesRouteBothProducers loads configs/eventbus.yaml and checks
// who hears what: the demo downstream every order event of the cdc and of
// the new service, the processor only the new service's OrderCreated, the
// sync-back every event of the new service; and that the targets that start
// after the bus keep retrying for minutes, not seconds.
func TestShippedRulesRouteBothProducers(t *testing.T) {
	cfg := DefaultConfig()
	if err := config.Load(config.Source{Part: part, File: "../../configs/eventbus.yaml"}, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg = cfg.withDefaults()
	m, err := NewMatcher(cfg.Rules)
	if err != nil {
		t.Fatal(err)
	}
	urls := func(source, detailType string) []string {
		env := fmt.Sprintf(`{"version":"0","id":"1","detail-type":%q,"source":%q,"account":"000000000000","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"event_id":"e"}}`, detailType, source)
		idx, err := m.Match(DefaultBus, []byte(env))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, i := range idx {
			for _, tg := range cfg.Rules[i].Targets {
				out = append(out, tg.URL)
			}
		}
		slices.Sort(out)
		return out
	}
	const (
		downstream = "http://127.0.0.1:8091/events"
		processor  = "http://127.0.0.1:8083/events"
		syncback   = "http://127.0.0.1:8084/events"
	)
	cases := []struct {
		source, detailType string
		want               []string
	}{
		{"com.anycompany.orders", "OrderCreated", []string{downstream}},
		{"com.anycompany.orders", "OrderCancelled", []string{downstream}},
		{"com.anycompany.orders.service", "OrderCreated", []string{processor, syncback, downstream}},
		{"com.anycompany.orders.service", "OrderStatusChanged", []string{syncback, downstream}},
		{"com.anycompany.orders.service", "OrderCancelled", []string{syncback, downstream}},
		{"com.anycompany.other", "OrderCreated", nil},
	}
	for _, tc := range cases {
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if d := cmp.Diff(want, urls(tc.source, tc.detailType)); d != "" {
			t.Errorf("%s %s (-want +got):\n%s", tc.source, tc.detailType, d)
		}
	}
	for _, r := range cfg.Rules {
		for _, tg := range r.Targets {
			if tg.URL == processor || tg.URL == syncback {
				if tg.MaxAttempts < 15 || tg.MaxBackoff < 20e9 {
					t.Errorf("rule %s target %s: %d attempts up to %v: a target that starts after the bus needs minutes of retries", r.Name, tg.Name, tg.MaxAttempts, tg.MaxBackoff)
				}
			}
		}
	}
}
