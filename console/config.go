package console

import (
	"net"
	"net/url"
	"time"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/httpserver"
)

// Config is strangler console's configuration (configs/console.yaml,
// STRANGLER_CONSOLE_<KEY>). A value may be copied.
type Config struct {
	// Listen is the console's address. Optional: defaults to 127.0.0.1:8095.
	// A non-loopback address needs TLS (the session cookie is then Secure).
	Listen string `mapstructure:"listen"`
	// TLS serves HTTPS from PEM files. Optional: plain HTTP without.
	TLS httpserver.TLS `mapstructure:"tls"`
	// Proxy is the proxy's admin API, where routes, plans, diffs and the
	// audit log come from and where actions go.
	Proxy ProxyConfig `mapstructure:"proxy"`
	// CDCURL is the root of the cdc's metrics listener (metrics_listen):
	// GET /metrics gives the lag per stage, events and dead letters, GET
	// /status the checkpoint's lag. Optional: empty hides those figures.
	CDCURL string `mapstructure:"cdc_url"`
	// SyncbackURL is the root of sync-back's listener: GET /metrics and
	// /readyz. Optional: empty hides its figures.
	SyncbackURL string `mapstructure:"syncback_url"`
	// Migration is where the backfill's progress and verify's last result
	// are read: the control table.
	Migration MigrationConfig `mapstructure:"migration"`
	// DeadLetters lists the dead letters of every source and lets an
	// operator replay one, as 'strangler deadletters' does. Optional:
	// defaults to true.
	DeadLetters bool `mapstructure:"dead_letters"`
	// CDCConfig is the cdc's config file that dead letters are read and
	// replayed with, as 'strangler deadletters --config' reads it: its
	// control_table and dynamodb, and to replay, its mysql, mapping, table
	// and eventbridge (STRANGLER_CDC_<KEY> apply). Optional: defaults to
	// configs/cdc.yaml when present, else the cdc's defaults.
	CDCConfig string `mapstructure:"cdc_config"`
	// Refresh is how often the console pushes fresh figures to each open
	// page (server-sent events). Optional: defaults to 1s.
	Refresh time.Duration `mapstructure:"refresh"`
	// SessionTTL is how long a login lasts. Optional: defaults to 8h.
	SessionTTL time.Duration `mapstructure:"session_ttl"`
	// CallTimeout bounds each call to a part. Optional: defaults to 3s.
	CallTimeout time.Duration `mapstructure:"call_timeout"`
}

// ProxyConfig is where the proxy's admin API is.
type ProxyConfig struct {
	// AdminURL is the admin API's root. Optional: defaults to
	// http://127.0.0.1:8089.
	AdminURL string `mapstructure:"admin_url"`
	// Token is the proxy's admin token (STRANGLER_CONSOLE_PROXY_TOKEN). It
	// is also what an operator types to log in. Required.
	Token config.Secret `mapstructure:"token"`
}

// MigrationConfig names the migration's control table and job.
type MigrationConfig struct {
	// DynamoDB is the control table's endpoint. Optional: defaults to the
	// local stack's DynamoDB Local; set url to "" for AWS.
	DynamoDB awsconf.Endpoint `mapstructure:"dynamodb"`
	// ControlTable is the migrator's control_table. Optional: defaults to
	// strangler_control; empty hides the backfill and verify figures.
	ControlTable string `mapstructure:"control_table"`
	// Table is the DynamoDB orders table verify checks. Optional: defaults to orders.
	Table string `mapstructure:"table"`
	// BackfillJob is the backfill's job name. Optional: defaults to orders
	// (the migrator's default: the MySQL table's name).
	BackfillJob string `mapstructure:"backfill_job"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Listen: "127.0.0.1:8095",
		Proxy:  ProxyConfig{AdminURL: "http://127.0.0.1:8089"},
		Migration: MigrationConfig{DynamoDB: awsconf.Local("http://127.0.0.1:8000"), ControlTable: control.DefaultTable,
			Table: "orders", BackfillJob: "orders"},
		DeadLetters: true,
		Refresh:     time.Second,
		SessionTTL:  8 * time.Hour,
		CallTimeout: 3 * time.Second,
	}
}

// Validate reports every unusable field.
func (c *Config) Validate() error {
	ck := config.NewChecker("console")
	c.TLS.Check(ck, "tls")
	host, _, err := net.SplitHostPort(c.Listen)
	ck.Add("listen", c.Listen, err, "host:port, e.g. 127.0.0.1:8095")
	if err == nil {
		ip := net.ParseIP(host)
		loopback := host == "localhost" || ip != nil && ip.IsLoopback()
		ck.Check(loopback || c.TLS.Enabled(), "listen", c.Listen,
			"a loopback address like 127.0.0.1:8095, or set tls.cert_file and tls.key_file to serve other hosts")
	}
	checkURL(ck, "proxy.admin_url", c.Proxy.AdminURL, false)
	checkURL(ck, "cdc_url", c.CDCURL, true)
	checkURL(ck, "syncback_url", c.SyncbackURL, true)
	ck.Check(len(c.Proxy.Token.Reveal()) >= 16, "proxy.token", c.Proxy.Token,
		"the proxy's admin token, at least 16 characters (STRANGLER_CONSOLE_PROXY_TOKEN)")
	if c.Migration.ControlTable != "" {
		c.Migration.DynamoDB.Check(ck, "migration.dynamodb")
		ck.Check(c.Migration.Table != "", "migration.table", c.Migration.Table, "the DynamoDB orders table (the migrator's table)")
		ck.Check(c.Migration.BackfillJob != "", "migration.backfill_job", c.Migration.BackfillJob, "the backfill's job name (the migrator's backfill.job)")
	}
	ck.Check(c.Refresh >= 100*time.Millisecond && c.Refresh <= time.Minute, "refresh", c.Refresh, "100ms to 1m")
	ck.Check(c.SessionTTL >= time.Minute && c.SessionTTL <= 7*24*time.Hour, "session_ttl", c.SessionTTL, "1m to 168h")
	ck.Check(c.CallTimeout > 0 && c.CallTimeout <= time.Minute, "call_timeout", c.CallTimeout, "more than 0, at most 1m")
	return ck.Err()
}

func checkURL(ck *config.Checker, key, v string, optional bool) {
	if optional && v == "" {
		return
	}
	u, err := url.Parse(v)
	ck.Check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "", key, v, "an http:// or https:// URL")
}
