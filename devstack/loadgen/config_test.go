package loadgen

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/config"
)

func TestConfigValidate(t *testing.T) {
	// The defaults hold no API keys (the local stack's are in configs/loadgen.yaml).
	if err := DefaultConfig().Validate(); err == nil || !strings.Contains(err.Error(), `"retail_key"`) || !strings.Contains(err.Error(), `"wholesale_key"`) {
		t.Fatalf("defaults without keys: %v, want retail_key and wholesale_key named", err)
	}
	if err := withKeys(DefaultConfig()).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		key    string
		mutate func(*Config)
	}{
		{"base_url", func(c *Config) { c.BaseURL = "ftp://example.com" }},
		{"base_url", func(c *Config) { c.BaseURL = "127.0.0.1:8080" }},
		{"retail_key", func(c *Config) { c.RetailKey = "" }},
		{"rate", func(c *Config) { c.Rate = -1 }},
		{"concurrency", func(c *Config) { c.Concurrency = 0 }},
		{"max_in_flight", func(c *Config) { c.MaxInFlight = 0 }},
		{"duration", func(c *Config) { c.Duration = 0 }},
		{"max_ops", func(c *Config) { c.MaxOps = -5 }},
		{"mix.get", func(c *Config) { c.Mix.Get = -1 }},
		{"mix", func(c *Config) { c.Mix = Mix{} }},
		{"wholesale_share", func(c *Config) { c.WholesaleShare = 1.5 }},
		{"replay_ratio", func(c *Config) { c.ReplayRatio, c.InvalidRatio = 0.7, 0.7 }},
		{"retail_customers", func(c *Config) { c.RetailCustomers = 10_000 }},
		{"report_every", func(c *Config) { c.ReportEvery = -time.Second }},
		{"request_timeout", func(c *Config) { c.RequestTimeout = 0 }},
		{"mysql_dsn", func(c *Config) { c.MySQLDSN = "strangler:secret-pw@127.0.0.1:3307/x" }},
		{"seed_batch", func(c *Config) { c.SeedBatch = 6000 }},
		{"seed_workers", func(c *Config) { c.SeedWorkers = 0 }},
		{"seed_span", func(c *Config) { c.SeedSpan = time.Minute }},
	} {
		t.Run(tc.key, func(t *testing.T) {
			c := withKeys(DefaultConfig())
			tc.mutate(&c)
			err := c.Validate()
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("want a *config.Error, got %v", err)
			}
			if ce.Part != "loadgen" || ce.Key != tc.key {
				t.Errorf("error names %s/%s, want loadgen/%s: %v", ce.Part, ce.Key, tc.key, err)
			}
			if strings.Contains(err.Error(), "secret-pw") {
				t.Errorf("the error shows the DSN's password: %v", err)
			}
		})
	}
}

// withKeys gives c the test API keys.
func withKeys(c Config) Config {
	c.RetailKey, c.WholesaleKey = "test-retail-key", "test-wholesale-key"
	return c
}
