package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/devstack/downstream"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/config"
)

// newDevCmd is the group of local stand-ins for what AWS and the
// downstream services provide in production.
func newDevCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Local stand-ins for the downstream services and the EventBridge bus",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDevDownstreamCmd(a), newDevEventbusCmd(a), newDevTraceCmd(a))
	return cmd
}

func newDevDownstreamCmd(a *app) *cobra.Command {
	def := downstream.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "downstream",
		Short: "Serve the demo inventory and accounting services the legacy monolith calls",
		Long: `Serve the demo inventory (POST /inventory/v1/reservations) and accounting
(POST /accounting/v1/entries) services on one listener. They record what they
receive (GET …?order_id=), answer a repeated Idempotency-Key with the first
answer, and can be told to fail or slow down, at start (--inventory-fail-ratio,
--accounting-delay, …) or at run time (PUT /admin/faults with the admin token).
Configured by configs/downstream.yaml.`,
		Example: `  strangler dev downstream
  strangler dev downstream --inventory-fail-ratio 1     # inventory is down
  curl -H 'Authorization: Bearer dev-admin-token' http://127.0.0.1:8091/admin/stats
  curl -X PUT -H 'Authorization: Bearer dev-admin-token' -H 'Content-Type: application/json' \
       -d '{"accounting":{"fail_ratio":0.5,"delay":"200ms"}}' http://127.0.0.1:8091/admin/faults`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := downstream.DefaultConfig()
			if err := a.load(cmd, "downstream", &cfg, map[string]string{
				"listen":                "listen",
				"seed":                  "seed",
				"inventory.fail_ratio":  "inventory-fail-ratio",
				"inventory.delay":       "inventory-delay",
				"accounting.fail_ratio": "accounting-fail-ratio",
				"accounting.delay":      "accounting-delay",
			}); err != nil {
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			return a.traced("downstream", log, func(tp trace.TracerProvider) error {
				return downstream.Run(cmd.Context(), cfg, log.With("component", "downstream"), downstream.WithTracer(tp))
			})
		},
	}
	f := cmd.Flags()
	f.String("listen", def.Listen, "HTTP address of both services (key listen)")
	f.Uint64("seed", def.Seed, "seed of the fail_ratio draws; 0 picks one from the clock (key seed)")
	f.Float64("inventory-fail-ratio", 0, "share of inventory calls answered 503, 0 to 1 (key inventory.fail_ratio)")
	f.Duration("inventory-delay", 0, "delay added to every inventory call (key inventory.delay)")
	f.Float64("accounting-fail-ratio", 0, "share of accounting calls answered 503, 0 to 1 (key accounting.fail_ratio)")
	f.Duration("accounting-delay", 0, "delay added to every accounting call (key accounting.delay)")
	return cmd
}

func newDevEventbusCmd(a *app) *cobra.Command {
	def := eventbus.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "eventbus",
		Short: "Serve a local EventBridge-compatible bus (PutEvents, rules, HTTP targets, archive)",
		Long: `Serve a local stand-in for Amazon EventBridge. PutEvents speaks the real AWS
JSON 1.1 protocol on POST / (X-Amz-Target: AWSEvents.PutEvents), so the AWS SDK
and the aws CLI work against it with only the endpoint set. Entries are
validated as the service does (1-10 entries, 256 KiB, Source, DetailType and a
JSON object Detail; per-entry ErrorCode and FailedEntryCount). Accepted events
are archived (archive_path, JSONL), matched against the rules of
configs/eventbus.yaml (EventBridge event patterns, evaluated by quamina) and
POSTed as the EventBridge envelope to each rule's HTTP targets, with retries and
jittered backoff; what a target never takes goes to dead_letter_path.
Faults (fail_ratio: entries failed with InternalFailure; throttle_ratio: calls
answered ThrottlingException) are set at start or with PUT /admin/faults.`,
		Example: `  strangler dev eventbus                                  # 127.0.0.1:4010, configs/eventbus.yaml
  aws events put-events --endpoint-url http://127.0.0.1:4010 --region us-east-1 \
      --entries '[{"Source":"com.anycompany.orders","DetailType":"OrderCreated","Detail":"{\"event_id\":\"1\"}"}]'
  curl -H 'Authorization: Bearer dev-admin-token' http://127.0.0.1:4010/admin/stats
  curl -X PUT -H 'Authorization: Bearer dev-admin-token' -H 'Content-Type: application/json' \
       -d '{"fail_ratio":0.2,"throttle_ratio":0.1}' http://127.0.0.1:4010/admin/faults
  strangler dev eventbus replay --from 1h                 # re-deliver the last hour`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := eventbus.DefaultConfig()
			if err := a.load(cmd, "eventbus", &cfg, map[string]string{
				"listen":                "listen",
				"seed":                  "seed",
				"archive_path":          "archive-path",
				"dead_letter_path":      "dead-letter-path",
				"faults.fail_ratio":     "fail-ratio",
				"faults.throttle_ratio": "throttle-ratio",
			}); err != nil {
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			return eventbus.Run(cmd.Context(), cfg, log.With("component", "eventbus"))
		},
	}
	f := cmd.Flags()
	f.String("listen", def.Listen, "HTTP address of the AWS API and the admin API (key listen)")
	f.Uint64("seed", 0, "seed of fault draws and retry jitter; 0 picks one from the clock (key seed)")
	f.String("archive-path", def.ArchivePath, "JSONL file every accepted event is appended to (key archive_path)")
	f.String("dead-letter-path", def.DeadLetterPath, "JSONL file of undeliverable events (key dead_letter_path)")
	f.Float64("fail-ratio", 0, "share of entries failed with InternalFailure, 0 to 1 (key faults.fail_ratio)")
	f.Float64("throttle-ratio", 0, "share of calls answered ThrottlingException, 0 to 1 (key faults.throttle_ratio)")
	cmd.AddCommand(newDevEventbusReplayCmd(a))
	return cmd
}

