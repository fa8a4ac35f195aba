package main

import (
	"github.com/spf13/cobra"

	"github.com/anycompany/strangler/devstack/downstream"
)

// newDevCmd is the group of local stand-ins for what AWS and the
// downstream services provide in production.
func newDevCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Local stand-ins for the downstream services (and, later, the event bus)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDevDownstreamCmd(a))
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
			return downstream.Run(cmd.Context(), cfg, log.With("component", "downstream"))
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
