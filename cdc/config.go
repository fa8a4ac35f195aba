// Package cdc is strangler's change data capture: it reads a MySQL/MariaDB
// binlog as a replica and turns every row change of the mapped table into a
// position-guarded DynamoDB write and a domain event on EventBridge.
//
// Run checks the source (Inspector: ROW format, FULL images, no partial
// JSON, privileges, the start position not purged) and waits as a
// standby until the Lease, which makes one cdc per source active, is its.
// Each term as leader then wires its roles in order (run.go, roles.go):
//   - the lease keeper (Lease.keep) renews the lease and ends the term once
//     it is lost;
//   - Streamer reads the binlog and emits whole transactions of decoded
//     changes, following DDL on the table and reconnecting on its own;
//   - batcher collects them into batches the Applier prepares: guarded
//     writes (newest image per key: the guard makes older ones moot) and
//     events (every change, in order per key);
//   - sender keeps up to apply.in_flight batches in flight to both sinks;
//   - checkpointer moves the checkpoint (CheckpointStore, fenced by the
//     lease) past each batch both sinks acknowledged, in read order.
//
// Invariants (shared/DESIGN.md): 1 (guarded writes), 2 (full row images,
// checked at start), 3 (checkpoint after acknowledgement, deterministic
// event ids), 4 (deletes are tombstones) and 6 (a purged position stops the
// cdc, events that can never be published are dead-lettered).
package cdc

import (
	"net"
	"regexp"
	"slices"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/internal/position"
)

// Config is the cdc's configuration (configs/cdc.yaml). Start from
// DefaultConfig; the zero value is not valid.
type Config struct {
	// MySQL is the source.
	MySQL MySQLConfig `mapstructure:"mysql"`
	// DynamoDB is the target endpoint. Optional: defaults to the local
	// stack's DynamoDB Local; set url to "" for AWS.
	DynamoDB awsconf.Endpoint `mapstructure:"dynamodb"`
	// EventBridge is the events endpoint. Optional: defaults to the local
	// stack's bus; set url to "" for AWS.
	EventBridge awsconf.Endpoint `mapstructure:"eventbridge"`
	// Mapping is the table, key and columns, as in configs/migrator.yaml.
	Mapping codec.Config `mapstructure:"mapping"`
	// Table is the DynamoDB orders table. Optional: defaults to orders.
	Table string `mapstructure:"table"`
	// ControlTable holds the checkpoint, the lease and dead letters.
	// Optional: defaults to strangler_control.
	ControlTable string `mapstructure:"control_table"`
	// Name names this source's cdc in the control table (pk cdc#<name>).
	// Optional: defaults to mapping.table.
	Name string `mapstructure:"name"`
	// BackfillJob is the backfill job whose recorded position is the start
	// when there is no checkpoint. Optional: defaults to mapping.table.
	BackfillJob string `mapstructure:"backfill_job"`
	// TombstoneTTL is how long a tombstone lives (its expires_at). Optional:
	// defaults to 168h.
	TombstoneTTL time.Duration `mapstructure:"tombstone_ttl"`
	// Events says how changes become events.
	Events EventsConfig `mapstructure:"events"`
	// Apply tunes batching and the writers.
	Apply ApplyConfig `mapstructure:"apply"`
	// Lease makes one cdc per source active.
	Lease LeaseConfig `mapstructure:"lease"`
	// CheckpointInterval is the least time between checkpoints. Optional:
	// defaults to 1s.
	CheckpointInterval time.Duration `mapstructure:"checkpoint_interval"`
	// MetricsListen serves GET /metrics and GET /status (LiveStatus, read by
	// the proxy's write gate); empty disables both. Optional: defaults to
	// 127.0.0.1:9102.
	MetricsListen string `mapstructure:"metrics_listen"`
	// MetricsTLS makes the metrics listener serve HTTPS (cert_file,
	// key_file). Optional: defaults to plain HTTP.
	MetricsTLS httpserver.TLS `mapstructure:"metrics_tls"`
	// SkipMarkerTable is the sync-back's marker table (in the source
	// database): a transaction that writes a row of it was written by
	// strangler syncback from an event of the new service, which already
	// wrote DynamoDB and published that event, so the cdc emits it with no
	// changes (the checkpoint still moves past it) instead of echoing it.
	// Empty disables the skipping. Optional: defaults to
	// strangler_syncback_marker.
	SkipMarkerTable string `mapstructure:"skip_marker_table"`
}

// DefaultSkipMarkerTable is the marker table strangler syncback writes in
// every transaction it applies.
const DefaultSkipMarkerTable = "strangler_syncback_marker"

