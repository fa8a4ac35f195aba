// Package eventbus is the local stand-in for Amazon EventBridge: a bus that
// speaks the PutEvents call of the real AWS JSON 1.1 protocol (so the AWS SDK
// and the aws CLI talk to it unchanged, with only the endpoint set), matches
// accepted events against rules with EventBridge event patterns (evaluated by
// quamina) and delivers them to HTTP targets with retries and a dead-letter
// file. Every accepted event is archived (JSONL) and can be replayed.
//
// Fault injection (a share of entries failed, a share of calls throttled)
// lets producers prove they retry failed entries alone and back off.
//
// The parts, each one type: Server (the HTTP face: protocol, admin API),
// Matcher (rules to targets), dispatcher (a bounded queue and workers per
// target), Sender (one HTTP delivery with retries), Archive and DeadLetters
// (JSONL files), Injector (faults), Replayer (archive to targets) and
// Client (the admin API, for tests and scripts).
package eventbus

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"time"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/internal/sinkauth"
)

// part names this part in configuration (configs/eventbus.yaml, env
// STRANGLER_EVENTBUS_*).
const part = "eventbus"

// DefaultBus is the bus PutEvents uses when an entry names none, as on AWS.
const DefaultBus = "default"

// Config configures the bus. It is a plain value; copy it freely (Rules and
// Buses are shared slices, so copy them before changing a copy).
type Config struct {
	// Listen is the TCP address of the listener serving the AWS protocol on
	// "/" and the admin API. Optional: defaults to "127.0.0.1:4010".
	Listen string `mapstructure:"listen"`
	// TLS makes the listener serve HTTPS from a PEM certificate and key
	// (cert_file, key_file). Optional: defaults to plain HTTP.
	TLS httpserver.TLS `mapstructure:"tls"`
	// AdminToken is the bearer token the /admin/* endpoints require.
	// Required (configs/eventbus.yaml has the local stack's).
	AdminToken config.Secret `mapstructure:"admin_token"`
	// Region is written into every event envelope. Optional: defaults to "us-east-1".
	Region string `mapstructure:"region"`
	// Account is the 12-digit account id written into every event envelope.
	// Optional: defaults to "000000000000".
	Account string `mapstructure:"account"`
	// Buses lists the event buses that exist; an entry naming another bus
	// fails with ResourceNotFoundException. "default" always exists.
	// Optional: defaults to ["default"].
	Buses []string `mapstructure:"buses"`
	// ArchivePath is the JSONL file every accepted event is appended to.
	// Optional: defaults to ".stack/eventbus/archive.jsonl". Its folder is created.
	ArchivePath string `mapstructure:"archive_path"`
	// DeadLetterPath is the JSONL file an event that could not be delivered
	// to a target is appended to, with the rule, the target and the reason.
	// Optional: defaults to ".stack/eventbus/dead-letters.jsonl".
	DeadLetterPath string `mapstructure:"dead_letter_path"`
	// DeadLetterTable, when set, is the control table the dead letters go
	// to (internal/deadletter, source bus: strangler deadletters list
	// --source bus), on DynamoDB; dead_letter_path then keeps only those the
	// table could not take. Optional: defaults to "" (the file only).
	DeadLetterTable string `mapstructure:"dead_letter_table"`
	// DynamoDB is the endpoint of dead_letter_table. Optional: defaults to
	// the local stack's DynamoDB Local; set url to "" for AWS.
	DynamoDB awsconf.Endpoint `mapstructure:"dynamodb"`
	// Seed seeds the random source of fault injection and retry jitter.
	// Optional: defaults to 0, which picks a seed from the clock.
	Seed uint64 `mapstructure:"seed"`
	// ShutdownTimeout bounds the graceful shutdown: the listener drains, then
	// the queues get this long to deliver; what is left is dead-lettered.
	// Optional: defaults to 5s.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// Faults are the faults in force at start. Optional: defaults to none.
	Faults FaultConfig `mapstructure:"faults"`
	// Rules route matching events to targets. Optional: defaults to none
	// (events are accepted and archived, delivered nowhere).
	Rules []RuleConfig `mapstructure:"rules"`
}

// FaultConfig is the bus's misbehaviour. The zero value is a healthy bus.
type FaultConfig struct {
	// FailRatio is the share of entries, 0 to 1, failed with ErrorCode
	// InternalFailure (counted in FailedEntryCount). Optional: defaults to 0.
	FailRatio float64 `mapstructure:"fail_ratio" json:"fail_ratio"`
	// ThrottleRatio is the share of whole calls, 0 to 1, answered 400
	// ThrottlingException. Optional: defaults to 0.
	ThrottleRatio float64 `mapstructure:"throttle_ratio" json:"throttle_ratio"`
}

