package cdc

import (
	"errors"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/events"
)

func TestDetailType(t *testing.T) {
	rules := DefaultRules()
	tests := []struct {
		name    string
		kind    Kind
		changed []string
		after   map[string]any
		want    string
	}{
		{"insert", Insert, nil, nil, events.OrderCreated},
		{"delete", Delete, nil, nil, events.OrderDeleted},
		{"cancelled", Update, []string{"status", "updated_at"}, map[string]any{"status": "cancelled"}, events.OrderCancelled},
		{"status changed", Update, []string{"status"}, map[string]any{"status": "shipped"}, events.OrderStatusChanged},
		{"other update", Update, []string{"notes"}, map[string]any{"status": "cancelled"}, events.OrderUpdated},
		{"update changing nothing mapped", Update, []string{}, nil, events.OrderUpdated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := detailType(rules, tt.kind, tt.changed, func(col string) any { return tt.after[col] }); got != tt.want {
				t.Errorf("detailType = %q, want %q", got, tt.want)
			}
		})
	}
	if got := detailType([]Rule{{DetailType: "X", On: Insert}}, Delete, nil, nil); got != "" {
		t.Errorf("no matching rule gave %q, want no event", got)
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	tests := map[string]func(*Config){
		"batch write mode has no guard": func(c *Config) { c.Apply.WriteMode = "batch" },
		"socket DSN":                    func(c *Config) { c.MySQL.DSN = "cdc:cdc@unix(/tmp/s)/db" },
		"no database":                   func(c *Config) { c.MySQL.DSN = "cdc:cdc@tcp(127.0.0.1:3307)/" },
		"rule without kind":             func(c *Config) { c.Events.Rules = []Rule{{DetailType: "X"}} },
		"changed on insert":             func(c *Config) { c.Events.Rules = []Rule{{DetailType: "X", On: Insert, Changed: "status"}} },
		"short lease":                   func(c *Config) { c.Lease.TTL = 100 * time.Millisecond },
		"same tables":                   func(c *Config) { c.ControlTable = c.Table },
		"short tombstones":              func(c *Config) { c.TombstoneTTL = time.Minute },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			mutate(&c)
			err := c.Validate()
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Errorf("Validate = %v, want a *config.Error", err)
			}
		})
	}
}
