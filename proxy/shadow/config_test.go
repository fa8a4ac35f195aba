package shadow_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/proxy/shadow"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(c *shadow.Config)
		wantKeys []string
	}{
		{name: "defaults", edit: func(*shadow.Config) {}},
		{name: "zero value means defaults", edit: func(c *shadow.Config) { *c = shadow.Config{} }},
		{name: "ignore paths and dry run", edit: func(c *shadow.Config) {
			c.IgnoreFields = []string{"id", "orders.*.id"}
			c.DryRunHeader = "X-Dry-Run"
		}},
		{
			name:     "bad ignore paths",
			edit:     func(c *shadow.Config) { c.IgnoreFields = []string{"", "a..b", "ok"} },
			wantKeys: []string{"r.shadow.ignore_fields[0]", "r.shadow.ignore_fields[1]"},
		},
		{
			name: "negative numbers",
			edit: func(c *shadow.Config) {
				c.QueueSize, c.Workers, c.Samples, c.Timeout, c.MaxBodyBytes, c.NoiseMargin, c.MinMismatches = -1, -1, -1, -1, -1, -1, -1
			},
			wantKeys: []string{
				"r.shadow.queue_size", "r.shadow.workers", "r.shadow.samples", "r.shadow.timeout",
				"r.shadow.max_body_bytes", "r.shadow.noise_margin", "r.shadow.min_mismatches",
			},
		},
		{name: "too many workers", edit: func(c *shadow.Config) { c.Workers = 1000 }, wantKeys: []string{"r.shadow.workers"}},
		{name: "bad dry-run header", edit: func(c *shadow.Config) { c.DryRunHeader = "X Dry: Run" }, wantKeys: []string{"r.shadow.dry_run_header"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := shadow.DefaultConfig()
			tt.edit(&c)
			ck := config.NewChecker("proxy")
			c.Validate(ck, "r.shadow")
			if diff := cmp.Diff(tt.wantKeys, errorKeys(ck.Err())); diff != "" {
				t.Errorf("failing keys (-want +got):\n%s", diff)
			}
		})
	}
}

// errorKeys lists the keys of every *config.Error joined in err.
func errorKeys(err error) []string {
	if err == nil {
		return nil
	}
	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *config.Error
		if errors.As(e, &ce) {
			keys = append(keys, ce.Key)
		}
	}
	return keys
}
