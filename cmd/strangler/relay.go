package main

import (
	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/orders/relay"
)

// newOrdersRelayCmd is `strangler orders relay`: the orders command adds it.
func newOrdersRelayCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Publish the order service's outbox to EventBridge (at-least-once, in order per order)",
		Long: `Run the outbox relay until interrupted.

It takes a lease per outbox shard in the service table (table; lease.ttl: a
dead relay's shards are taken over that long after it died; max_shards shares
the shards between several relays), reads each held shard with strongly
consistent queries in seq order (poll.page_size records a poll, the next page
at once after a full one, idle polls backing off from poll.min_interval to
poll.max_interval), publishes the records through PutEvents (events.source,
10 entries / 256 KiB a call, failed entries retried alone, throttling backed
off, an order's events in seq order) and deletes each page once the bus
accepted it. A crash in between publishes a record again with the same
event_id. A record the bus can never accept (over 256 KiB, malformed) moves
to a dead letter (pk dead, its sk, the reason) in one transaction.

Configured by configs/relay.yaml (STRANGLER_RELAY_<KEY> in the environment).
/metrics (metrics_listen) shows published, dead letters, errors, the backlog's
age and the lag per shard.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := relay.DefaultConfig()
			if err := a.load(cmd, "relay", &cfg, map[string]string{"metrics_listen": "metrics-listen", "lease.owner": "owner"}); err != nil {
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			return a.traced("relay", log, func(tp trace.TracerProvider) error {
				return relay.Run(cmd.Context(), cfg, relay.Env{Log: log, Tracer: tp})
			})
		},
	}
	f := cmd.Flags()
	f.String("metrics-listen", "", "serve /metrics here (key metrics_listen)")
	f.String("owner", "", "this process's name in the shard leases (key lease.owner; default host:pid)")
	return cmd
}