// MySQLConfig says how to reach the source as a replica.
type MySQLConfig struct {
	// DSN is a go-sql-driver DSN naming the database, of a user with
	// REPLICATION SLAVE, REPLICATION CLIENT (BINLOG MONITOR on MariaDB) and
	// SELECT. A secret. Optional: defaults to the local stack's cdc user.
	DSN config.Secret `mapstructure:"dsn"`
	// ServerID is the replica id the cdc registers with; unique among the
	// source's replicas. Optional: defaults to 0, which derives one from the
	// host name and process id.
	ServerID uint32 `mapstructure:"server_id"`
	// Reconnect is the longest wait between reconnection attempts (backoff
	// doubles up to it). Optional: defaults to 5s.
	Reconnect time.Duration `mapstructure:"reconnect"`
	// Epoch is the position epoch: raise it by one after a source failover
	// the positions cannot follow, and start with --from the new source's
	// position (docs/positions.md, Failover). Never lower it. Optional:
	// defaults to 0.
	Epoch uint16 `mapstructure:"epoch"`
}

// EventsConfig says how changes become events.
type EventsConfig struct {
	// Source is the entries' Source. Optional: defaults to com.anycompany.orders.
	Source string `mapstructure:"source"`
	// Bus is the event bus. Optional: defaults to "" (the default bus).
	Bus string `mapstructure:"bus"`
	// Concurrency is the PutEvents calls in flight (entries are split into
	// lanes by key, so one order's events stay in order). Against AWS, calls
	// take tens of milliseconds: keep it high. Optional: defaults to 16.
	Concurrency int `mapstructure:"concurrency"`
	// MaxAttempts is the attempts of an event that keeps failing (throttled,
	// refused for a retryable reason) before its batch fails; the batch is
	// then applied again (see apply.retries). Optional: defaults to 20.
	MaxAttempts int `mapstructure:"max_attempts"`
	// Rules pick a change's detail type: the first rule that matches wins.
	// Optional: defaults to the reference rules (see DefaultRules).
	Rules []Rule `mapstructure:"rules"`
}

// ApplyConfig tunes batching and writing.
type ApplyConfig struct {
	// MaxBatch is the most changes applied as one batch (a backlog is applied
	// in big batches, so more of a key's images coalesce). Optional: defaults
	// to 2000.
	MaxBatch int `mapstructure:"max_batch"`
	// Window is how long a batch waits for more changes once one arrived.
	// Optional: defaults to 5ms.
	Window time.Duration `mapstructure:"window"`
	// WriteMode is transact (guarded TransactWriteItems of up to 100) or put
	// (one guarded PutItem per item). Optional: defaults to transact.
	WriteMode guard.Mode `mapstructure:"write_mode"`
	// WriteConcurrency is the DynamoDB calls in flight. Optional: defaults to 16.
	WriteConcurrency int `mapstructure:"write_concurrency"`
	// Retries is how many times a batch that failed (a sink down or
	// throttling past its own retries) is applied again, with backoff up to
	// 10s, before the cdc stops; replaying a batch is safe (the position
	// guard, deterministic event ids). Optional: defaults to 8.
	Retries int `mapstructure:"retries"`
	// InFlight is how many batches are sent at once: a batch's DynamoDB
	// writes start while earlier batches' calls finish (the position guard
	// makes their order moot); its events start only once the previous
	// batch's were all accepted, and the checkpoint passes a batch only
	// once it and every earlier one were acknowledged by both sinks. 1
	// sends one batch at a time. Optional: defaults to 3.
	InFlight int `mapstructure:"in_flight"`
}

// LeaseConfig tunes the lease.
type LeaseConfig struct {
	// TTL is how long a lease lasts unrenewed: a standby takes over at most
	// this long after the holder dies. Optional: defaults to 6s.
	TTL time.Duration `mapstructure:"ttl"`
	// Owner names this process in the lease. Optional: defaults to
	// host:pid.
	Owner string `mapstructure:"owner"`
}

// DefaultConfig returns the local stack's configuration for the reference
// legacy table.
func DefaultConfig() Config {
	return Config{
		MySQL:              MySQLConfig{DSN: "cdc:cdc@tcp(127.0.0.1:3307)/strangler", Reconnect: 5 * time.Second},
		DynamoDB:           awsconf.Local("http://127.0.0.1:8000"),
		EventBridge:        awsconf.Local("http://127.0.0.1:4010"),
		Mapping:            codec.DefaultConfig(),
		Table:              "orders",
		ControlTable:       control.DefaultTable,
		TombstoneTTL:       7 * 24 * time.Hour,
		Events:             EventsConfig{Source: events.DefaultSource, Concurrency: 16, MaxAttempts: 20, Rules: DefaultRules()},
		Apply:              ApplyConfig{MaxBatch: 2000, Window: 5 * time.Millisecond, WriteMode: guard.Transact, WriteConcurrency: 16, Retries: 8, InFlight: 3},
		Lease:              LeaseConfig{TTL: 6 * time.Second},
		CheckpointInterval: time.Second,
		MetricsListen:      "127.0.0.1:9102",
		SkipMarkerTable:    DefaultSkipMarkerTable,
	}
}

