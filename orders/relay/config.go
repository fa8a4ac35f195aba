package relay

import (
	"net"
	"time"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/orders/outbox"
)

// part names the relay in configuration (configs/relay.yaml, env
// STRANGLER_RELAY_*).
const part = "relay"

// DefaultShards is the outbox shards of the reference configuration; it
// must equal the order service's shard count, or records in the shards the
// relay does not know are never published.
const DefaultShards = 4

// Config is the relay's configuration (configs/relay.yaml). Start from
// DefaultConfig; the zero value is not valid. It is a plain value: copy it
// freely.
type Config struct {
	// DynamoDB is the service table's endpoint. Optional: defaults to the
	// local stack's DynamoDB Local; set url to "" for AWS.
	DynamoDB awsconf.Endpoint `mapstructure:"dynamodb"`
	// EventBridge is the bus. Optional: defaults to the local stack's bus;
	// set url to "" for AWS.
	EventBridge awsconf.Endpoint `mapstructure:"eventbridge"`
	// Table is the order service's table holding the outbox and the
	// relay's leases. Optional: defaults to orders_service.
	Table string `mapstructure:"table"`
	// ControlTable holds the relay's dead letters (internal/deadletter,
	// source relay), beside the other parts'. Optional: defaults to
	// strangler_control.
	ControlTable string `mapstructure:"control_table"`
	// Shards is the outbox shard count: it must equal the order service's.
	// Optional: defaults to 4 (as configs/orders.yaml outbox.shards).
	Shards int `mapstructure:"shards"`
	// MaxShards is the most shards this relay holds at once, so several
	// relays share the work (4 shards, 2 relays: 2 each). Optional: defaults
	// to 0, every shard it can get.
	MaxShards int `mapstructure:"max_shards"`
	// Events says how records are published.
	Events EventsConfig `mapstructure:"events"`
	// Poll tunes the reading of a shard.
	Poll PollConfig `mapstructure:"poll"`
	// Lease tunes the per-shard leases.
	Lease LeaseConfig `mapstructure:"lease"`
	// ProgressInterval is how often progress is logged at Info while the
	// relay publishes (nothing is logged while idle). Optional: defaults to 10s.
	ProgressInterval time.Duration `mapstructure:"progress_interval"`
	// MetricsListen serves /metrics; empty disables it. Optional: defaults
	// to 127.0.0.1:9103.
	MetricsListen string `mapstructure:"metrics_listen"`
	// MetricsTLS makes the metrics listener serve HTTPS (cert_file,
	// key_file). Optional: defaults to plain HTTP.
	MetricsTLS httpserver.TLS `mapstructure:"metrics_tls"`
}

// EventsConfig says how records become PutEvents calls.
type EventsConfig struct {
	// Source is every entry's Source. Optional: defaults to
	// com.anycompany.orders.service.
	Source string `mapstructure:"source"`
	// Bus is the event bus. Optional: defaults to "" (the default bus).
	Bus string `mapstructure:"bus"`
	// Concurrency is the PutEvents calls in flight per shard (entries are
	// split into lanes by order id, so an order's events stay in order).
	// Optional: defaults to 4.
	Concurrency int `mapstructure:"concurrency"`
	// MaxAttempts is the attempts of an event that keeps failing (throttled,
	// a retryable error) before the page is given up; the page is read and
	// published again after a backoff, nothing is deleted. Optional:
	// defaults to 20.
	MaxAttempts int `mapstructure:"max_attempts"`
}

// PollConfig tunes the reading of a shard.
type PollConfig struct {
	// PageSize is the most records read (and published) per poll of a
	// shard; a full page is followed at once by the next. Optional:
	// defaults to 100.
	PageSize int `mapstructure:"page_size"`
	// MinInterval is the wait after a poll that found less than a page; it
	// doubles while the shard stays empty. Optional: defaults to 50ms.
	MinInterval time.Duration `mapstructure:"min_interval"`
	// MaxInterval caps that wait. Optional: defaults to 1s.
	MaxInterval time.Duration `mapstructure:"max_interval"`
	// ErrorBackoff caps the wait after a failed poll, publish or delete
	// (it doubles from min_interval). Optional: defaults to 5s.
	ErrorBackoff time.Duration `mapstructure:"error_backoff"`
}

