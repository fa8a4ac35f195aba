package main

import (
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/anycompany/strangler/cdc"
)

func newCdcCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cdc",
		Short: "Stream the MySQL binlog into DynamoDB (position-guarded) and EventBridge (domain events)",
		Long: `The cdc reads the source's binlog as a replica and turns every row change of
the mapped table into a position-guarded DynamoDB write and a domain event.
Configured by configs/cdc.yaml (STRANGLER_CDC_<KEY> in the environment).`,
	}
	cmd.AddCommand(newCdcRunCmd(a), newCdcStatusCmd(a))
	return cmd
}

func (a *app) loadCdc(cmd *cobra.Command, flags map[string]string) (cdc.Config, error) {
	cfg := cdc.DefaultConfig()
	err := a.load(cmd, "cdc", &cfg, flags)
	return cfg, err
}

func newCdcRunCmd(a *app) *cobra.Command {
	var opts cdc.Options
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the cdc (or wait as a standby while another holds the lease)",
		Long: `Run the cdc until interrupted.

At start it checks the source (binlog_format=ROW, binlog_row_image=FULL, no
PARTIAL_JSON, no GTID mode transition, replication privileges) and refuses with
the reason; binlog_row_metadata other than FULL only warns.
It takes the lease in the control table; while another cdc holds it, this one
waits as a standby and takes over within lease.ttl of the holder's death. A
leader that loses its lease (it stalled past lease.ttl, or another took it)
stops writing at once and goes back to standby, resuming from the checkpoint
when it gets the lease again.

The source must be MariaDB (MariaDB GTIDs and binlog events); a MySQL 8
source is refused. Unless GOGC or GOMEMLIMIT are set, it runs with GOGC=400
and a 200 MiB soft memory limit.

It starts after its checkpoint, else after the position the backfill recorded,
else (with --from-now) at the source's current position. A start position the
source has purged stops it: re-run the backfill.

Every change becomes a guarded DynamoDB write (a tombstone for a delete) and an
event (detail type by events.rules). The checkpoint moves only to transaction
boundaries both sinks acknowledged. /metrics (metrics_listen) shows lag per
stage, throughput and errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadCdc(cmd, map[string]string{"metrics_listen": "metrics-listen", "lease.owner": "owner"})
			if err != nil {
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(cdc.GCPercent)
			}
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(cdc.MemoryLimit)
			}
			return cdc.Run(cmd.Context(), cfg, opts, cdc.Env{Log: log, Out: a.stdout})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.FromNow, "from-now", false, "with no checkpoint and no backfill position, start at the source's current position")
	f.StringVar(&opts.From, "from", "", "with no checkpoint (or after raising mysql.epoch), start after this position instead of the backfill's: domain-server-seq (MariaDB), a GTID set or file:offset (MySQL)")
	f.String("metrics-listen", "", "serve /metrics here (key metrics_listen)")
	f.String("owner", "", "this process's name in the lease (key lease.owner; default host:pid)")
	return cmd
}

func newCdcStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Print the source position, the checkpoint, the lag and the lease holder",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadCdc(cmd, nil)
			if err != nil {
				return err
			}
			_, err = cdc.RunStatus(cmd.Context(), cfg, a.stdout, nil)
			return err
		},
	}
}
