package console

import (
	"net"
	"net/url"
	"time"

	"github.com/anycompany/strangler/internal/config"
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

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Listen:      "127.0.0.1:8095",
		Proxy:       ProxyConfig{AdminURL: "http://127.0.0.1:8089"},
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