// LeaseConfig tunes the per-shard leases.
type LeaseConfig struct {
	// TTL is how long a shard's lease lasts unrenewed: another relay takes
	// the shard over at most this long after the holder dies. Optional:
	// defaults to 5s.
	TTL time.Duration `mapstructure:"ttl"`
	// Owner names this process in the leases. Optional: defaults to host:pid.
	Owner string `mapstructure:"owner"`
}

// DefaultConfig returns the local stack's configuration.
func DefaultConfig() Config {
	return Config{
		DynamoDB:         awsconf.Local("http://127.0.0.1:8000"),
		EventBridge:      awsconf.Local("http://127.0.0.1:4010"),
		Table:            outbox.DefaultTable,
		ControlTable:     control.DefaultTable,
		Shards:           DefaultShards,
		Events:           EventsConfig{Source: outbox.DefaultSource, Concurrency: 4, MaxAttempts: 20},
		Poll:             PollConfig{PageSize: 100, MinInterval: 50 * time.Millisecond, MaxInterval: time.Second, ErrorBackoff: 5 * time.Second},
		Lease:            LeaseConfig{TTL: 5 * time.Second},
		ProgressInterval: 10 * time.Second,
		MetricsListen:    "127.0.0.1:9103",
	}
}

// Validate reports every unusable key.
func (c *Config) Validate() error {
	ck := config.NewChecker(part)
	c.MetricsTLS.Check(ck, "metrics_tls")
	c.DynamoDB.Check(ck, "dynamodb")
	c.EventBridge.Check(ck, "eventbridge")
	ck.Check(len(c.Table) >= 3 && len(c.Table) <= 255, "table", c.Table, "a DynamoDB table name (3 to 255 characters)")
	ck.Check(len(c.ControlTable) >= 3 && len(c.ControlTable) <= 255 && c.ControlTable != c.Table, "control_table", c.ControlTable, "a DynamoDB table name other than table")
	ck.Check(c.Shards >= 1 && c.Shards <= 1024, "shards", c.Shards, "1 to 1024, the order service's outbox shard count")
	ck.Check(c.MaxShards >= 0 && c.MaxShards <= c.Shards, "max_shards", c.MaxShards, "0 (every shard) to shards")
	ck.Check(c.Events.Source != "" && len(c.Events.Source) <= 256, "events.source", c.Events.Source, "an EventBridge Source like com.anycompany.orders.service")
	ck.Check(c.Events.Concurrency >= 1 && c.Events.Concurrency <= 64, "events.concurrency", c.Events.Concurrency, "1 to 64")
	ck.Check(c.Events.MaxAttempts >= 1, "events.max_attempts", c.Events.MaxAttempts, "1 or more")
	ck.Check(c.Poll.PageSize >= 1 && c.Poll.PageSize <= 1000, "poll.page_size", c.Poll.PageSize, "1 to 1000")
	ck.Check(c.Poll.MinInterval >= time.Millisecond, "poll.min_interval", c.Poll.MinInterval, "at least 1ms")
	ck.Check(c.Poll.MaxInterval >= c.Poll.MinInterval, "poll.max_interval", c.Poll.MaxInterval, "at least poll.min_interval")
	ck.Check(c.Poll.ErrorBackoff >= c.Poll.MinInterval, "poll.error_backoff", c.Poll.ErrorBackoff, "at least poll.min_interval")
	ck.Check(c.Lease.TTL >= time.Second, "lease.ttl", c.Lease.TTL, "at least 1s")
	ck.Check(c.ProgressInterval >= 0, "progress_interval", c.ProgressInterval, "0s (never) or more")
	if c.MetricsListen != "" {
		_, _, err := net.SplitHostPort(c.MetricsListen)
		ck.Add("metrics_listen", c.MetricsListen, err, "host:port, or empty to disable")
	}
	return ck.Err()
}
