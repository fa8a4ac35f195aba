package orders

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/sinkauth"
)

func TestEncode32(t *testing.T) {
	var zero, ones [16]byte
	for i := range ones {
		ones[i] = 0xff
	}
	for _, tc := range []struct {
		raw  [16]byte
		want string
	}{
		{zero, "00000000000000000000000000"},
		{ones, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"},
		{[16]byte{15: 32}, "00000000000000000000000010"},
	} {
		if got := encode32(tc.raw); got != tc.want {
			t.Errorf("encode32(%x) = %s, want %s", tc.raw, got, tc.want)
		}
	}
}

func TestIDsAreTimeOrdered(t *testing.T) {
	g := NewIDs(bytes.NewReader(bytes.Repeat([]byte{0xff}, 40)))
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var ids []string
	// Same millisecond twice (the random part counts up, wrapping into its
	// upper bytes), a clock step back, then later milliseconds.
	for _, at := range []time.Time{t0, t0.Add(300 * time.Microsecond), t0.Add(-time.Second), t0.Add(time.Millisecond), t0.Add(time.Hour)} {
		id, err := g.New(at)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(id, "ord_") || len(id) != 30 {
			t.Fatalf("id %q: want ord_ + 26 characters", id)
		}
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Errorf("ids not increasing: %s then %s", ids[i-1], ids[i])
		}
	}
	// The time part is the millisecond of creation (48 bits, 10 digits).
	var ms [16]byte
	for i := range 6 {
		ms[i] = byte(t0.UnixMilli() >> (40 - 8*i))
	}
	if want := encode32(ms)[:10]; ids[0][4:14] != want {
		t.Errorf("time part %s, want %s", ids[0][4:14], want)
	}
	if _, err := NewIDs(bytes.NewReader(nil)).New(t0); err == nil {
		t.Error("an exhausted random source gave an id")
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		key  string
	}{
		{"listen", func(c *Config) { c.Listen = "nowhere" }, "listen"},
		{"processor listen", func(c *Config) { c.Processor.Listen = "" }, "processor.listen"},
		{"shards", func(c *Config) { c.Outbox.Shards = 0 }, "outbox.shards"},
		{"table", func(c *Config) { c.Table = "x" }, "table"},
		{"same tables", func(c *Config) { c.ServiceTable = c.Table }, "service_table"},
		{"short key", func(c *Config) { c.APIKeys[0].Key = "short" }, "api_keys[0].key"},
		{"channel", func(c *Config) { c.APIKeys[1].Channel = "resale" }, "api_keys[1].channel"},
		{"dry-run header", func(c *Config) { c.DryRunHeader = "X Dry" }, "dry_run_header"},
		{"admin token", func(c *Config) { c.AdminToken = "" }, "admin_token"},
		{"error ratio", func(c *Config) { c.Faults.ErrorRatio = 1.5 }, "faults.error_ratio"},
		{"delay", func(c *Config) { c.Faults.Delay = Duration(2 * time.Minute) }, "faults.delay"},
		{"attempts", func(c *Config) { c.TransactAttempts = 0 }, "transact_attempts"},
		{"body", func(c *Config) { c.MaxBodyBytes = 10 }, "max_body_bytes"},
		{"region", func(c *Config) { c.DynamoDB.Region = "" }, "dynamodb.region"},
		{"sink key", func(c *Config) { c.Processor.Auth.APIKeyValue = "short" }, "processor.auth.api_key_value"},
		{"sink header", func(c *Config) { c.Processor.Auth.APIKeyName = "Authorization" }, "processor.auth.api_key_name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), `"`+tc.key+`"`) {
				t.Errorf("error %v does not name %q", err, tc.key)
			}
		})
	}
	// The defaults hold no credential (the local stack's are in
	// configs/orders.yaml): each is required.
	c := DefaultConfig()
	err := c.Validate()
	for _, key := range []string{"api_keys", "admin_token", "processor.auth"} {
		if err == nil || !strings.Contains(err.Error(), `"`+key+`"`) {
			t.Errorf("defaults without credentials: %v, want %s named", err, key)
		}
	}
	c = testConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults with credentials: %v", err)
	}
}

// testConfig is DefaultConfig with test credentials.
func testConfig() Config {
	c := DefaultConfig()
	c.APIKeys = orderapi.APIKeys{{Key: "test-retail-key", Channel: "retail"}, {Key: "test-wholesale-key", Channel: "wholesale"}}
	c.AdminToken = "test-orders-admin"
	c.Processor.Auth = sinkauth.APIKey("X-Api-Key", "test-processor-sink-key")
	return c
}
