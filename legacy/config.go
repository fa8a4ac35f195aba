package legacy

import (
	"net"
	"net/url"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderapi"
)

// Config is the legacy monolith's configuration (configs/legacy.yaml). The
// zero value is not valid; start from DefaultConfig.
type Config struct {
	// Listen is the HTTP address of the order API. Optional: defaults to 127.0.0.1:8080.
	Listen string `mapstructure:"listen"`
	// TLS makes the listener serve HTTPS from a PEM certificate and key
	// (cert_file, key_file). Optional: defaults to plain HTTP.
	TLS httpserver.TLS `mapstructure:"tls"`
	// MySQL is the database holding the orders table.
	MySQL MySQLConfig `mapstructure:"mysql"`
	// APIKeys are the bearer keys clients authenticate with, each bound to one
	// channel. Required: at least one. In the environment:
	// STRANGLER_LEGACY_API_KEYS="key1=retail,key2=wholesale".
	APIKeys orderapi.APIKeys `mapstructure:"api_keys"`
	// Rules are the order validation rules. Optional: defaults to order.DefaultRules.
	Rules order.Rules `mapstructure:"rules"`
	// Downstream are the services called synchronously after each commit.
	Downstream DownstreamConfig `mapstructure:"downstream"`
	// Faults inject failures for demonstrations and tests. Optional: all off.
	Faults Faults `mapstructure:"faults"`
	// MaxBodyBytes caps request bodies. Optional: defaults to 65536.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM. Optional: defaults to 10s.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
}

// MySQLConfig says how to reach the legacy database.
type MySQLConfig struct {
	// DSN is a go-sql-driver DSN. Optional: defaults to the local stack's
	// strangler:strangler@tcp(127.0.0.1:3307)/strangler. parseTime and UTC are
	// forced. A secret: it never appears in logs.
	DSN config.Secret `mapstructure:"dsn"`
	// MaxOpenConns caps the connection pool. Optional: defaults to 32.
	MaxOpenConns int `mapstructure:"max_open_conns"`
}

// DownstreamConfig names the inventory and accounting services.
type DownstreamConfig struct {
	// InventoryURL is the inventory service's base URL. Optional: defaults to
	// http://127.0.0.1:8091/inventory. Empty disables the call.
	InventoryURL string `mapstructure:"inventory_url"`
	// AccountingURL is the accounting service's base URL. Optional: defaults
	// to http://127.0.0.1:8091/accounting. Empty disables the call.
	AccountingURL string `mapstructure:"accounting_url"`
	// Timeout bounds each downstream call. Optional: defaults to 2s.
	Timeout time.Duration `mapstructure:"timeout"`
}

// Faults are deliberate failures.
type Faults struct {
	// CrashAfterCommit makes the process exit right after an order's
	// transaction commits and before downstream hears of it: the monolith's
	// flaw, made visible. Optional: defaults to false.
	CrashAfterCommit bool `mapstructure:"crash_after_commit"`
}

// DefaultConfig returns the configuration of the local stack.
func DefaultConfig() Config {
	return Config{
		Listen: "127.0.0.1:8080",
		MySQL: MySQLConfig{
			DSN:          "strangler:strangler@tcp(127.0.0.1:3307)/strangler",
			MaxOpenConns: 32,
		},
		Rules: order.DefaultRules(),
		Downstream: DownstreamConfig{
			InventoryURL:  "http://127.0.0.1:8091/inventory",
			AccountingURL: "http://127.0.0.1:8091/accounting",
			Timeout:       2 * time.Second,
		},
		MaxBodyBytes:    64 << 10,
		ShutdownTimeout: 10 * time.Second,
	}
}

// Validate reports every wrong key.
func (c *Config) Validate() error {
	ck := config.NewChecker("legacy")
	c.TLS.Check(ck, "tls")
	_, _, err := net.SplitHostPort(c.Listen)
	ck.Add("listen", c.Listen, err, "host:port, e.g. 127.0.0.1:8080")
	_, err = mysql.ParseDSN(c.MySQL.DSN.Reveal())
	ck.Add("mysql.dsn", c.MySQL.DSN, err, "a go-sql-driver DSN like user:pass@tcp(host:3306)/db")
	ck.Check(c.MySQL.MaxOpenConns > 0, "mysql.max_open_conns", c.MySQL.MaxOpenConns, "a positive number")
	c.APIKeys.Check(ck, "api_keys")
	c.Rules.Check(ck, "rules")
	for key, u := range map[string]string{"downstream.inventory_url": c.Downstream.InventoryURL, "downstream.accounting_url": c.Downstream.AccountingURL} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		ck.Check(err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "", key, u, "an http(s) URL, or empty to disable")
	}
	ck.Check(c.Downstream.Timeout > 0, "downstream.timeout", c.Downstream.Timeout, "a positive duration like 2s")
	ck.Check(c.MaxBodyBytes >= 1024, "max_body_bytes", c.MaxBodyBytes, "at least 1024")
	ck.Check(c.ShutdownTimeout > 0, "shutdown_timeout", c.ShutdownTimeout, "a positive duration like 10s")
	return ck.Err()
}
