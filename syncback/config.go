// Package syncback copies the new order service's changes back into the
// legacy MySQL table, so the legacy service can serve those orders if
// traffic is rolled back (rollback safety). It is an HTTP target of the
// event bus: every event of the new service (source
// com.anycompany.orders.service) is POSTed to it as the EventBridge
// envelope, and it writes the event's order image into the legacy table.
//
// The parts, one type each:
//   - Handler decodes and checks an envelope and maps the outcome to a
//     status: 2xx applied or already newer, 400 malformed (the bus
//     dead-letters it), 409 an image that cannot be placed (dead-lettered),
//     503 a transient MySQL failure (the bus retries);
//   - Applier writes one image in one transaction, version-guarded, after a
//     marker row that tells the cdc to skip the transaction.
//
// Deliveries may come twice or out of order: the version guard makes both
// harmless (an older or equal version changes nothing). The marker row is
// written first in every transaction that changes an order, so the binlog
// shows it before the order row; the cdc (skip_marker_table) drops such
// transactions instead of echoing the new service's change back to DynamoDB
// and EventBridge.
package syncback

import (
	"fmt"
	"net"
	"regexp"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/internal/sinkauth"
)

// Config is the sync-back's configuration (configs/syncback.yaml). Start
// from DefaultConfig; the zero value is not valid.
type Config struct {
	// Listen is the HTTP address the bus delivers to (POST /events).
	// Optional: defaults to 127.0.0.1:8084.
	Listen string `mapstructure:"listen"`
	// TLS makes the listener serve HTTPS from a PEM certificate and key
	// (cert_file, key_file). Optional: defaults to plain HTTP.
	TLS httpserver.TLS `mapstructure:"tls"`
	// Auth is the credential every POST /events must carry: the bus's
	// (or an EventBridge API destination's) connection. Required.
	Auth sinkauth.Connection `mapstructure:"auth"`
	// MySQL is the legacy database.
	MySQL MySQLConfig `mapstructure:"mysql"`
	// Table is the legacy orders table (the reference schema with the
	// order_ref column of legacy migration 0002). Optional: defaults to orders.
	Table string `mapstructure:"table"`
	// Ref is the table's external-id column: an order of the new service is
	// stored under its ord_ id there. Optional: defaults to order_ref.
	Ref string `mapstructure:"ref"`
	// MarkerTable is the table whose row every applied transaction updates
	// first; created at start when missing. It must be the cdc's
	// skip_marker_table. Optional: defaults to strangler_syncback_marker.
	MarkerTable string `mapstructure:"marker_table"`
	// Name names this process's marker rows (<name>#<slot>). Optional:
	// defaults to the host name.
	Name string `mapstructure:"name"`
	// Workers is how many events are applied at once (one marker row each).
	// Optional: defaults to 8.
	Workers int `mapstructure:"workers"`
	// Source is the only event source accepted; any other is refused with
	// 400 (a bus rule that sends the cdc's own events here would loop).
	// Optional: defaults to com.anycompany.orders.service.
	Source string `mapstructure:"source"`
	// MaxBodyBytes caps a delivery's body. Optional: defaults to 320 KiB
	// (an EventBridge event is at most 256 KiB).
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// ShutdownTimeout bounds the drain on SIGTERM. Optional: defaults to 10s.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
}

// MySQLConfig says how to reach the legacy database.
type MySQLConfig struct {
	// DSN is a go-sql-driver DSN naming the database, of a user that may
	// read and write the table and create the marker table. A secret: never
	// logged. Optional: defaults to the local stack.
	DSN config.Secret `mapstructure:"dsn"`
	// MaxOpenConns caps the pool. Optional: defaults to 16.
	MaxOpenConns int `mapstructure:"max_open_conns"`
}

// DefaultMarkerTable is the marker table's default name (the cdc's default
// skip_marker_table).
const DefaultMarkerTable = "strangler_syncback_marker"

// DefaultConfig returns the local stack's configuration.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:8084",
		MySQL:           MySQLConfig{DSN: "strangler:strangler@tcp(127.0.0.1:3307)/strangler", MaxOpenConns: 16},
		Table:           "orders",
		Ref:             "order_ref",
		MarkerTable:     DefaultMarkerTable,
		Workers:         8,
		Source:          events.ServiceSource,
		MaxBodyBytes:    320 << 10,
		ShutdownTimeout: 10 * time.Second,
	}
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,63}$`)

// Validate reports every unusable key.
func (c *Config) Validate() error {
	ck := config.NewChecker("syncback")
	c.TLS.Check(ck, "tls")
	_, _, err := net.SplitHostPort(c.Listen)
	ck.Add("listen", c.Listen, err, "host:port, e.g. 127.0.0.1:8084")
	c.Auth.Check(ck, "auth", true)
	mc, err := mysql.ParseDSN(c.MySQL.DSN.Reveal())
	ck.Add("mysql.dsn", c.MySQL.DSN, err, "a go-sql-driver DSN like user:pass@tcp(host:3306)/db")
	if err == nil {
		ck.Check(mc.DBName != "", "mysql.dsn", c.MySQL.DSN, "a DSN that names the database (…/dbname)")
	}
	ck.Check(c.MySQL.MaxOpenConns > 0, "mysql.max_open_conns", c.MySQL.MaxOpenConns, "a positive number")
	ck.Check(identifier.MatchString(c.Table), "table", c.Table, "a MySQL table name")
	ck.Check(identifier.MatchString(c.Ref), "ref", c.Ref, "the external-id column's name")
	ck.Check(identifier.MatchString(c.MarkerTable) && c.MarkerTable != c.Table, "marker_table", c.MarkerTable, "a MySQL table name other than table")
	ck.Check(len(c.Name) <= 80, "name", c.Name, "at most 80 characters")
	ck.Check(c.Workers >= 1 && c.Workers <= 256, "workers", c.Workers, "1 to 256")
	ck.Check(c.Source != "", "source", c.Source, fmt.Sprintf("an event source, e.g. %s", events.ServiceSource))
	ck.Check(c.MaxBodyBytes >= 1024, "max_body_bytes", c.MaxBodyBytes, "at least 1024")
	ck.Check(c.ShutdownTimeout > 0, "shutdown_timeout", c.ShutdownTimeout, "a positive duration like 10s")
	return ck.Err()
}