// RuleConfig is one rule: an event pattern and the targets of the events it
// matches.
type RuleConfig struct {
	// Name names the rule in stats, logs and dead letters. Required: 1-64
	// letters, digits, '.', '-' or '_', unique.
	Name string `mapstructure:"name"`
	// Bus is the bus whose events the rule sees. Optional: defaults to "default".
	Bus string `mapstructure:"bus"`
	// Pattern is the EventBridge event pattern as a JSON string (a string,
	// not a YAML map, because YAML keys are case-folded by the loader).
	// Required. Kinds quamina cannot evaluate are refused (see README).
	Pattern string `mapstructure:"pattern"`
	// Targets receive the matched events by HTTP POST. Required: at least one.
	Targets []TargetConfig `mapstructure:"targets"`
}

// TargetConfig is one HTTP target of a rule.
type TargetConfig struct {
	// Name names the target in stats and dead letters. Optional: defaults to
	// "target-<n>" (n counts from 1 within the rule). Unique within the rule.
	Name string `mapstructure:"name"`
	// URL receives POST <event envelope JSON>. Required: an http(s) URL.
	URL string `mapstructure:"url"`
	// Timeout bounds one attempt. Optional: defaults to 5s.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxAttempts is the attempts per event before it is dead-lettered
	// (1 = no retry). Optional: defaults to 5.
	MaxAttempts int `mapstructure:"max_attempts"`
	// Backoff is the base wait before the second attempt; it doubles per
	// attempt up to MaxBackoff, with full jitter. Optional: defaults to 100ms.
	Backoff time.Duration `mapstructure:"backoff"`
	// MaxBackoff caps the wait between attempts. Optional: defaults to 5s.
	MaxBackoff time.Duration `mapstructure:"max_backoff"`
	// QueueSize bounds the events waiting for this target; when it is full a
	// new event is dead-lettered at once (PutEvents never blocks).
	// Optional: defaults to 10000.
	QueueSize int `mapstructure:"queue_size"`
	// Concurrency is the deliveries in flight to this target. 1 keeps the
	// order of acceptance (except across retries). Optional: defaults to 4.
	Concurrency int `mapstructure:"concurrency"`
	// Connection is the credential sent with every delivery, as an
	// EventBridge API destination's connection sends it: an API-key header
	// or basic auth (values or *_file). Optional: defaults to none.
	Connection sinkauth.Connection `mapstructure:"connection"`
}

// DefaultConfig returns the documented defaults (configs/eventbus.yaml
// without its rules).
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:4010",
		Region:          "us-east-1",
		Account:         "000000000000",
		Buses:           []string{DefaultBus},
		ArchivePath:     ".stack/eventbus/archive.jsonl",
		DeadLetterPath:  ".stack/eventbus/dead-letters.jsonl",
		DynamoDB:        awsconf.Local("http://127.0.0.1:8000"),
		ShutdownTimeout: 5 * time.Second,
	}
}

// Target defaults, applied by withDefaults.
const (
	defaultTimeout     = 5 * time.Second
	defaultMaxAttempts = 5
	defaultBackoff     = 100 * time.Millisecond
	defaultMaxBackoff  = 5 * time.Second
	defaultQueueSize   = 10_000
	defaultConcurrency = 4
)

var (
	nameRe    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	accountRe = regexp.MustCompile(`^[0-9]{12}$`)
)

// withDefaults returns c with every optional zero field of its rules and
// targets set to its default. It does not change c's slices.
func (c Config) withDefaults() Config {
	if len(c.Buses) == 0 {
		c.Buses = []string{DefaultBus}
	}
	rules := make([]RuleConfig, len(c.Rules))
	for i, r := range c.Rules {
		if r.Bus == "" {
			r.Bus = DefaultBus
		}
		ts := make([]TargetConfig, len(r.Targets))
		for j, t := range r.Targets {
			if t.Name == "" {
				t.Name = fmt.Sprintf("target-%d", j+1)
			}
			if t.Timeout == 0 {
				t.Timeout = defaultTimeout
			}
			if t.MaxAttempts == 0 {
				t.MaxAttempts = defaultMaxAttempts
			}
			if t.Backoff == 0 {
				t.Backoff = defaultBackoff
			}
			if t.MaxBackoff == 0 {
				t.MaxBackoff = defaultMaxBackoff
			}
			if t.QueueSize == 0 {
				t.QueueSize = defaultQueueSize
			}
			if t.Concurrency == 0 {
				t.Concurrency = defaultConcurrency
			}
			ts[j] = t
		}
		r.Targets = ts
		rules[i] = r
	}
	c.Rules = rules
	return c
}

