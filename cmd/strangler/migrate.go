package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/anycompany/strangler/migrator"
)

func newMigrateCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create the DynamoDB tables, backfill them from MySQL, and verify the copy",
		Long: `The migrate commands move the MySQL table into DynamoDB: init creates the
tables, backfill copies the rows in parallel, resumable, position-guarded
chunks, and verify proves the copy equal. All are configured by
configs/migrator.yaml (STRANGLER_MIGRATOR_<KEY> in the environment).`,
	}
	cmd.AddCommand(newMigrateInitCmd(a), newMigrateBackfillCmd(a), newMigrateVerifyCmd(a))
	return cmd
}

// loadMigrator loads the migrator config with the given flag bindings.
func (a *app) loadMigrator(cmd *cobra.Command, flags map[string]string) (migrator.Config, migrator.Env, error) {
	cfg := migrator.DefaultConfig()
	if err := a.load(cmd, "migrator", &cfg, flags); err != nil {
		return cfg, migrator.Env{}, err
	}
	log, err := a.logger()
	if err != nil {
		return cfg, migrator.Env{}, err
	}
	env := migrator.Env{Log: log, Out: a.stdout}
	if isTerminal(a.stderr) {
		env.Terminal = a.stderr
	}
	return cfg, env, nil
}

func newMigrateInitCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the orders and control tables (idempotent)",
		Long: `Create the DynamoDB orders table (key pk, a GSI for listing a customer's
orders, TTL on expires_at for tombstones) and the control table, unless they
exist; wait until they are active. An existing table with another key schema
is refused, never changed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, env, err := a.loadMigrator(cmd, nil)
			if err != nil {
				return err
			}
			return migrator.RunInit(cmd.Context(), cfg, env)
		},
	}
}

func newMigrateBackfillCmd(a *app) *cobra.Command {
	var (
		dryRun     bool
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "backfill",
		Short: "Copy the MySQL table into DynamoDB (parallel, resumable, position-guarded)",
		Long: `Copy every row of the mapped MySQL table into the DynamoDB orders table.

The key range is split into chunks, leased through the control table, so a
rerun after a crash (kill -9 included) resumes without redoing finished chunks
and several machines can share one job. Each chunk is read in its own
consistent snapshot, stamped with the source position that snapshot reflects,
and written under the position guard (for the guarded modes). The position of
a snapshot taken before planning is recorded as where the cdc must start.

Write modes (--write-mode):
  transact  guarded TransactWriteItems of up to 100 items (default): safe while
            the cdc writes the same table; costs twice the write capacity.
  put       one guarded PutItem per item: safe, but one SDK call per row.
  batch     unconditional BatchWriteItem of 25: fastest, but safe only when no
            other writer (the cdc) touches the table until the backfill ends.

Rows that cannot be written (over 400 KB, refused values) are recorded with
their reasons in the control table; the run finishes the rest and exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, env, err := a.loadMigrator(cmd, map[string]string{
				"backfill.workers":    "workers",
				"backfill.chunk_size": "chunk-size",
				"backfill.write_mode": "write-mode",
				"backfill.max_wcu":    "max-wcu",
				"backfill.job":        "job",
			})
			if err != nil {
				return err
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			tuneGC()
			if dryRun {
				_, err := migrator.RunDryRun(cmd.Context(), cfg, env)
				return err
			}
			_, err = migrator.RunBackfill(cmd.Context(), cfg, env)
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "read and map every row, write nothing, report rows that cannot be written")
	f.Int("workers", 0, "chunks processed at once (key backfill.workers)")
	f.Int("chunk-size", 0, "rows per chunk (key backfill.chunk_size)")
	f.String("write-mode", "", "transact, put or batch (key backfill.write_mode; see above)")
	f.Int("max-wcu", 0, "cap on write capacity units per second, 0 for none (key backfill.max_wcu)")
	f.String("job", "", "job name in the control table (key backfill.job; default: the table name)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (for go tool pprof)")
	_ = f.MarkHidden("cpuprofile")
	return cmd
}

// tuneGC sets the garbage collector for the backfill unless GOGC or
// GOMEMLIMIT say otherwise: its live heap is small (the chunks' groups in
// flight, some tens of MB) but it allocates every item anew, so the default
// GOGC=100 collects several times a second. GOGC=300 collects a third as
// often; the soft limit of 200 MiB makes it collect sooner rather than
// let the heap pass that (the backfill is meant to stay under 300 MB).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(200 << 20)
	}
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating the CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting the CPU profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func newMigrateVerifyCmd(a *app) *cobra.Command {
	var opts migrator.VerifyOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Prove DynamoDB equal to MySQL; list and optionally repair the differences",
		Long: `Compare every MySQL row with its DynamoDB item by the codec's canonical form,
in parallel key ranges, and every item with its row. Reports missing items,
extra items (tombstones excepted) and different items with a field-level diff.
It works while writes continue: a key that differs is checked again after the
grace period (verify.grace) before it counts. With --repair, keys that still
differ are rewritten from a fresh MySQL snapshot under the position guard, so a
newer cdc write always wins. Exits 0 only when equal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, env, err := a.loadMigrator(cmd, map[string]string{"verify.workers": "workers", "verify.grace": "grace"})
			if err != nil {
				return err
			}
			if opts.IDs != "" && (opts.Repair || cmd.Flags().Changed("sample")) {
				return &usageError{fmt.Errorf("--ids checks the listed orders only: it takes neither --repair nor --sample")}
			}
			if opts.Sample < 0 || opts.Sample > 100 {
				return &usageError{fmt.Errorf("--sample %v: use a percentage from 0 (exclusive) to 100", opts.Sample)}
			}
			_, err = migrator.RunVerify(cmd.Context(), cfg, opts, env)
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Repair, "repair", false, "rewrite differing items from MySQL under the position guard")
	f.Float64Var(&opts.Sample, "sample", 100, "check only this percentage of keys, chosen by key hash")
	f.StringVar(&opts.IDs, "ids", "", "check only the order ids in this file (one per line, e.g. loadgen --created-out): each must be in both stores, equal; a missing one is a lost order")
	f.Int("workers", 0, "key ranges compared at once (key verify.workers)")
	f.Duration("grace", 0, "re-check a differing key after this before it counts (key verify.grace)")
	return cmd
}
