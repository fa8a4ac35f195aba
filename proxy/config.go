package proxy

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/proxy/plan"
	"github.com/anycompany/strangler/proxy/shadow"
)

// part names this part in configuration (configs/proxy.yaml, env STRANGLER_PROXY_*).
const part = "proxy"

// Config is the proxy's configuration (configs/proxy.yaml). It is a plain
// value and may be copied; the zero value is not valid, start from
// DefaultConfig.
type Config struct {
	// Listen is the address of the proxied order API. Optional: defaults to 127.0.0.1:8088.
	Listen string `mapstructure:"listen"`
	// TLS makes the listener serve HTTPS from a PEM certificate and key
	// (cert_file, key_file). Optional: defaults to plain HTTP.
	TLS httpserver.TLS `mapstructure:"tls"`
	// Admin is the operators' API. Optional: defaults below.
	Admin AdminConfig `mapstructure:"admin"`
	// Force is the testers' forced-backend header. Optional: off by default.
	Force ForceConfig `mapstructure:"force"`
	// Backends are the two services behind the proxy.
	Backends BackendsConfig `mapstructure:"backends"`
	// MaxBodyBytes caps request bodies: larger ones get 413 before any
	// backend sees them. Optional: defaults to 1048576.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// BodyTimeout is how long a request body may take to arrive, from the
	// request's start: past it the client gets 408 (or the backend call
	// fails), so a slow client cannot hold a connection and a backend's
	// for ever. Request headers have 10s. Optional: defaults to 30s.
	BodyTimeout time.Duration `mapstructure:"body_timeout"`
	// MaxConns caps the client connections open at once; past it new ones
	// wait in the kernel's backlog until one closes. Optional: defaults to 4096.
	MaxConns int `mapstructure:"max_conns"`
	// Transport tunes the connections to the backends.
	Transport TransportConfig `mapstructure:"transport"`
	// Retries is how many times a failed attempt is retried when that is safe
	// (see retryTransport). Optional: defaults to 1; 0 disables retries.
	Retries int `mapstructure:"retries"`
	// Health configures the active health checks of both backends.
	Health HealthConfig `mapstructure:"health"`
	// Circuit configures the breaker on the new backend.
	Circuit CircuitConfig `mapstructure:"circuit"`
	// Idempotency configures the pinning of POSTs with an Idempotency-Key.
	Idempotency IdempotencyConfig `mapstructure:"idempotency"`
	// Control says where routing state, pins and the audit log persist.
	Control ControlConfig `mapstructure:"control"`
	// DynamoDB is the endpoint of the control table. Optional: defaults to the
	// local stack's DynamoDB Local (http://127.0.0.1:8000); an empty url means AWS.
	DynamoDB awsconf.Endpoint `mapstructure:"dynamodb"`
	// Routes are the routed calls, tried in order; the first whose method and
	// pattern match wins. A request that matches none goes to legacy.
	// Optional: defaults to none (everything goes to legacy).
	Routes []RouteConfig `mapstructure:"routes"`
	// WriteGroups are sets of write routes that share one mode, weight and
	// plan, so every mutating call on one order goes to one backend (see
	// WriteGroupConfig). Optional: defaults to none.
	WriteGroups []WriteGroupConfig `mapstructure:"write_groups"`
	// ReloadInterval is how often the config file's modification time is
	// checked for a live reload. Every key applies live except listen,
	// max_conns, admin.listen, admin.token, force.token, control.table, control.name,
	// control.plan_lease and dynamodb.*, which keep their running values
	// (each logged as needing a restart). Optional: defaults to 1s; 0 disables.
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
	// GOMAXPROCS, when positive, caps the Go scheduler's threads (1 measured
	// best on shared 2-core machines). Optional: defaults to 0, the runtime's choice.
	GOMAXPROCS int `mapstructure:"gomaxprocs"`
	// GOGC is the garbage collector's target heap growth in percent (the
	// GOGC environment variable wins when set). The proxy's live heap is
	// small and its garbage is per request, so a higher value trades a
	// little memory for fewer collections. Optional: defaults to 400; -1
	// turns the collector off except for MemoryLimitBytes.
	GOGC int `mapstructure:"gogc"`
	// MemoryLimitBytes is the runtime's soft memory limit (the GOMEMLIMIT
	// environment variable wins when set): past it the collector runs as
	// often as needed, whatever GOGC says, so a high GOGC cannot grow the
	// heap without bound. Optional: defaults to 536870912 (512 MiB); 0 means
	// no limit.
	MemoryLimitBytes int64 `mapstructure:"memory_limit_bytes"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM. Optional: defaults to 10s.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
}

// AdminConfig is the admin API's listener and credential.
type AdminConfig struct {
	// Listen is the admin API's address, on loopback (127.0.0.1, ::1 or
	// localhost; others are refused). Optional: defaults to 127.0.0.1:8089.
	Listen string `mapstructure:"listen"`
	// TLS makes the admin listener serve HTTPS from a PEM certificate and key
	// (cert_file, key_file). Optional: defaults to plain HTTP.
	TLS httpserver.TLS `mapstructure:"tls"`
	// Token is the bearer token of the admin API (never honoured on the
	// proxied API). Required: at least 16 characters. A secret.
	Token config.Secret `mapstructure:"token"`
}

// ForceConfig is the credential of the forced-backend header.
type ForceConfig struct {
	// Token, sent in X-Strangler-Force-Token, makes X-Strangler-Backend on a
	// proxied request honoured. Optional: defaults to empty, which turns the
	// forced-backend header off; else at least 16 characters, not the admin
	// token. A secret: set it with STRANGLER_PROXY_FORCE_TOKEN.
	Token config.Secret `mapstructure:"token"`
}

// BackendsConfig names the two backends by base URL.
type BackendsConfig struct {
	// Legacy is the legacy monolith. Optional: defaults to http://127.0.0.1:8080.
	Legacy string `mapstructure:"legacy"`
	// New is the new order service. Optional: defaults to http://127.0.0.1:8081.
	New string `mapstructure:"new"`
}

// TransportConfig tunes each backend's http.Transport (one per backend,
// so the per-host bounds are per backend).
type TransportConfig struct {
	// MaxIdleConnsPerHost is the keep-alive pool per backend; size it to the
	// requests in flight at peak, or the proxy churns TCP connections.
	// Optional: defaults to 256.
	MaxIdleConnsPerHost int `mapstructure:"max_idle_conns_per_host"`
	// MaxConnsPerHost bounds the connections to a backend, idle and busy;
	// past it requests wait for one to free (or their context to end).
	// Optional: defaults to 0, no bound; else at least max_idle_conns_per_host.
	MaxConnsPerHost int `mapstructure:"max_conns_per_host"`
	// DialTimeout bounds connecting to a backend. Optional: defaults to 2s.
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
	// ResponseHeaderTimeout bounds the wait for a backend's response headers;
	// past it the client gets 504. Optional: defaults to 30s.
	ResponseHeaderTimeout time.Duration `mapstructure:"response_header_timeout"`
	// IdleConnTimeout closes idle backend connections. Optional: defaults to 90s.
	IdleConnTimeout time.Duration `mapstructure:"idle_conn_timeout"`
}

// HealthConfig configures active health checks.
type HealthConfig struct {
	// Path is requested on each backend. Optional: defaults to /readyz.
	Path string `mapstructure:"path"`
	// Interval between checks. Optional: defaults to 2s.
	Interval time.Duration `mapstructure:"interval"`
	// Timeout of one check. Optional: defaults to 1s.
	Timeout time.Duration `mapstructure:"timeout"`
	// UnhealthyAfter consecutive failures mark a backend down. Optional: defaults to 2.
	UnhealthyAfter int `mapstructure:"unhealthy_after"`
	// HealthyAfter consecutive successes mark it up again. Optional: defaults to 2.
	HealthyAfter int `mapstructure:"healthy_after"`
}

// CircuitConfig configures the breaker on the new backend.
type CircuitConfig struct {
	// Window is the sliding window the error ratio is measured over. Optional: defaults to 10s.
	Window time.Duration `mapstructure:"window"`
	// MinRequests in the window before the ratio can open the circuit. Optional: defaults to 20.
	MinRequests int `mapstructure:"min_requests"`
	// MaxErrorRatio of 5xx and proxy errors that opens the circuit. Optional: defaults to 0.5.
	MaxErrorRatio float64 `mapstructure:"max_error_ratio"`
	// OpenFor is how long the circuit stays open before probing. Optional: defaults to 10s.
	OpenFor time.Duration `mapstructure:"open_for"`
	// Probes is how many requests a half-open circuit lets through; all must
	// succeed to close it. Optional: defaults to 5.
	Probes int `mapstructure:"probes"`
}

// IdempotencyConfig configures pinning.
type IdempotencyConfig struct {
	// TTL is how long a POST's Idempotency-Key stays pinned to its backend.
	// Optional: defaults to 24h.
	TTL time.Duration `mapstructure:"ttl"`
	// CacheSize is the in-memory LRU of pins in front of the control table.
	// Optional: defaults to 100000.
	CacheSize int `mapstructure:"cache_size"`
	// PinBudget bounds the wait for the control table's pin: past it the
	// request goes by its sticky bucket, unpinned (fail open, counted and
	// logged), so a slow control table never stalls creates on legacy.
	// Optional: defaults to 100ms.
	PinBudget time.Duration `mapstructure:"pin_budget"`
}

// ControlConfig names the control table and this proxy group in it.
type ControlConfig struct {
	// Table is the DynamoDB control table, created when missing. Optional:
	// defaults to strangler_control. Empty keeps state in memory only (one
	// replica, lost on restart: for benchmarks and experiments).
	Table string `mapstructure:"table"`
	// Name is the proxy group: replicas with the same name share routing
	// state (pk "proxy#<name>"). Optional: defaults to "default".
	Name string `mapstructure:"name"`
	// Poll is how often persisted routing state is read back, so changes made
	// on other replicas apply here. Optional: defaults to 2s.
	Poll time.Duration `mapstructure:"poll"`
	// PlanLease is the lease (sk "lease#plans") that makes one replica of
	// the group drive the progressive plans; it is renewed every third of
	// it, so another replica takes over at most this long after the holder
	// died (at once when it shut down cleanly). Optional: defaults to 6s.
	PlanLease time.Duration `mapstructure:"plan_lease"`
}

// DefaultConfig returns the configuration of the local stack.
func DefaultConfig() Config {
	return Config{
		Listen:       "127.0.0.1:8088",
		Admin:        AdminConfig{Listen: "127.0.0.1:8089"},
		Backends:     BackendsConfig{Legacy: "http://127.0.0.1:8080", New: "http://127.0.0.1:8081"},
		MaxBodyBytes: 1 << 20,
		BodyTimeout:  30 * time.Second,
		MaxConns:     4096,
		Transport: TransportConfig{
			MaxIdleConnsPerHost:   256,
			DialTimeout:           2 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
		},
		Retries:     1,
		Health:      HealthConfig{Path: "/readyz", Interval: 2 * time.Second, Timeout: time.Second, UnhealthyAfter: 2, HealthyAfter: 2},
		Circuit:     CircuitConfig{Window: 10 * time.Second, MinRequests: 20, MaxErrorRatio: 0.5, OpenFor: 10 * time.Second, Probes: 5},
		Idempotency: IdempotencyConfig{TTL: 24 * time.Hour, CacheSize: 100000, PinBudget: 100 * time.Millisecond},
		Control:     ControlConfig{Table: control.DefaultTable, Name: "default", Poll: 2 * time.Second, PlanLease: 6 * time.Second},
		DynamoDB:    awsconf.Local("http://127.0.0.1:8000"),

		ReloadInterval:   time.Second,
		GOGC:             400,
		MemoryLimitBytes: 512 << 20,
		ShutdownTimeout:  10 * time.Second,
	}
}

// RetiredKeys are the keys the proxy no longer has, with what to do
// instead; config.Load refuses them in the file, the environment and flags.
func (Config) RetiredKeys() map[string]string {
	return map[string]string{
		"transport.client": "nothing: delete it (the backends always go through net/http's http.Transport; " +
			"size its pool with transport.max_idle_conns_per_host and transport.max_conns_per_host)",
	}
}

var _ config.Retirer = Config{}

// Validate reports every unusable field, each naming its key.
func (c *Config) Validate() error {
	ck := config.NewChecker(part)
	c.TLS.Check(ck, "tls")
	c.Admin.TLS.Check(ck, "admin.tls")
	checkAddr(ck, "listen", c.Listen)
	checkAddr(ck, "admin.listen", c.Admin.Listen)
	if host, _, err := net.SplitHostPort(c.Admin.Listen); err == nil {
		ip := net.ParseIP(host)
		ck.Check(host == "localhost" || ip != nil && ip.IsLoopback(), "admin.listen", c.Admin.Listen,
			"a loopback address like 127.0.0.1:8089 (the admin API changes routing: reach it through SSH or a sidecar)")
	}
	ck.Check(len(c.Admin.Token.Reveal()) >= 16, "admin.token", c.Admin.Token, "a secret of at least 16 characters (STRANGLER_PROXY_ADMIN_TOKEN)")
	ft := c.Force.Token.Reveal()
	ck.Check(ft == "" || len(ft) >= 16 && ft != c.Admin.Token.Reveal(), "force.token", c.Force.Token,
		"empty (off) or a secret of at least 16 characters other than admin.token (STRANGLER_PROXY_FORCE_TOKEN)")
	checkURL(ck, "backends.legacy", c.Backends.Legacy)
	checkURL(ck, "backends.new", c.Backends.New)
	ck.Check(c.MaxBodyBytes >= 1024, "max_body_bytes", c.MaxBodyBytes, "at least 1024")
	ck.Check(c.BodyTimeout >= 100*time.Millisecond, "body_timeout", c.BodyTimeout, "at least 100ms")
	ck.Check(c.MaxConns > 0, "max_conns", c.MaxConns, "a positive number")
	ck.Check(c.Transport.MaxIdleConnsPerHost > 0, "transport.max_idle_conns_per_host", c.Transport.MaxIdleConnsPerHost, "a positive number")
	ck.Check(c.Transport.MaxConnsPerHost == 0 || c.Transport.MaxConnsPerHost >= c.Transport.MaxIdleConnsPerHost, "transport.max_conns_per_host",
		c.Transport.MaxConnsPerHost, "0 (no bound) or at least transport.max_idle_conns_per_host")
	ck.Check(c.Transport.DialTimeout > 0, "transport.dial_timeout", c.Transport.DialTimeout, "a positive duration")
	ck.Check(c.Transport.ResponseHeaderTimeout > 0, "transport.response_header_timeout", c.Transport.ResponseHeaderTimeout, "a positive duration")
	ck.Check(c.Transport.IdleConnTimeout > 0, "transport.idle_conn_timeout", c.Transport.IdleConnTimeout, "a positive duration")
	ck.Check(c.Retries >= 0 && c.Retries <= 5, "retries", c.Retries, "0 to 5")
	ck.Check(strings.HasPrefix(c.Health.Path, "/"), "health.path", c.Health.Path, "a path like /readyz")
	ck.Check(c.Health.Interval > 0, "health.interval", c.Health.Interval, "a positive duration")
	ck.Check(c.Health.Timeout > 0, "health.timeout", c.Health.Timeout, "a positive duration")
	ck.Check(c.Health.UnhealthyAfter > 0, "health.unhealthy_after", c.Health.UnhealthyAfter, "a positive number")
	ck.Check(c.Health.HealthyAfter > 0, "health.healthy_after", c.Health.HealthyAfter, "a positive number")
	ck.Check(c.Circuit.Window >= time.Second, "circuit.window", c.Circuit.Window, "at least 1s")
	ck.Check(c.Circuit.Window <= time.Duration(breakerSlots)*time.Second, "circuit.window", c.Circuit.Window, fmt.Sprintf("at most %ds", breakerSlots))
	ck.Check(c.Circuit.MinRequests > 0, "circuit.min_requests", c.Circuit.MinRequests, "a positive number")
	ck.Check(c.Circuit.MaxErrorRatio > 0 && c.Circuit.MaxErrorRatio <= 1, "circuit.max_error_ratio", c.Circuit.MaxErrorRatio, "above 0, at most 1")
	ck.Check(c.Circuit.OpenFor > 0, "circuit.open_for", c.Circuit.OpenFor, "a positive duration")
	ck.Check(c.Circuit.Probes > 0, "circuit.probes", c.Circuit.Probes, "a positive number")
	ck.Check(c.Idempotency.TTL >= time.Minute, "idempotency.ttl", c.Idempotency.TTL, "at least 1m")
	ck.Check(c.Idempotency.PinBudget >= 5*time.Millisecond && c.Idempotency.PinBudget <= 5*time.Second, "idempotency.pin_budget",
		c.Idempotency.PinBudget, "5ms to 5s")
	ck.Check(c.Idempotency.CacheSize > 0, "idempotency.cache_size", c.Idempotency.CacheSize, "a positive number")
	ck.Check(c.Control.Name != "" && !strings.Contains(c.Control.Name, "#"), "control.name", c.Control.Name, "a name without '#'")
	ck.Check(c.Control.Poll > 0, "control.poll", c.Control.Poll, "a positive duration")
	ck.Check(c.Control.PlanLease >= 300*time.Millisecond, "control.plan_lease", c.Control.PlanLease, "at least 300ms (renewed every third of it)")
	if c.Control.Table != "" {
		c.DynamoDB.Check(ck, "dynamodb")
	}
	ck.Check(c.ReloadInterval >= 0, "reload_interval", c.ReloadInterval, "a duration, 0 to disable")
	ck.Check(c.GOMAXPROCS >= 0, "gomaxprocs", c.GOMAXPROCS, "0 (runtime default) or a positive number")
	ck.Check(c.GOGC == -1 || c.GOGC > 0, "gogc", c.GOGC, "a positive percentage, or -1 (collect only at memory_limit_bytes)")
	ck.Check(c.MemoryLimitBytes == 0 || c.MemoryLimitBytes >= 64<<20, "memory_limit_bytes", c.MemoryLimitBytes, "0 (no limit) or at least 67108864 (64 MiB)")
	ck.Check(c.GOGC != -1 || c.MemoryLimitBytes > 0, "gogc", c.GOGC, "-1 only with a memory_limit_bytes")
	ck.Check(c.ShutdownTimeout > 0, "shutdown_timeout", c.ShutdownTimeout, "a positive duration")
	seen := map[string]bool{}
	for i, r := range c.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		r.check(ck, key)
		ck.Check(!seen[r.Name], key+".name", r.Name, "a name used once")
		seen[r.Name] = true
	}
	checkGroups(ck, c.Routes, c.WriteGroups)
	return ck.Err()
}

func checkAddr(ck *config.Checker, key, addr string) {
	_, _, err := net.SplitHostPort(addr)
	ck.Add(key, addr, err, "host:port, e.g. 127.0.0.1:8088")
}

func checkURL(ck *config.Checker, key, s string) {
	u, err := url.Parse(s)
	ck.Check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && (u.Path == "" || u.Path == "/"), key, s, "an http(s) base URL without a path")
}

// RouteConfig is one routed call.
type RouteConfig struct {
	// Name identifies the route in the admin API, metrics and the control
	// table. Required: letters, digits, '-' and '_'.
	Name string `mapstructure:"name"`
	// Match is a method and a path pattern, "GET /v1/orders/{id}": segments
	// are literals or {param}; a final {param...} matches the rest. Required.
	Match string `mapstructure:"match"`
	// Mode is legacy, shadow, canary or new. Optional: defaults to legacy.
	Mode Mode `mapstructure:"mode"`
	// Weight is the percentage (0-100, two decimals) of sticky buckets sent to
	// new in canary mode. Optional: defaults to 0.
	Weight float64 `mapstructure:"weight"`
	// Sticky says where the sticky key comes from: header:<Name>,
	// query:<param>, path:<param>, body:<field> (a top-level field of a JSON
	// body) or apikey (the bearer key). Optional: defaults to
	// body:customer_id for POST, PUT and PATCH, else query:customer_id. When
	// the source is empty the API key is used.
	Sticky string `mapstructure:"sticky"`
	// Shadow tunes the comparison in shadow mode (ignored fields, queue,
	// workers, dry-run header for writes). Optional: defaults of
	// shadow.DefaultConfig; without a dry_run_header only GET and HEAD are shadowed.
	Shadow *shadow.Config `mapstructure:"shadow"`
	// Plan is the route's progressive rollout plan, started through the admin
	// API (POST /admin/routes/{route}/plan). Optional: defaults to none.
	Plan *plan.Plan `mapstructure:"plan"`
}

func (r RouteConfig) check(ck *config.Checker, key string) {
	ck.Check(validName(r.Name), key+".name", r.Name, "letters, digits, '-' and '_'")
	_, err := parsePattern(r.Match)
	ck.Add(key+".match", r.Match, err, `a method and a path pattern like "GET /v1/orders/{id}"`)
	_, err = ParseMode(string(r.Mode))
	ck.Add(key+".mode", r.Mode, err, "legacy, shadow, canary or new")
	ck.Add(key+".weight", r.Weight, checkWeight(r.Weight), "0 to 100 with at most two decimals")
	if r.Sticky != "" {
		_, err := parseKeySource(r.Sticky)
		ck.Add(key+".sticky", r.Sticky, err, "header:<Name>, query:<param>, path:<param>, body:<field> or apikey")
	}
	if r.Shadow != nil {
		r.Shadow.Validate(ck, key+".shadow")
	}
	if r.Plan != nil {
		r.Plan.Validate(ck, key+".plan")
	}
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkWeight accepts 0-100 with at most two decimals.
func checkWeight(w float64) error {
	if math.IsNaN(w) || w < 0 || w > 100 {
		return fmt.Errorf("out of range")
	}
	if math.Abs(w*100-math.Round(w*100)) > 1e-6 {
		return fmt.Errorf("more than two decimals")
	}
	return nil
}