// Validate reports every unusable field, each naming its key; a rule whose
// pattern is not valid, or uses a pattern kind this bus cannot evaluate,
// is named with the reason. It reads the targets' connection *_file
// values into c.
func (c *Config) Validate() error {
	ch := config.NewChecker(part)
	c.TLS.Check(ch, "tls")
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		ch.Add("listen", c.Listen, err, `host:port, like "127.0.0.1:4010"`)
	}
	ch.Check(c.AdminToken != "", "admin_token", c.AdminToken, "a non-empty token")
	ch.Check(c.Region != "", "region", c.Region, "an AWS region like us-east-1")
	ch.Check(accountRe.MatchString(c.Account), "account", c.Account, "12 digits, like 000000000000")
	for i, b := range c.Buses {
		ch.Check(nameRe.MatchString(b), fmt.Sprintf("buses[%d]", i), b, "1-64 letters, digits, '.', '-' or '_'")
	}
	ch.Check(c.ArchivePath != "", "archive_path", c.ArchivePath, "a file path")
	ch.Check(c.DeadLetterPath != "", "dead_letter_path", c.DeadLetterPath, "a file path")
	if c.DeadLetterTable != "" {
		ch.Check(len(c.DeadLetterTable) >= 3 && len(c.DeadLetterTable) <= 255, "dead_letter_table", c.DeadLetterTable, "a DynamoDB table name (the control table), or empty")
		c.DynamoDB.Check(ch, "dynamodb")
	}
	ch.Check(c.ShutdownTimeout > 0, "shutdown_timeout", c.ShutdownTimeout, "a positive duration like 5s")
	c.Faults.check(ch, "faults")

	d := c.withDefaults()
	buses := map[string]bool{DefaultBus: true}
	for _, b := range d.Buses {
		buses[b] = true
	}
	names := map[string]bool{}
	for i, r := range d.Rules {
		key := fmt.Sprintf("rules[%d]", i)
		ch.Check(nameRe.MatchString(r.Name), key+".name", r.Name, "1-64 letters, digits, '.', '-' or '_'")
		ch.Check(!names[r.Name], key+".name", r.Name, "a name no other rule has")
		names[r.Name] = true
		ch.Check(buses[r.Bus], key+".bus", r.Bus, "a bus listed in buses (or default)")
		if _, err := CompilePattern(r.Pattern); err != nil {
			ch.Add(key+".pattern", r.Pattern, fmt.Errorf("rule %q: %w", r.Name, err), "an EventBridge event pattern of a supported kind (see README)")
		}
		ch.Check(len(r.Targets) > 0, key+".targets", len(r.Targets), "at least one target")
		tnames := map[string]bool{}
		for j, t := range r.Targets {
			tk := fmt.Sprintf("%s.targets[%d]", key, j)
			ch.Check(nameRe.MatchString(t.Name), tk+".name", t.Name, "1-64 letters, digits, '.', '-' or '_'")
			ch.Check(!tnames[t.Name], tk+".name", t.Name, "a name no other target of the rule has")
			tnames[t.Name] = true
			u, err := url.Parse(t.URL)
			ch.Check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "", tk+".url", t.URL, "an http(s) URL")
			ch.Check(t.Timeout > 0 && t.Timeout <= 5*time.Minute, tk+".timeout", t.Timeout, "a duration from 1ms to 5m")
			ch.Check(t.MaxAttempts >= 1 && t.MaxAttempts <= 100, tk+".max_attempts", t.MaxAttempts, "1 to 100")
			ch.Check(t.Backoff > 0 && t.Backoff <= t.MaxBackoff, tk+".backoff", t.Backoff, "a positive duration no larger than max_backoff")
			ch.Check(t.MaxBackoff > 0 && t.MaxBackoff <= time.Hour, tk+".max_backoff", t.MaxBackoff, "a duration up to 1h")
			ch.Check(t.QueueSize >= 1 && t.QueueSize <= 10_000_000, tk+".queue_size", t.QueueSize, "1 to 10000000")
			ch.Check(t.Concurrency >= 1 && t.Concurrency <= 256, tk+".concurrency", t.Concurrency, "1 to 256")
			t.Connection.Check(ch, tk+".connection", false)
			c.Rules[i].Targets[j].Connection = t.Connection
		}
	}
	return ch.Err()
}

func (f FaultConfig) check(ch *config.Checker, prefix string) {
	ch.Check(f.FailRatio >= 0 && f.FailRatio <= 1, prefix+".fail_ratio", f.FailRatio, "a number from 0 to 1")
	ch.Check(f.ThrottleRatio >= 0 && f.ThrottleRatio <= 1, prefix+".throttle_ratio", f.ThrottleRatio, "a number from 0 to 1")
}

// errRatio is a fault ratio outside 0..1.
var errRatio = errors.New("must be a number from 0 to 1")
