package main

import (
	"testing"

	"github.com/anycompany/strangler/devstack/downstream"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/sinkauth"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/syncback"
)

// TestShippedBusSendsEachSinkItsCredential: every target of the shipped
// configs/eventbus.yaml carries, as its connection, exactly the credential
// the consumer at that URL requires in its own shipped config, so the local
// stack's deliveries are accepted (and no target is left unauthenticated).
func TestShippedBusSendsEachSinkItsCredential(t *testing.T) {
	load := func(part string, cfg config.Validator) {
		t.Helper()
		if err := config.Load(config.Source{Part: part, File: "../../configs/" + part + ".yaml"}, cfg); err != nil {
			t.Fatal(err)
		}
	}
	sc, oc, dc, bc := syncback.DefaultConfig(), orders.DefaultConfig(), downstream.DefaultConfig(), eventbus.DefaultConfig()
	load("syncback", &sc)
	load("orders", &oc)
	load("downstream", &dc)
	load("eventbus", &bc)
	want := map[string]sinkauth.Connection{
		"http://" + sc.Listen + "/events":           sc.Auth,
		"http://" + oc.Processor.Listen + "/events": oc.Processor.Auth,
		"http://" + dc.Listen + "/events":           dc.EventsAuth,
	}
	seen := 0
	for _, r := range bc.Rules {
		for _, tg := range r.Targets {
			w, ok := want[tg.URL]
			if !ok {
				t.Errorf("rule %s target %s: %s is no shipped sink", r.Name, tg.Name, tg.URL)
				continue
			}
			seen++
			if w.IsZero() || tg.Connection != w {
				t.Errorf("rule %s target %s: its connection is not the credential %s requires", r.Name, tg.Name, tg.URL)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("%d targets checked, want one per sink (%d)", seen, len(want))
	}
}
