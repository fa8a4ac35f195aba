// Package loadgen drives realistic, seeded traffic against any server of the
// order HTTP API (the legacy monolith today, the new service and the proxy
// later) and fills the legacy table with historical orders for backfill runs.
//
// Load: a weighted mix of create, get, list, advance and cancel calls from a
// seeded population of retail and wholesale customers, either open loop at a
// fixed rate (latency measured from each call's intended send time, so a
// stalled server cannot hide its queueing) or closed loop with a fixed
// number of workers. Latencies go into log-linear histograms; the report
// gives per-operation throughput, percentiles and errors by status class.
//
// Seeding: multi-row parameterised INSERTs over a few parallel connections,
// with realistic statuses, timestamps and exact totals.
package loadgen

import (
	"fmt"
	"math"
	"net/url"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/internal/config"
)

// part names this part in configuration (configs/loadgen.yaml, env
// STRANGLER_LOADGEN_*).
const part = "loadgen"

// Config configures the load generator and the seeder. It is a plain value
// and may be copied.
type Config struct {
	// BaseURL is the server of the order API under load.
	// Optional: defaults to "http://127.0.0.1:8080".
	BaseURL string `mapstructure:"base_url"`
	// RetailKey is the API key of the retail channel. A secret.
	// Required (configs/loadgen.yaml has the local stack's).
	RetailKey config.Secret `mapstructure:"retail_key"`
	// WholesaleKey is the API key of the wholesale channel. A secret.
	// Required (configs/loadgen.yaml has the local stack's).
	WholesaleKey config.Secret `mapstructure:"wholesale_key"`

	// Rate is the target in operations a second, open loop. 0 runs closed
	// loop as fast as Concurrency workers can. Optional: defaults to 100.
	Rate float64 `mapstructure:"rate"`
	// Concurrency is the number of closed-loop workers when Rate is 0.
	// Optional: defaults to 8.
	Concurrency int `mapstructure:"concurrency"`
	// MaxInFlight bounds the open-loop calls waiting for an answer; a call
	// due while the bound is hit is skipped and counted. Optional: defaults to 256.
	MaxInFlight int `mapstructure:"max_in_flight"`
	// Duration is how long to send. Optional: defaults to 30s.
	Duration time.Duration `mapstructure:"duration"`
	// MaxOps stops after this many operations (skipped ones included) even
	// before Duration. Optional: defaults to 0, no limit.
	MaxOps int64 `mapstructure:"max_ops"`
	// CreatedOut, when set, is a file that receives the id of every order
	// the run created (one per line, on each 201 of a create), so a later
	// check can prove none was lost. Optional: defaults to "", none.
	CreatedOut string `mapstructure:"created_out"`
	// Seed makes the run reproducible: the same seed sends the same sequence
	// of operations and bodies. Optional: defaults to 1.
	Seed uint64 `mapstructure:"seed"`
	// Mix weighs the operations. Optional: defaults to create 30, get 30,
	// list 20, advance 12, cancel 8.
	Mix Mix `mapstructure:"mix"`
	// WholesaleShare is the share (0 to 1) of creates and lists from
	// wholesale customers. Optional: defaults to 0.2.
	WholesaleShare float64 `mapstructure:"wholesale_share"`
	// IdempotencyRatio is the share (0 to 1) of creates sent with an
	// Idempotency-Key. Optional: defaults to 0.5.
	IdempotencyRatio float64 `mapstructure:"idempotency_ratio"`
	// ReplayRatio is the share (0 to 1) of creates that deliberately replay
	// an earlier keyed create; OK when the same order id comes back.
	// Optional: defaults to 0.02.
	ReplayRatio float64 `mapstructure:"replay_ratio"`
	// InvalidRatio is the share (0 to 1) of creates that are deliberately
	// invalid (a wholesale RTL- SKU, a retail quantity of 0, an unknown
	// currency, a retail order without address); OK when refused with 400 or
	// 422. Optional: defaults to 0.01.
	InvalidRatio float64 `mapstructure:"invalid_ratio"`
	// ShippedCancelRatio is the share (0 to 1) of cancels deliberately aimed
	// at a shipped order; OK when refused with 409. Optional: defaults to 0.1.
	ShippedCancelRatio float64 `mapstructure:"shipped_cancel_ratio"`
	// RetailCustomers is the size of the retail population (cust-r-NNNN).
	// Optional: defaults to 2000.
	RetailCustomers int `mapstructure:"retail_customers"`
	// WholesaleCustomers is the size of the wholesale population (cust-w-NNN).
	// Optional: defaults to 200.
	WholesaleCustomers int `mapstructure:"wholesale_customers"`
	// ReportEvery is the interval of the progress lines; 0 prints only the
	// final summary. Optional: defaults to 5s.
	ReportEvery time.Duration `mapstructure:"report_every"`
	// RequestTimeout bounds each call. Optional: defaults to 10s.
	RequestTimeout time.Duration `mapstructure:"request_timeout"`

	// MySQLDSN is the legacy database for --seed-orders, in go-sql-driver
	// form. A secret (it holds a password). Optional: defaults to
	// "strangler:strangler@tcp(127.0.0.1:3307)/strangler?parseTime=true".
	MySQLDSN config.Secret `mapstructure:"mysql_dsn"`
	// SeedBatch is the rows of one multi-row INSERT. Optional: defaults to 1000.
	SeedBatch int `mapstructure:"seed_batch"`
	// SeedWorkers is the number of parallel inserting connections.
	// Optional: defaults to 4.
	SeedWorkers int `mapstructure:"seed_workers"`
	// SeedSpan is how far back the created_at of seeded orders reaches.
	// Optional: defaults to 8760h (a year).
	SeedSpan time.Duration `mapstructure:"seed_span"`
}

