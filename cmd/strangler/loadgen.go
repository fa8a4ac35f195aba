package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/anycompany/strangler/devstack/loadgen"
	"github.com/anycompany/strangler/internal/config"
)

func newLoadgenCmd(a *app) *cobra.Command {
	def := loadgen.DefaultConfig()
	var seedOrders int64
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Send realistic, seeded order traffic to an order API, or seed the legacy table",
		Long: `Send a weighted mix of create, get, list, advance and cancel calls from a
seeded population of retail and wholesale customers to any server of the order
API (legacy, the new service or the proxy), then print per-operation
throughput, latency percentiles and errors by status class.

--rate R > 0 runs open loop: calls are sent on schedule whatever the answers
do, latency is measured from each call's intended send time, and calls due
while --max-in-flight wait are skipped and counted. --rate 0 runs closed loop
with --concurrency workers, as fast as the server answers.

--seed-orders N instead inserts N historical orders straight into the legacy
MySQL table (mysql_dsn), fast, for backfill runs.

Configured by configs/loadgen.yaml.`,
		Example: `  strangler loadgen --rate 200 --duration 1m
  strangler loadgen --rate 0 --concurrency 32 --duration 30s --base-url http://127.0.0.1:8080
  strangler loadgen --seed-orders 1000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := loadgen.DefaultConfig()
			if err := a.load(cmd, "loadgen", &cfg, map[string]string{
				"base_url":        "base-url",
				"rate":            "rate",
				"concurrency":     "concurrency",
				"max_in_flight":   "max-in-flight",
				"duration":        "duration",
				"max_ops":         "max-ops",
				"seed":            "seed",
				"report_every":    "report-every",
				"request_timeout": "timeout",
				"seed_batch":      "seed-batch",
				"seed_workers":    "seed-workers",
				"created_out":     "created-out",
			}); err != nil {
				return err
			}
			if seedOrders < 0 {
				return &config.Error{Part: "loadgen", Key: "--seed-orders", Value: seedOrders, Allowed: "a positive number of rows"}
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			log = log.With("component", "loadgen")
			if cmd.Flags().Changed("seed-orders") {
				if seedOrders == 0 {
					return &config.Error{Part: "loadgen", Key: "--seed-orders", Value: seedOrders, Allowed: "a positive number of rows"}
				}
				var progress = a.stderr
				if !isTerminal(a.stderr) {
					progress = nil
				}
				res, err := loadgen.SeedOrders(cmd.Context(), cfg, seedOrders, log, progress)
				if err != nil {
					if cmd.Context().Err() != nil {
						fmt.Fprintf(a.stdout, "seeding interrupted after %d orders\n", res.Rows)
					}
					return err
				}
				fmt.Fprintf(a.stdout, "seeded %d orders in %s: %.0f rows/s\n", res.Rows, res.Elapsed.Round(time.Millisecond), res.RowsPerSecond())
				return nil
			}
			_, err = loadgen.Run(cmd.Context(), cfg, log, a.stdout)
			return err
		},
	}
	f := cmd.Flags()
	f.String("base-url", def.BaseURL, "order API under load (key base_url)")
	f.Float64("rate", def.Rate, "operations a second, open loop; 0 = closed loop as fast as --concurrency workers go (key rate)")
	f.Int("concurrency", def.Concurrency, "closed-loop workers when --rate is 0 (key concurrency)")
	f.Int("max-in-flight", def.MaxInFlight, "open-loop bound on calls waiting; calls due beyond it are skipped (key max_in_flight)")
	f.Duration("duration", def.Duration, "how long to send (key duration)")
	f.Int64("max-ops", def.MaxOps, "stop after this many operations; 0 = no limit (key max_ops)")
	f.String("created-out", def.CreatedOut, "write the id of every order created to this file, one per line (key created_out)")
	f.Uint64("seed", def.Seed, "seed of the operations and bodies (key seed)")
	f.Duration("report-every", def.ReportEvery, "interval of the progress lines; 0 = summary only (key report_every)")
	f.Duration("timeout", def.RequestTimeout, "timeout of each call (key request_timeout)")
	f.Int64Var(&seedOrders, "seed-orders", 0, "insert this many historical orders into the legacy table (mysql_dsn) instead of sending load")
	f.Int("seed-batch", def.SeedBatch, "rows per INSERT when seeding (key seed_batch)")
	f.Int("seed-workers", def.SeedWorkers, "parallel connections when seeding (key seed_workers)")
	return cmd
}
