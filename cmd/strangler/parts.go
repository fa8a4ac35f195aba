package main

import (
	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/console"
	"github.com/anycompany/strangler/devstack/downstream"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/devstack/loadgen"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/legacy"
	"github.com/anycompany/strangler/migrator"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/orders/relay"
	"github.com/anycompany/strangler/proxy"
	"github.com/anycompany/strangler/syncback"
)

// defaultsFor returns a fresh default config of part, for checks that every
// shipped configs/<part>.yaml loads.
func defaultsFor(part string) (config.Validator, bool) {
	switch part {
	case "legacy":
		c := legacy.DefaultConfig()
		return &c, true
	case "downstream":
		c := downstream.DefaultConfig()
		return &c, true
	case "cdc":
		c := cdc.DefaultConfig()
		return &c, true
	case "migrator":
		c := migrator.DefaultConfig()
		return &c, true
	case "eventbus":
		c := eventbus.DefaultConfig()
		return &c, true
	case "loadgen":
		c := loadgen.DefaultConfig()
		return &c, true
	case "proxy":
		c := proxy.DefaultConfig()
		return &c, true
	case "syncback":
		c := syncback.DefaultConfig()
		return &c, true
	case "orders":
		c := orders.DefaultConfig()
		return &c, true
	case "relay":
		c := relay.DefaultConfig()
		return &c, true
	case "console":
		c := console.DefaultConfig()
		return &c, true
	}
	return nil, false
}