// Mix weighs the operations of the load; only the ratios matter.
type Mix struct {
	// Create weighs POST /v1/orders. Optional: defaults to 30.
	Create float64 `mapstructure:"create"`
	// Get weighs GET /v1/orders/{id}. Optional: defaults to 30.
	Get float64 `mapstructure:"get"`
	// List weighs GET /v1/orders?customer_id=. Optional: defaults to 20.
	List float64 `mapstructure:"list"`
	// Advance weighs PATCH /v1/orders/{id} to the next status. Optional: defaults to 12.
	Advance float64 `mapstructure:"advance"`
	// Cancel weighs POST /v1/orders/{id}/cancel. Optional: defaults to 8.
	Cancel float64 `mapstructure:"cancel"`
}

// DefaultConfig returns the documented defaults (configs/loadgen.yaml).
func DefaultConfig() Config {
	return Config{
		BaseURL:            "http://127.0.0.1:8080",
		Rate:               100,
		Concurrency:        8,
		MaxInFlight:        256,
		Duration:           30 * time.Second,
		Seed:               1,
		Mix:                Mix{Create: 30, Get: 30, List: 20, Advance: 12, Cancel: 8},
		WholesaleShare:     0.2,
		IdempotencyRatio:   0.5,
		ReplayRatio:        0.02,
		InvalidRatio:       0.01,
		ShippedCancelRatio: 0.1,
		RetailCustomers:    2000,
		WholesaleCustomers: 200,
		ReportEvery:        5 * time.Second,
		RequestTimeout:     10 * time.Second,
		MySQLDSN:           "strangler:strangler@tcp(127.0.0.1:3307)/strangler?parseTime=true",
		SeedBatch:          1000,
		SeedWorkers:        4,
		SeedSpan:           365 * 24 * time.Hour,
	}
}

