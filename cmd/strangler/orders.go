package main

import (
	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/orders"
)

func newOrdersCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "orders",
		Short: "The new order service (HTTP API over DynamoDB, transactional outbox and its relay, order processor)",
	}
	load := func(cmd *cobra.Command, flags map[string]string) (orders.Config, error) {
		cfg := orders.DefaultConfig()
		err := a.load(cmd, "orders", &cfg, flags)
		return cfg, err
	}
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the order API over the DynamoDB orders table",
		Long: `Serve the order API of shared/DESIGN.md — the legacy service's contract,
answer for answer — over the DynamoDB orders table (created by 'strangler
migrate init'). A new order is stored pending, with id ord_<time-ordered id>,
together with its OrderCreated outbox record and its Idempotency-Key record in
one TransactWriteItems; cancel and PATCH write the order and their outbox
record the same way. The relay publishes the outbox; 'strangler orders
process' accepts the orders. A write carrying the dry_run_header set to
"true" is validated and answered but persists nothing. PUT /admin/faults
(bearer admin_token) injects 503s and delays on /v1/ routes.
Configured by configs/orders.yaml. Refuses to start while a table is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cmd, map[string]string{"listen": "listen"})
			if err != nil {
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			return a.traced("orders", log, func(tp trace.TracerProvider) error { return orders.Run(cmd.Context(), cfg, tp, log) })
		},
	}
	serve.Flags().String("listen", "", "HTTP address (key listen)")

	process := &cobra.Command{
		Use:   "process",
		Short: "Run the order processor: the bus target that accepts pending orders",
		Long: `Listen on processor.listen for EventBridge events (POST /events, the
envelope the bus delivers) and advance every order of an OrderCreated event of
processor.source from pending to accepted, with its OrderStatusChanged outbox
record, in one transaction. Duplicate and out-of-date deliveries answer 200
and change nothing; transient failures answer 503 so the bus retries; an
envelope that is not an event answers 400.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cmd, map[string]string{"processor.listen": "listen"})
			if err != nil {
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			return a.traced("processor", log, func(tp trace.TracerProvider) error { return orders.RunProcessor(cmd.Context(), cfg, tp, log) })
		},
	}
	process.Flags().String("listen", "", "HTTP address of POST /events (key processor.listen)")

	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create the service table (outbox, idempotency keys) and check the orders table",
		Long: `Create the service table (service_table: outbox records and idempotency
keys) unless it exists, and check that the orders table and its listing index
exist (they are created by 'strangler migrate init'). Idempotent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cmd, nil)
			if err != nil {
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			return orders.RunInit(cmd.Context(), cfg, log)
		},
	}
	cmd.AddCommand(serve, process, initCmd, newOrdersRelayCmd(a))
	return cmd
}
