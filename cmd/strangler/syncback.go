package main

import (
	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/syncback"
)

func newSyncbackCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "syncback",
		Short: "Copy the new order service's changes back into the legacy MySQL table (rollback safety)",
	}
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the event bus target that writes new-service orders into the legacy table",
		Long: `Serve POST /events, the HTTP target the event bus delivers every event of the
new order service to (source com.anycompany.orders.service). Each event's order
image is written into the legacy table so the legacy service can serve the
order after a rollback: an ord_ id is upserted by the order_ref column, a
legacy decimal id updates its row, and only a newer version changes anything,
so duplicate and out-of-order deliveries are harmless.

Every transaction first updates a row of the marker table
(strangler_syncback_marker, created at start); the cdc skips transactions
that hold one (skip_marker_table), so nothing is echoed back.

Answers: 200 applied or already newer; 400 a malformed event and 409 an order
with no place in the table (the bus dead-letters both); 503 a database failure
(the bus retries). Configured by configs/syncback.yaml.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := syncback.DefaultConfig()
			if err := a.load(cmd, "syncback", &cfg, map[string]string{"listen": "listen"}); err != nil {
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			return a.traced("syncback", log, func(tp trace.TracerProvider) error { return syncback.Run(cmd.Context(), cfg, tp, log) })
		},
	}
	serve.Flags().String("listen", "", "HTTP address (key listen)")
	cmd.AddCommand(serve)
	return cmd
}
