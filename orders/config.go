// Package orders is the new order service: the order API of
// shared/DESIGN.md (the legacy monolith's HTTP contract, answer for answer)
// over the DynamoDB orders table, with a transactional outbox (orders/outbox)
// instead of synchronous downstream calls, and the order processor that
// advances new orders from pending to accepted when their OrderCreated event
// comes back through the bus.
//
// The parts, one type each: Server (the HTTP face: auth, validation,
// dry runs, faults, metrics), Store (orders, idempotency and outbox records
// in DynamoDB, every change one TransactWriteItems), IDs (time-ordered order
// ids) and Processor (the bus target that accepts pending orders).
package orders

import (
	"fmt"
	"net"
	"net/textproto"
	"regexp"
	"time"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/sinkauth"
	"github.com/anycompany/strangler/orders/outbox"
)

// part names this part in configuration (configs/orders.yaml, env
// STRANGLER_ORDERS_*).
const part = "orders"

// Config is the new order service's configuration (configs/orders.yaml).
// The zero value is not valid; start from DefaultConfig. It may be copied.
type Config struct {
	// Listen is the HTTP address of the order API. Optional: defaults to
	// 127.0.0.1:8081 (the proxy's backends.new).
	Listen string `mapstructure:"listen"`
	// TLS makes the listener serve HTTPS from a PEM certificate and key
	// (cert_file, key_file). Optional: defaults to plain HTTP.
	TLS httpserver.TLS `mapstructure:"tls"`
	// DynamoDB is the endpoint of both tables. Optional: defaults to the
	// local stack's DynamoDB Local; set url to "" for AWS.
	DynamoDB awsconf.Endpoint `mapstructure:"dynamodb"`
	// Table is the orders table, created by `strangler migrate init`.
	// Optional: defaults to orders.
	Table string `mapstructure:"table"`
	// Index is the orders table's GSI on customer_id + created_at used for
	// listing. Optional: defaults to by_customer.
	Index string `mapstructure:"index"`
	// ServiceTable holds the outbox and the idempotency records, created by
	// `strangler orders init`. Optional: defaults to orders_service.
	ServiceTable string `mapstructure:"service_table"`
	// Outbox tunes the transactional outbox.
	Outbox OutboxConfig `mapstructure:"outbox"`
	// APIKeys are the bearer keys clients authenticate with, each bound to
	// one channel. Required: at least one (the local stack's configs give
	// both services the same keys, so one client works against both). In the
	// environment: STRANGLER_ORDERS_API_KEYS="key1=retail,key2=wholesale".
	APIKeys orderapi.APIKeys `mapstructure:"api_keys"`
	// Rules are the order validation rules. Optional: defaults to order.DefaultRules.
	Rules order.Rules `mapstructure:"rules"`
	// DryRunHeader names the request header that, set to "true", makes a
	// write validate and answer as if done while persisting nothing (the
	// proxy's shadow.dry_run_header). Optional: defaults to X-Strangler-Dry-Run.
	DryRunHeader string `mapstructure:"dry_run_header"`
	// AdminToken is the bearer token of /admin/faults. A secret. Required:
	// 8 characters or more (STRANGLER_ORDERS_ADMIN_TOKEN).
	AdminToken config.Secret `mapstructure:"admin_token"`
	// Faults are injected at start (also settable with PUT /admin/faults).
	// Optional: defaults to none.
	Faults Faults `mapstructure:"faults"`
	// TransactAttempts bounds the attempts of one change that keeps losing
	// races (a transaction conflict, a version changed under it). Optional:
	// defaults to 8.
	TransactAttempts int `mapstructure:"transact_attempts"`
	// Processor configures `strangler orders process`.
	Processor ProcessorConfig `mapstructure:"processor"`
	// MaxBodyBytes caps request bodies (also the processor's). Optional:
	// defaults to 65536.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM. Optional:
	// defaults to 10s.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
}

// OutboxConfig tunes the outbox.
type OutboxConfig struct {
	// Shards is the outbox partitions an order's records are spread over
	// (outbox.ShardOf); the relay reads shards 0..shards-1, so both must
	// agree. Optional: defaults to 4.
	Shards int `mapstructure:"shards"`
}

// ProcessorConfig configures the order processor.
type ProcessorConfig struct {
	// Listen is the HTTP address the bus delivers events to (POST /events).
	// Optional: defaults to 127.0.0.1:8083.
	Listen string `mapstructure:"listen"`
	// Source is the event source whose OrderCreated events are processed;
	// other events are acknowledged and ignored. Optional: defaults to
	// com.anycompany.orders.service.
	Source string `mapstructure:"source"`
	// TLS makes the processor's listener serve HTTPS (cert_file,
	// key_file). Optional: defaults to plain HTTP.
	TLS httpserver.TLS `mapstructure:"tls"`
	// Auth is the credential every POST /events must carry: the bus's
	// (or an EventBridge API destination's) connection. Required.
	Auth sinkauth.Connection `mapstructure:"auth"`
}