func newDevEventbusReplayCmd(a *app) *cobra.Command {
	def := eventbus.DefaultConfig()
	var from, to, rule, name string
	cmd := &cobra.Command{
		Use:   "replay --from T [--to T] [--rule R]",
		Short: "Re-deliver archived events to the targets of the rules that match them",
		Long: `Read the bus's archive (archive_path) and re-deliver every event the bus
accepted between --from (inclusive) and --to (exclusive) to the targets of the
rules of configs/eventbus.yaml that match it now (only --rule when given), one
at a time in archive order, with each target's retry policy. Each re-delivered
envelope carries "replay-name". An event a target never takes goes to the
dead-letter file, and the command then exits 1. It runs on its own: the bus
need not run (and may, appending to the same archive).

T is an RFC 3339 time (2026-03-01T12:00:00Z) or a duration meaning that long
ago (90m, 2h). --to defaults to now.`,
		Example: `  strangler dev eventbus replay --from 2h
  strangler dev eventbus replay --from 2026-03-01T12:00:00Z --to 2026-03-01T13:00:00Z --rule orders-to-downstream`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			var req eventbus.ReplayRequest
			var err error
			if req.From, err = parseWhen(from, now); err != nil || from == "" {
				return &config.Error{Part: "eventbus replay", Key: "--from", Value: from, Err: err, Allowed: "an RFC 3339 time or a duration ago like 2h (required)"}
			}
			req.To = now
			if to != "" {
				if req.To, err = parseWhen(to, now); err != nil {
					return &config.Error{Part: "eventbus replay", Key: "--to", Value: to, Err: err, Allowed: "an RFC 3339 time or a duration ago like 30m"}
				}
			}
			if !req.From.Before(req.To) {
				return &config.Error{Part: "eventbus replay", Key: "--from", Value: from, Allowed: "a time before --to (" + req.To.UTC().Format(time.RFC3339) + ")"}
			}
			req.Rule, req.Name = rule, name

			cfg := eventbus.DefaultConfig()
			if err := a.load(cmd, "eventbus", &cfg, map[string]string{
				"archive_path":     "archive-path",
				"dead_letter_path": "dead-letter-path",
			}); err != nil {
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			dead, err := eventbus.OpenDeadLetters(cfg.DeadLetterPath)
			if err != nil {
				return err
			}
			defer dead.Close()
			r, err := eventbus.NewReplayer(cfg, dead, log.With("component", "eventbus-replay"))
			if err != nil {
				return err
			}
			res, err := r.Replay(cmd.Context(), req)
			if errors.Is(err, eventbus.ErrUnknownRule) {
				names := make([]string, 0, len(cfg.Rules))
				for _, r := range cfg.Rules {
					names = append(names, r.Name)
				}
				return &config.Error{Part: "eventbus replay", Key: "--rule", Value: rule, Allowed: "a rule of the configuration: " + strings.Join(names, ", ")}
			}
			if err != nil && res.Read == 0 {
				return err
			}
			out, _ := json.Marshal(res)
			fmt.Fprintln(a.stdout, string(out))
			if err != nil {
				return err
			}
			if res.DeadLettered > 0 {
				return fmt.Errorf("replay %s: %d of %d deliveries dead-lettered; see %s", res.Name, res.DeadLettered, res.Deliveries, cfg.DeadLetterPath)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "start of the window: RFC 3339 time or a duration ago (required)")
	f.StringVar(&to, "to", "", "end of the window (exclusive): RFC 3339 time or a duration ago (default now)")
	f.StringVar(&rule, "rule", "", "replay to the targets of this rule only (default every rule)")
	f.StringVar(&name, "name", "", `replay name written into each envelope as "replay-name" (default replay-<from>)`)
	f.String("archive-path", def.ArchivePath, "archive to read (key archive_path)")
	f.String("dead-letter-path", def.DeadLetterPath, "JSONL file of undeliverable events (key dead_letter_path)")
	return cmd
}

// parseWhen reads an RFC 3339 time, or a duration meaning that long before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(strings.TrimPrefix(s, "-"))
	if err != nil {
		return time.Time{}, fmt.Errorf("neither an RFC 3339 time nor a duration: %w", err)
	}
	return now.Add(-d), nil
}
