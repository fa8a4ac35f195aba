package shadow

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/anycompany/strangler/internal/config"
)

// Config is one route's shadow settings (the `shadow:` section of a route in
// configs/proxy.yaml). The zero value is usable: New treats every zero
// number as its default, and an empty DryRunHeader keeps writes unshadowed.
// A Config may be copied.
type Config struct {
	// IgnoreFields are JSON paths left out of the comparison, dot-separated,
	// arrays by index, `*` matching any one segment: "id", "created_at",
	// "orders.*.id". A path also ignores everything below it ("items" drops
	// "items.0.sku"). Optional: defaults to none.
	IgnoreFields []string `mapstructure:"ignore_fields"`
	// QueueSize bounds the exchanges waiting for a worker; Offer drops (and
	// counts) beyond it. Optional: defaults to 1000.
	QueueSize int `mapstructure:"queue_size"`
	// Workers is how many exchanges are replayed at once. Optional: defaults to 4.
	Workers int `mapstructure:"workers"`
	// Samples is how many recent (legacy, new) value pairs are kept per route
	// and field. Optional: defaults to 5.
	Samples int `mapstructure:"samples"`
	// DryRunHeader, when set, lets writes (methods other than GET and HEAD) be
	// shadowed to the new service with this header set to "true", which the
	// new service must honour by not persisting anything. Writes are never
	// replayed to legacy. Optional: defaults to empty, which never shadows writes.
	DryRunHeader string `mapstructure:"dry_run_header"`
	// Timeout bounds each replayed call (new, and legacy's second answer).
	// Optional: defaults to 5s.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxBodyBytes caps how much of each answer is read for comparison; a
	// longer answer counts as an error. Optional: defaults to 1 MiB.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// NoiseMargin is how far a field's new-vs-legacy mismatch rate must exceed
	// its legacy-vs-legacy rate to be reported. Optional: defaults to 0.01.
	NoiseMargin float64 `mapstructure:"noise_margin"`
	// MinMismatches is how many new-vs-legacy mismatches a field needs before
	// it can be reported. Optional: defaults to 3.
	MinMismatches int `mapstructure:"min_mismatches"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		QueueSize:     1000,
		Workers:       4,
		Samples:       5,
		Timeout:       5 * time.Second,
		MaxBodyBytes:  1 << 20,
		NoiseMargin:   0.01,
		MinMismatches: 3,
	}
}

// withDefaults returns c with every zero number replaced by its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.QueueSize == 0 {
		c.QueueSize = d.QueueSize
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.Samples == 0 {
		c.Samples = d.Samples
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.NoiseMargin == 0 {
		c.NoiseMargin = d.NoiseMargin
	}
	if c.MinMismatches == 0 {
		c.MinMismatches = d.MinMismatches
	}
	return c
}

// Validate records every unusable field in ck, with keys under prefix
// (for example "routes[2].shadow"). Zero numbers are accepted: they mean the default.
func (c Config) Validate(ck *config.Checker, prefix string) {
	for i, f := range c.IgnoreFields {
		ck.Add(fmt.Sprintf("%s.ignore_fields[%d]", prefix, i), f, checkPath(f), `dot-separated JSON path like "id" or "orders.*.id"`)
	}
	ck.Check(c.QueueSize >= 0, prefix+".queue_size", c.QueueSize, "a positive number (0 for the default 1000)")
	ck.Check(c.Workers >= 0 && c.Workers <= 256, prefix+".workers", c.Workers, "1 to 256 (0 for the default 4)")
	ck.Check(c.Samples >= 0 && c.Samples <= 100, prefix+".samples", c.Samples, "0 to 100 (0 for the default 5)")
	ck.Check(c.Timeout >= 0, prefix+".timeout", c.Timeout, "a positive duration like 5s (0 for the default)")
	ck.Check(c.MaxBodyBytes >= 0, prefix+".max_body_bytes", c.MaxBodyBytes, "a positive number of bytes (0 for the default 1 MiB)")
	ck.Check(c.NoiseMargin >= 0 && c.NoiseMargin < 1, prefix+".noise_margin", c.NoiseMargin, "a ratio in [0, 1) (0 for the default 0.01)")
	ck.Check(c.MinMismatches >= 0, prefix+".min_mismatches", c.MinMismatches, "zero or more (0 for the default 3)")
	ck.Check(c.DryRunHeader == "" || validHeaderName(c.DryRunHeader), prefix+".dry_run_header", c.DryRunHeader, "an HTTP header name like X-Dry-Run, or empty")
}

// checkPath refuses empty paths and empty segments.
func checkPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	for _, seg := range strings.Split(p, ".") {
		if seg == "" {
			return fmt.Errorf("empty segment in %q", p)
		}
	}
	return nil
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if r > 0x7e || r <= 0x20 || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return http.CanonicalHeaderKey(h) != ""
}
