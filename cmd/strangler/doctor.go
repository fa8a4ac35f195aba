package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/migrator"
	"github.com/anycompany/strangler/migrator/doctor"
)

func newDoctorCmd(a *app) *cobra.Command {
	var (
		migratorFile, cdcFile string
		asJSON                bool
		format                string
		timeout               time.Duration
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check, before the first row moves, whether the migration will work",
		Long: `Check the source, the table, DynamoDB and the event bus as the migrator and
the cdc would use them, and print one line per check:

  ok|warn|fail  what  why  fix

It reads configs/migrator.yaml and configs/cdc.yaml (STRANGLER_MIGRATOR_<KEY>
and STRANGLER_CDC_<KEY> in the environment), so with no flags it checks the
local stack. It checks:
  - the source's binlog settings, GTID mode and the cdc user's privileges
    (the cdc's own start-up checks);
  - the table: a one-column primary key, columns the codec maps, rows and
    bytes, a sample of items' sizes;
  - binlog retention against the backfill's estimated time;
  - the DynamoDB orders and control tables, the listing GSI and the TTL;
  - the write capacity the backfill needs (items x 1 KB units, x2 for
    transact, plus the GSI) and its time at backfill.max_wcu;
  - the event bus, and which of its rules hear the cdc's events.

Exits 0 when no check fails (warnings included), 1 otherwise. Columns are
aligned on a terminal and tab-separated otherwise (--format); --json prints
JSON.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.configFile != "" {
				return &usageError{errors.New("doctor reads two files: use --migrator-config and --cdc-config, not --config")}
			}
			mcfg := migrator.DefaultConfig()
			f := cmd.Flags()
			if err := config.Load(config.Source{Part: "migrator", File: migratorFile, Flags: map[string]*pflag.Flag{
				"backfill.max_wcu": f.Lookup("max-wcu"), "backfill.write_mode": f.Lookup("write-mode"),
			}}, &mcfg); err != nil {
				return err
			}
			ccfg := cdc.DefaultConfig()
			if err := config.Load(config.Source{Part: "cdc", File: cdcFile}, &ccfg); err != nil {
				return err
			}
			out := doctor.Format(format)
			switch {
			case asJSON:
				out = doctor.JSON
			case format == "auto" && isTerminal(a.stdout):
				out = doctor.Aligned
			case format == "auto":
				out = doctor.TSV
			case out != doctor.Aligned && out != doctor.TSV && out != doctor.JSON:
				return &usageError{fmt.Errorf("--format %q: use auto, aligned, tsv or json", format)}
			}
			return runDoctor(cmd.Context(), mcfg, ccfg, timeout, func(cs []doctor.Check) error { return doctor.Write(a.stdout, cs, out) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&migratorFile, "migrator-config", "", "the migrator's config file (default configs/migrator.yaml when present)")
	f.StringVar(&cdcFile, "cdc-config", "", "the cdc's config file (default configs/cdc.yaml when present)")
	f.StringVar(&format, "format", "auto", "auto (aligned on a terminal, else tsv), aligned, tsv or json")
	f.BoolVar(&asJSON, "json", false, `--format json: {"ok", "failed", "warned", "checks": [{"level", "what", "why", "fix"}]}`)
	f.DurationVar(&timeout, "timeout", 20*time.Second, "the longest a group of checks may take (an unreachable endpoint fails its group)")
	f.Int("max-wcu", 0, "estimate the backfill at this many write units a second (key backfill.max_wcu)")
	f.String("write-mode", "", "estimate the backfill in this write mode: transact, put or batch (key backfill.write_mode)")
	return cmd
}

// runDoctor builds the doctor's clients from the two configurations, runs
// it and hands the checks to write.
func runDoctor(ctx context.Context, mcfg migrator.Config, ccfg cdc.Config, timeout time.Duration, write func([]doctor.Check) error) error {
	src, err := migrator.OpenSource(mcfg.MySQL.DSN, 2)
	if err != nil {
		return err
	}
	defer src.Close()
	cdcSrc, err := sql.Open("mysql", ccfg.MySQL.DSN.Reveal())
	if err != nil {
		return fmt.Errorf("opening the cdc's source: %w", err)
	}
	defer cdcSrc.Close()
	ddb, err := mcfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return err
	}
	bus, err := ccfg.EventBridge.EventBridge(ctx)
	if err != nil {
		return err
	}
	var types []string
	for _, r := range ccfg.Events.Rules {
		types = append(types, r.DetailType)
	}
	d := &doctor.Doctor{
		Migrator: mcfg,
		CDC: doctor.CDC{
			DSN: ccfg.MySQL.DSN.Reveal(), Table: ccfg.Table, ControlTable: ccfg.ControlTable, Mapping: ccfg.Mapping,
			EventBridge: ccfg.EventBridge, Bus: ccfg.Events.Bus, Source: ccfg.Events.Source, DetailTypes: types,
		},
		Source:   src,
		Inspect:  inspectSource(cdcSrc),
		DynamoDB: ddb,
		Bus:      bus,
		Timeout:  timeout,
	}
	cs, runErr := d.Run(ctx)
	if err := write(cs); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if runErr != nil {
		return fmt.Errorf("%d of %d checks failed: %w", doctor.Failed(cs), len(cs), runErr)
	}
	return nil
}

// inspectSource gives the cdc's own checks of its source (cdc.Inspector's
// Findings) as the doctor's.
func inspectSource(db *sql.DB) func(context.Context) ([]doctor.Check, error) {
	return func(ctx context.Context) ([]doctor.Check, error) {
		fs, err := cdc.NewInspector(db).Findings(ctx)
		if err != nil {
			return nil, err
		}
		cs := make([]doctor.Check, len(fs))
		for i, f := range fs {
			cs[i] = doctor.Check{Level: doctor.Level(f.Level), What: f.What, Why: f.Why, Fix: f.Fix}
		}
		return cs, nil
	}
}