// Faults are deliberate failures of the /v1/ routes, for demonstrations of
// the proxy's automatic rollback. The zero value is a healthy service. It
// may be copied.
type Faults struct {
	// ErrorRatio is the share of /v1/ requests, 0 to 1, answered 503.
	// Optional: defaults to 0.
	ErrorRatio float64 `mapstructure:"error_ratio" json:"error_ratio"`
	// Delay is added before each /v1/ request is handled. Optional:
	// defaults to 0.
	Delay Duration `mapstructure:"delay" json:"delay"`
}

// Duration is a time.Duration that reads and writes its text form ("200ms")
// in JSON and configuration.
type Duration time.Duration

// UnmarshalText parses a Go duration like 200ms.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration like 200ms: %w", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d like 200ms.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// check records unusable fault fields in ck under prefix.
func (f Faults) check(ck *config.Checker, prefix string) {
	ck.Check(f.ErrorRatio >= 0 && f.ErrorRatio <= 1, prefix+".error_ratio", f.ErrorRatio, "a number from 0 to 1")
	ck.Check(f.Delay >= 0 && time.Duration(f.Delay) <= time.Minute, prefix+".delay", time.Duration(f.Delay), "a duration from 0s to 1m")
}

// DefaultConfig returns the configuration of the local stack.
func DefaultConfig() Config {
	return Config{
		Listen:           "127.0.0.1:8081",
		DynamoDB:         awsconf.Local("http://127.0.0.1:8000"),
		Table:            "orders",
		Index:            "by_customer",
		ServiceTable:     outbox.DefaultTable,
		Outbox:           OutboxConfig{Shards: 4},
		Rules:            order.DefaultRules(),
		DryRunHeader:     "X-Strangler-Dry-Run",
		TransactAttempts: 8,
		Processor:        ProcessorConfig{Listen: "127.0.0.1:8083", Source: outbox.DefaultSource},
		MaxBodyBytes:     64 << 10,
		ShutdownTimeout:  10 * time.Second,
	}
}

var (
	tableNameRe  = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	headerNameRe = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
)

// Validate reports every wrong key.
func (c *Config) Validate() error {
	ck := config.NewChecker(part)
	c.TLS.Check(ck, "tls")
	c.Processor.TLS.Check(ck, "processor.tls")
	for key, addr := range map[string]string{"listen": c.Listen, "processor.listen": c.Processor.Listen} {
		_, _, err := net.SplitHostPort(addr)
		ck.Add(key, addr, err, "host:port, e.g. 127.0.0.1:8081")
	}
	c.DynamoDB.Check(ck, "dynamodb")
	ck.Check(tableNameRe.MatchString(c.Table), "table", c.Table, "a DynamoDB table name: 3-255 of a-z A-Z 0-9 _ - .")
	ck.Check(tableNameRe.MatchString(c.Index), "index", c.Index, "a DynamoDB index name: 3-255 of a-z A-Z 0-9 _ - .")
	ck.Check(tableNameRe.MatchString(c.ServiceTable), "service_table", c.ServiceTable, "a DynamoDB table name: 3-255 of a-z A-Z 0-9 _ - .")
	ck.Check(c.ServiceTable != c.Table, "service_table", c.ServiceTable, "a table other than table")
	ck.Check(c.Outbox.Shards >= 1 && c.Outbox.Shards <= 1024, "outbox.shards", c.Outbox.Shards, "1 to 1024 (the relay must read as many)")
	c.APIKeys.Check(ck, "api_keys")
	c.Rules.Check(ck, "rules")
	ck.Check(headerNameRe.MatchString(c.DryRunHeader) && textproto.CanonicalMIMEHeaderKey(c.DryRunHeader) != "Authorization",
		"dry_run_header", c.DryRunHeader, "an HTTP header name like X-Strangler-Dry-Run")
	ck.Check(len(c.AdminToken.Reveal()) >= 8, "admin_token", c.AdminToken, "at least 8 characters")
	c.Faults.check(ck, "faults")
	ck.Check(c.TransactAttempts >= 1 && c.TransactAttempts <= 100, "transact_attempts", c.TransactAttempts, "1 to 100")
	c.Processor.Auth.Check(ck, "processor.auth", true)
	ck.Check(c.Processor.Source != "", "processor.source", c.Processor.Source, "an event source like "+outbox.DefaultSource)
	ck.Check(c.MaxBodyBytes >= 1024, "max_body_bytes", c.MaxBodyBytes, "at least 1024")
	ck.Check(c.ShutdownTimeout > 0, "shutdown_timeout", c.ShutdownTimeout, "a positive duration like 10s")
	return ck.Err()
}
