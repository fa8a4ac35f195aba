// Package migrator holds strangler's migrate commands: init creates the
// DynamoDB tables, backfill copies the MySQL table into DynamoDB in parallel,
// resumable, position-guarded chunks, and verify proves the copy equal (and
// repairs it).
package migrator

import (
	"net"
	"slices"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/httpserver"
)

// Config is the migrator's configuration (configs/migrator.yaml). Start from
// DefaultConfig; the zero value is not valid.
type Config struct {
	// MySQL is the source database.
	MySQL MySQLConfig `mapstructure:"mysql"`
	// DynamoDB is the target endpoint. Optional: defaults to the local stack's
	// DynamoDB Local; set url to "" for AWS.
	DynamoDB awsconf.Endpoint `mapstructure:"dynamodb"`
	// Mapping says which table, key and columns are copied, and how.
	Mapping codec.Config `mapstructure:"mapping"`
	// Table is the DynamoDB orders table. Optional: defaults to orders.
	Table string `mapstructure:"table"`
	// Index is the orders table's global secondary index for listing a
	// customer's orders. Optional: defaults to by_customer on customer_id +
	// created_at.
	Index IndexConfig `mapstructure:"index"`
	// ControlTable holds chunk state, leases and positions. Optional:
	// defaults to strangler_control.
	ControlTable string `mapstructure:"control_table"`
	// Backfill tunes strangler migrate backfill.
	Backfill BackfillConfig `mapstructure:"backfill"`
	// Verify tunes strangler migrate verify.
	Verify VerifyConfig `mapstructure:"verify"`
	// MetricsListen serves /metrics while a command runs; empty disables it.
	// Optional: defaults to 127.0.0.1:9101.
	MetricsListen string `mapstructure:"metrics_listen"`
	// MetricsTLS makes the metrics listener serve HTTPS (cert_file,
	// key_file). Optional: defaults to plain HTTP.
	MetricsTLS httpserver.TLS `mapstructure:"metrics_tls"`
}

// IndexConfig names a GSI and its key attributes (both strings).
type IndexConfig struct {
	Name      string `mapstructure:"name"`
	Partition string `mapstructure:"partition"`
	Sort      string `mapstructure:"sort"`
}

// MySQLConfig says how to reach the source.
type MySQLConfig struct {
	// DSN is a go-sql-driver DSN naming the database. A secret. Optional:
	// defaults to the local stack's strangler database.
	DSN config.Secret `mapstructure:"dsn"`
}

// BackfillConfig tunes the backfill.
type BackfillConfig struct {
	// Job names the backfill job in the control table; a rerun with the same
	// job resumes it. Optional: defaults to the mapping's table name.
	Job string `mapstructure:"job"`
	// ChunkSize is the rows per chunk. Optional: defaults to 20000.
	ChunkSize int `mapstructure:"chunk_size"`
	// Workers is the chunks processed at once. Optional: defaults to 4.
	Workers int `mapstructure:"workers"`
	// WriteMode is how items are written: batch (unconditional
	// BatchWriteItem: fastest, safe only while no cdc writes the same table),
	// transact (guarded TransactWriteItems of up to 100 items: safe with a
	// concurrent cdc, twice the write capacity) or put (one guarded PutItem
	// per item). Optional: defaults to transact.
	WriteMode guard.Mode `mapstructure:"write_mode"`
	// WriteConcurrency sizes the write pool: the workers share one pool of
	// Workers x WriteConcurrency callers (write calls in flight), so the
	// calls stay in flight while a worker is between chunks. Optional:
	// defaults to 8.
	WriteConcurrency int `mapstructure:"write_concurrency"`
	// MaxWCU caps write capacity units per second (0 is unlimited).
	// Optional: defaults to 0.
	MaxWCU int `mapstructure:"max_wcu"`
	// LeaseTTL is how long a chunk lease lasts without renewal; a worker that
	// dies leaves its chunk to others after it. Optional: defaults to 30s.
	LeaseTTL time.Duration `mapstructure:"lease_ttl"`
	// Progress is how often progress is logged when not on a terminal.
	// Optional: defaults to 5s.
	Progress time.Duration `mapstructure:"progress"`
}

// VerifyConfig tunes verify.
type VerifyConfig struct {
	// Workers is the key ranges compared at once. Optional: defaults to 4.
	Workers int `mapstructure:"workers"`
	// Batch is the keys compared per round trip. Optional: defaults to 100.
	Batch int `mapstructure:"batch"`
	// Grace is how long a differing key is given to settle (the cdc may be
	// behind) before it counts. Optional: defaults to 3s.
	Grace time.Duration `mapstructure:"grace"`
	// Samples is the differences printed in full. Optional: defaults to 20.
	Samples int `mapstructure:"samples"`
}