// Validate reports every unusable key.
func (c *Config) Validate() error {
	ck := config.NewChecker("cdc")
	c.MetricsTLS.Check(ck, "metrics_tls")
	mc, err := mysql.ParseDSN(c.MySQL.DSN.Reveal())
	ck.Add("mysql.dsn", c.MySQL.DSN, err, "a go-sql-driver DSN like cdc:pass@tcp(host:3306)/db")
	if err == nil {
		ck.Check(mc.DBName != "", "mysql.dsn", c.MySQL.DSN, "a DSN that names the database (…/dbname)")
		_, _, herr := net.SplitHostPort(mc.Addr)
		ck.Check(mc.Net == "tcp" && herr == nil, "mysql.dsn", c.MySQL.DSN, "a tcp(host:port) address (the binlog is read over TCP)")
	}
	ck.Check(c.MySQL.Reconnect >= 100*time.Millisecond, "mysql.reconnect", c.MySQL.Reconnect, "at least 100ms")
	ck.Check(c.MySQL.Epoch <= position.MaxEpoch, "mysql.epoch", c.MySQL.Epoch, "0 to 9999")
	c.DynamoDB.Check(ck, "dynamodb")
	c.EventBridge.Check(ck, "eventbridge")
	c.Mapping.Check(ck, "mapping")
	ck.Check(len(c.Table) >= 3, "table", c.Table, "a DynamoDB table name")
	ck.Check(len(c.ControlTable) >= 3 && c.ControlTable != c.Table, "control_table", c.ControlTable, "a DynamoDB table name other than table")
	ck.Check(c.TombstoneTTL >= time.Hour, "tombstone_ttl", c.TombstoneTTL, "at least 1h (longer than any backfill chunk takes)")
	ck.Check(c.Events.Concurrency >= 1 && c.Events.Concurrency <= 256, "events.concurrency", c.Events.Concurrency, "1 to 256")
	for i, r := range c.Events.Rules {
		r.check(ck, i)
	}
	ck.Check(c.Apply.MaxBatch >= 1 && c.Apply.MaxBatch <= 100_000, "apply.max_batch", c.Apply.MaxBatch, "1 to 100000")
	ck.Check(c.Apply.Window >= 0 && c.Apply.Window <= time.Second, "apply.window", c.Apply.Window, "0s to 1s")
	ck.Check(slices.Contains([]guard.Mode{guard.Transact, guard.Put}, c.Apply.WriteMode), "apply.write_mode", c.Apply.WriteMode, "transact or put (batch has no guard)")
	ck.Check(c.Events.MaxAttempts >= 1, "events.max_attempts", c.Events.MaxAttempts, "1 or more")
	ck.Check(c.Apply.InFlight >= 1 && c.Apply.InFlight <= 16, "apply.in_flight", c.Apply.InFlight, "1 to 16")
	ck.Check(c.Apply.Retries >= 0, "apply.retries", c.Apply.Retries, "0 or more")
	ck.Check(c.Apply.WriteConcurrency >= 1 && c.Apply.WriteConcurrency <= 1024, "apply.write_concurrency", c.Apply.WriteConcurrency, "1 to 1024")
	ck.Check(c.Lease.TTL >= time.Second, "lease.ttl", c.Lease.TTL, "at least 1s")
	ck.Check(c.CheckpointInterval >= 0, "checkpoint_interval", c.CheckpointInterval, "0s or more")
	ck.Check(c.SkipMarkerTable == "" || (tableName.MatchString(c.SkipMarkerTable) && c.SkipMarkerTable != c.Mapping.Table), "skip_marker_table",
		c.SkipMarkerTable, "a MySQL table name other than mapping.table, or empty to echo every transaction")
	if c.MetricsListen != "" {
		_, _, err := net.SplitHostPort(c.MetricsListen)
		ck.Add("metrics_listen", c.MetricsListen, err, "host:port, or empty to disable")
	}
	return ck.Err()
}

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,63}$`)

// name is the cdc's name in the control table.
func (c *Config) name() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Mapping.Table
}

func (c *Config) backfillJob() string {
	if c.BackfillJob != "" {
		return c.BackfillJob
	}
	return c.Mapping.Table
}
