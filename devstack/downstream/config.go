// Package downstream is the local stand-in for the inventory and accounting
// services that the legacy monolith calls synchronously after it commits an
// order. One HTTP listener serves both under /inventory/v1 and /accounting/v1.
//
// It records what it receives (bounded, in memory) so tests can ask whether a
// service heard of an order, answers repeats of an Idempotency-Key with the
// first answer, and can be told to fail or slow down, from its config or at
// run time through the admin API, so the legacy service's pain points (a
// downstream outage half-way through an order) can be shown and tested.
package downstream

import (
	"fmt"
	"net"
	"time"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/internal/sinkauth"
)

// part names this part in configuration (configs/downstream.yaml, env
// STRANGLER_DOWNSTREAM_*).
const part = "downstream"

// maxDelay caps the injected delay: long enough to trip any client timeout,
// short enough that a typo cannot hang a test for an hour.
const maxDelay = 10 * time.Minute

// Config configures the downstream stand-in. It is a plain value and may be
// copied.
type Config struct {
	// Listen is the TCP address of the one listener serving both services.
	// Optional: defaults to "127.0.0.1:8091".
	Listen string `mapstructure:"listen"`
	// TLS makes the listener serve HTTPS from a PEM certificate and key
	// (cert_file, key_file). Optional: defaults to plain HTTP.
	TLS httpserver.TLS `mapstructure:"tls"`
	// AdminToken is the bearer token the /admin/* endpoints require.
	// Required (configs/downstream.yaml has the local stack's).
	AdminToken config.Secret `mapstructure:"admin_token"`
	// EventsAuth is the credential every POST /events must carry: the
	// bus's (or an EventBridge API destination's) connection. Required.
	EventsAuth sinkauth.Connection `mapstructure:"events_auth"`
	// MaxBodyBytes caps a request body; larger bodies get 413.
	// Optional: defaults to 65536.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// MaxRecords caps the calls each service remembers; the oldest are
	// forgotten first (with their idempotency keys). Optional: defaults to 100000.
	MaxRecords int `mapstructure:"max_records"`
	// Seed seeds the random source that decides which calls fail under a
	// fail_ratio between 0 and 1. Optional: defaults to 0, which picks a seed
	// from the clock.
	Seed uint64 `mapstructure:"seed"`
	// ShutdownTimeout bounds the graceful shutdown after the context ends.
	// Optional: defaults to 5s.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// Inventory holds the faults of the inventory service at start.
	// Optional: defaults to no faults.
	Inventory FaultConfig `mapstructure:"inventory"`
	// Accounting holds the faults of the accounting service at start.
	// Optional: defaults to no faults.
	Accounting FaultConfig `mapstructure:"accounting"`
}

// FaultConfig is the misbehaviour of one service. The zero value is a
// healthy service.
type FaultConfig struct {
	// FailRatio is the share of calls, 0 to 1, answered with 503 after the
	// delay. Optional: defaults to 0.
	FailRatio float64 `mapstructure:"fail_ratio"`
	// Delay is added to every call before it is answered; a client that gives
	// up earlier cancels it. Optional: defaults to 0s.
	Delay time.Duration `mapstructure:"delay"`
}

// DefaultConfig returns the documented defaults (configs/downstream.yaml).
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:8091",
		MaxBodyBytes:    64 << 10,
		MaxRecords:      100_000,
		ShutdownTimeout: 5 * time.Second,
	}
}

// Validate reports every unusable field, each naming its key.
func (c *Config) Validate() error {
	ch := config.NewChecker(part)
	c.TLS.Check(ch, "tls")
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		ch.Add("listen", c.Listen, err, `host:port, like "127.0.0.1:8091"`)
	}
	ch.Check(c.AdminToken != "", "admin_token", c.AdminToken, "a non-empty token")
	c.EventsAuth.Check(ch, "events_auth", true)
	ch.Check(c.MaxBodyBytes >= 1024 && c.MaxBodyBytes <= 16<<20, "max_body_bytes", c.MaxBodyBytes, "1024 to 16777216")
	ch.Check(c.MaxRecords >= 1 && c.MaxRecords <= 10_000_000, "max_records", c.MaxRecords, "1 to 10000000")
	ch.Check(c.ShutdownTimeout > 0, "shutdown_timeout", c.ShutdownTimeout, "a positive duration like 5s")
	c.Inventory.check(ch, string(Inventory))
	c.Accounting.check(ch, string(Accounting))
	return ch.Err()
}

func (f FaultConfig) check(ch *config.Checker, prefix string) {
	ch.Check(f.FailRatio >= 0 && f.FailRatio <= 1, prefix+".fail_ratio", f.FailRatio, "a number from 0 to 1")
	ch.Check(f.Delay >= 0 && f.Delay <= maxDelay, prefix+".delay", f.Delay, fmt.Sprintf("a duration from 0s to %s", maxDelay))
}