// DefaultConfig returns the local stack's configuration for the reference
// legacy table.
func DefaultConfig() Config {
	return Config{
		MySQL:        MySQLConfig{DSN: "strangler:strangler@tcp(127.0.0.1:3307)/strangler"},
		DynamoDB:     awsconf.Local("http://127.0.0.1:8000"),
		Mapping:      codec.DefaultConfig(),
		Table:        "orders",
		Index:        IndexConfig{Name: "by_customer", Partition: "customer_id", Sort: "created_at"},
		ControlTable: control.DefaultTable,
		Backfill: BackfillConfig{
			ChunkSize: 20000, Workers: 4, WriteMode: guard.Transact, WriteConcurrency: 8,
			LeaseTTL: 30 * time.Second, Progress: 5 * time.Second,
		},
		Verify:        VerifyConfig{Workers: 4, Batch: 100, Grace: 3 * time.Second, Samples: 20},
		MetricsListen: "127.0.0.1:9101",
	}
}

// Validate reports every unusable key.
func (c *Config) Validate() error {
	ck := config.NewChecker("migrator")
	c.MetricsTLS.Check(ck, "metrics_tls")
	_, err := mysql.ParseDSN(c.MySQL.DSN.Reveal())
	ck.Add("mysql.dsn", c.MySQL.DSN, err, "a go-sql-driver DSN like user:pass@tcp(host:3306)/db")
	if err == nil {
		mc, _ := mysql.ParseDSN(c.MySQL.DSN.Reveal())
		ck.Check(mc.DBName != "", "mysql.dsn", c.MySQL.DSN, "a DSN that names the database (…/dbname)")
	}
	c.DynamoDB.Check(ck, "dynamodb")
	c.Mapping.Check(ck, "mapping")
	ck.Check(tableName(c.Table), "table", c.Table, "a DynamoDB table name: 3-255 of a-z A-Z 0-9 _ - .")
	ck.Check(tableName(c.ControlTable), "control_table", c.ControlTable, "a DynamoDB table name: 3-255 of a-z A-Z 0-9 _ - .")
	ck.Check(tableName(c.Index.Name), "index.name", c.Index.Name, "a DynamoDB index name: 3-255 of a-z A-Z 0-9 _ - .")
	ck.Check(c.Index.Partition != "" && c.Index.Sort != "" && c.Index.Partition != c.Index.Sort, "index", c.Index, "distinct partition and sort attributes")
	ck.Check(c.Table != c.ControlTable, "control_table", c.ControlTable, "a table other than table")
	b := c.Backfill
	ck.Check(b.ChunkSize >= 1 && b.ChunkSize <= 1_000_000, "backfill.chunk_size", b.ChunkSize, "1 to 1000000")
	ck.Check(b.Workers >= 1 && b.Workers <= 256, "backfill.workers", b.Workers, "1 to 256")
	ck.Check(slices.Contains(guard.Modes, b.WriteMode), "backfill.write_mode", b.WriteMode, "batch, transact or put")
	ck.Check(b.WriteConcurrency >= 1 && b.WriteConcurrency <= 1024, "backfill.write_concurrency", b.WriteConcurrency, "1 to 1024")
	ck.Check(b.MaxWCU >= 0, "backfill.max_wcu", b.MaxWCU, "0 (unlimited) or more")
	ck.Check(b.LeaseTTL >= time.Second, "backfill.lease_ttl", b.LeaseTTL, "at least 1s")
	ck.Check(b.Progress > 0, "backfill.progress", b.Progress, "a positive duration")
	v := c.Verify
	ck.Check(v.Workers >= 1 && v.Workers <= 256, "verify.workers", v.Workers, "1 to 256")
	ck.Check(v.Batch >= 1 && v.Batch <= 100, "verify.batch", v.Batch, "1 to 100 (BatchGetItem's limit)")
	ck.Check(v.Grace >= 0, "verify.grace", v.Grace, "0s or more")
	ck.Check(v.Samples >= 0, "verify.samples", v.Samples, "0 or more")
	if c.MetricsListen != "" {
		_, _, err := net.SplitHostPort(c.MetricsListen)
		ck.Add("metrics_listen", c.MetricsListen, err, "host:port, or empty to disable")
	}
	return ck.Err()
}

// JobName is the backfill job's name.
func (c *Config) JobName() string {
	if c.Backfill.Job != "" {
		return c.Backfill.Job
	}
	return c.Mapping.Table
}

func tableName(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