// Validate reports every unusable field, each naming its key. The DSN is
// checked for form only and never echoed (it holds a password).
func (c Config) Validate() error {
	ch := config.NewChecker(part)
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ch.Check(false, "base_url", c.BaseURL, `an http(s) URL like "http://127.0.0.1:8080"`)
	}
	ch.Check(c.RetailKey != "", "retail_key", c.RetailKey, "a non-empty API key of the retail channel")
	ch.Check(c.WholesaleKey != "", "wholesale_key", c.WholesaleKey, "a non-empty API key of the wholesale channel")
	ch.Check(c.Rate >= 0 && c.Rate <= 1e6 && !math.IsNaN(c.Rate), "rate", c.Rate, "0 (closed loop) to 1000000 operations a second")
	ch.Check(c.Concurrency >= 1 && c.Concurrency <= 10_000, "concurrency", c.Concurrency, "1 to 10000 workers")
	ch.Check(c.MaxInFlight >= 1 && c.MaxInFlight <= 100_000, "max_in_flight", c.MaxInFlight, "1 to 100000")
	ch.Check(c.Duration > 0, "duration", c.Duration, "a positive duration like 30s")
	ch.Check(c.MaxOps >= 0, "max_ops", c.MaxOps, "0 (no limit) or more")
	c.Mix.check(ch)
	for _, r := range []struct {
		key string
		v   float64
	}{
		{"wholesale_share", c.WholesaleShare}, {"idempotency_ratio", c.IdempotencyRatio},
		{"replay_ratio", c.ReplayRatio}, {"invalid_ratio", c.InvalidRatio},
		{"shipped_cancel_ratio", c.ShippedCancelRatio},
	} {
		ch.Check(r.v >= 0 && r.v <= 1, r.key, r.v, "a number from 0 to 1")
	}
	ch.Check(c.ReplayRatio+c.InvalidRatio <= 1, "replay_ratio", c.ReplayRatio, "at most 1 - invalid_ratio")
	ch.Check(c.RetailCustomers >= 1 && c.RetailCustomers <= 9999, "retail_customers", c.RetailCustomers, "1 to 9999")
	ch.Check(c.WholesaleCustomers >= 1 && c.WholesaleCustomers <= 999, "wholesale_customers", c.WholesaleCustomers, "1 to 999")
	ch.Check(c.ReportEvery >= 0, "report_every", c.ReportEvery, "0 (summary only) or a positive duration like 5s")
	ch.Check(c.RequestTimeout > 0, "request_timeout", c.RequestTimeout, "a positive duration like 10s")
	if _, err := mysql.ParseDSN(c.MySQLDSN.Reveal()); err != nil || c.MySQLDSN == "" {
		ch.Check(false, "mysql_dsn", c.MySQLDSN, `a go-sql-driver DSN like "user:password@tcp(127.0.0.1:3307)/strangler"`)
	}
	ch.Check(c.SeedBatch >= 1 && c.SeedBatch <= 5000, "seed_batch", c.SeedBatch, "1 to 5000 rows a statement (12 placeholders a row, at most 65535)")
	ch.Check(c.SeedWorkers >= 1 && c.SeedWorkers <= 64, "seed_workers", c.SeedWorkers, "1 to 64 connections")
	ch.Check(c.SeedSpan >= time.Hour, "seed_span", c.SeedSpan, "at least 1h, like 8760h")
	return ch.Err()
}

func (m Mix) check(ch *config.Checker) {
	for _, w := range []struct {
		key string
		v   float64
	}{{"mix.create", m.Create}, {"mix.get", m.Get}, {"mix.list", m.List}, {"mix.advance", m.Advance}, {"mix.cancel", m.Cancel}} {
		ch.Check(w.v >= 0 && !math.IsInf(w.v, 0) && !math.IsNaN(w.v), w.key, w.v, "a weight of 0 or more")
	}
	sum := m.Create + m.Get + m.List + m.Advance + m.Cancel
	ch.Check(sum > 0, "mix", fmt.Sprintf("create %g, get %g, list %g, advance %g, cancel %g", m.Create, m.Get, m.List, m.Advance, m.Cancel),
		"weights with a positive sum")
}
