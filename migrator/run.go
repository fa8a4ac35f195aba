package migrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/httpserver"
)

// Env is what the migrate commands share: where to print and log.
type Env struct {
	Log *slog.Logger
	// Out receives summaries and reports.
	Out io.Writer
	// Terminal, when not nil, gets a live progress bar.
	Terminal io.Writer
}

// RunInit creates the tables.
func RunInit(ctx context.Context, cfg Config, env Env) error {
	client, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := Init(ctx, client, cfg, env.Log); err != nil {
		return dynamoHint(cfg, err)
	}
	fmt.Fprintf(env.Out, "tables ready: %s (orders, GSI %s on %s + %s, TTL %s) and %s (control)\n",
		cfg.Table, cfg.Index.Name, cfg.Index.Partition, cfg.Index.Sort, codec.AttrExpires, cfg.ControlTable)
	return nil
}

// dynamoHint adds what to do to an unreachable endpoint error.
func dynamoHint(cfg Config, err error) error {
	var ks *ddbtable.KeySchemaError
	if errors.As(err, &ks) {
		return err
	}
	where := cfg.DynamoDB.URL
	if where == "" {
		where = "AWS " + cfg.DynamoDB.Region
	}
	return fmt.Errorf("%w (DynamoDB at %s: is it reachable? for the local stack run `make stack-up`)", err, where)
}

// source opens MySQL and resolves the mapping.
func source(ctx context.Context, cfg Config, conns int) (*Inspector, *codec.Mapping, func(), error) {
	db, err := OpenSource(cfg.MySQL.DSN, conns)
	if err != nil {
		return nil, nil, nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("connecting to MySQL (mysql.dsn; for the local stack run `make stack-up`): %w", err)
	}
	m, err := codec.Resolve(ctx, db, cfg.Mapping)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return NewInspector(db, m), m, func() { db.Close() }, nil
}

// requireTables checks the tables exist with the right keys, so a backfill
// never writes into a table init did not make.
func requireTables(ctx context.Context, client *dynamodb.Client, cfg Config) error {
	for _, name := range []string{cfg.Table, cfg.ControlTable} {
		if _, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name}); err != nil {
			var nf interface{ ErrorCode() string }
			if errors.As(err, &nf) && nf.ErrorCode() == "ResourceNotFoundException" {
				return fmt.Errorf("DynamoDB table %s does not exist: run `strangler migrate init` first", name)
			}
			return dynamoHint(cfg, fmt.Errorf("checking table %s: %w", name, err))
		}
	}
	return nil
}

// serveMetrics exposes reg on cfg.MetricsListen until ctx ends.
func serveMetrics(ctx context.Context, cfg Config, reg *prometheus.Registry, log *slog.Logger) {
	httpserver.ServeMetrics(ctx, httpserver.Listener{Addr: cfg.MetricsListen, TLS: cfg.MetricsTLS}, reg, log)
}

// RunBackfill runs (or resumes, or joins) the backfill job.
func RunBackfill(ctx context.Context, cfg Config, env Env) (Summary, error) {
	in, m, closeDB, err := source(ctx, cfg, cfg.Backfill.Workers+2)
	if err != nil {
		return Summary{}, err
	}
	defer closeDB()
	client, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return Summary{}, err
	}
	if err := requireTables(ctx, client, cfg); err != nil {
		return Summary{}, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(deadletter.NewCollector(deadletter.NewStore(client, cfg.ControlTable, nil), deadletter.Backfill))
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	serveMetrics(mctx, cfg, reg, env.Log)
	var limiter guard.Limiter
	if cfg.Backfill.MaxWCU > 0 {
		limiter = guard.NewRateLimiter(cfg.Backfill.MaxWCU, nil, nil)
	}
	writer := guard.NewWriter(client, cfg.Table, cfg.Backfill.WriteMode, guard.Options{Concurrency: cfg.Backfill.WriteConcurrency, Limiter: limiter})
	b := NewBackfiller(cfg, BackfillDeps{
		Inspector: in, Mapping: m, Jobs: NewJobStore(client, cfg.ControlTable, cfg.JobName(), nil), Writer: writer,
		Logger: env.Log, Registry: reg, Progress: NewProgress(env.Terminal, env.Log, cfg.Backfill.Progress),
	})
	sum, err := b.Run(ctx)
	fmt.Fprintf(env.Out, "backfill %s: %d chunks (%d this run, %d already done), %d rows read, %d written, %d skipped as older, %d dead; %d write calls (%s mode); %s, %.0f rows/s\n",
		sum.Job, sum.Chunks, sum.ChunksThisRun, sum.ChunksFinished, sum.RowsRead, sum.RowsWritten, sum.RowsSkipped, sum.RowsDead,
		sum.Calls, sum.WriteMode, sum.Elapsed.Round(time.Millisecond), sum.RowsPerSecond())
	if sum.StartPosition != "" {
		fmt.Fprintf(env.Out, "cdc start position recorded: %s\n", sum.StartPosition)
	}
	return sum, err
}

// VerifyOptions are verify's flags.
type VerifyOptions struct {
	Repair bool
	// Sample is the percentage of keys checked (100: all).
	Sample float64
	// IDs, when set, is a file of order ids (one per line, as the order
	// API answers them: decimal legacy ids or ord_ ids): only those are
	// checked, and each must be in both stores with the same content.
	IDs string
}

// RunVerify compares MySQL with DynamoDB, prints the report and returns
// ErrNotEqual when differences remain.
func RunVerify(ctx context.Context, cfg Config, opts VerifyOptions, env Env) (VerifyReport, error) {
	in, m, closeDB, err := source(ctx, cfg, cfg.Verify.Workers*2+2)
	if err != nil {
		return VerifyReport{}, err
	}
	defer closeDB()
	client, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return VerifyReport{}, err
	}
	if err := requireTables(ctx, client, cfg); err != nil {
		return VerifyReport{}, err
	}
	d := VerifierDeps{Inspector: in, Mapping: m, API: client, Table: cfg.Table, Sample: opts.Sample, Logger: env.Log}
	if opts.Repair {
		d.Repair = guard.NewWriter(client, cfg.Table, guard.Put, guard.Options{Inclusive: true})
	}
	if opts.IDs != "" {
		return verifyIDs(ctx, NewVerifier(cfg.Verify, d), opts.IDs, cfg, env)
	}
	rep, err := NewVerifier(cfg.Verify, d).Run(ctx)
	if err != nil {
		return rep, err
	}
	recordVerify(ctx, client, cfg, opts.Sample, rep, env.Log)
	scope := "all keys"
	if opts.Sample > 0 && opts.Sample < 100 {
		scope = fmt.Sprintf("a %.2f%% sample of keys", opts.Sample)
	}
	fmt.Fprintf(env.Out, "verify %s -> %s (%s): %d rows and %d items checked; missing %d, extra %d, different %d; %d settled within the grace period; %d repaired; %s\n",
		m.Table, cfg.Table, scope, rep.RowsChecked, rep.ItemsChecked, rep.Missing, rep.Extra, rep.Different, rep.Settled, rep.Repaired, rep.Elapsed.Round(time.Millisecond))
	printDifferences(env, cfg, rep)
	if !rep.Equal() {
		return rep, fmt.Errorf("%w: %d keys (rerun with --repair to rewrite them from MySQL under the position guard)", ErrNotEqual, len(rep.Differences))
	}
	fmt.Fprintln(env.Out, "EQUAL")
	return rep, nil
}

// recordVerify keeps the run's result in the control table, where the
// console reads the last one (control.LoadVerifyResult). A failure is
// logged, not fatal: the report printed is the run's answer.
func recordVerify(ctx context.Context, api *dynamodb.Client, cfg Config, sample float64, rep VerifyReport, log *slog.Logger) {
	if sample <= 0 || sample > 100 {
		sample = 100 // the Verifier checks every key then
	}
	r := control.VerifyResult{At: time.Now(), Equal: rep.Equal(), Rows: rep.RowsChecked, Items: rep.ItemsChecked,
		Missing: int64(rep.Missing), Extra: int64(rep.Extra), Different: int64(rep.Different), Repaired: int64(rep.Repaired), Sample: sample}
	if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &cfg.ControlTable, Item: control.VerifyItem(cfg.Table, r)}); err != nil {
		log.Warn("recording verify's result in the control table failed", "err", err)
	}
}

// verifyIDs checks the orders listed in path (see VerifyOptions.IDs).
func verifyIDs(ctx context.Context, v *Verifier, path string, cfg Config, env Env) (VerifyReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return VerifyReport{}, fmt.Errorf("reading --ids: %w", err)
	}
	seen := map[string]bool{}
	var keys []string
	for _, k := range strings.Fields(string(b)) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	rep, err := v.RunKeys(ctx, keys)
	if err != nil {
		return rep, err
	}
	fmt.Fprintf(env.Out, "verify --ids %s: %d orders checked; missing from DynamoDB %d, missing from MySQL %d, missing from both %d, different %d; %d settled within the grace period; %s\n",
		path, len(keys), rep.Missing, rep.Extra, rep.Lost, rep.Different, rep.Settled, rep.Elapsed.Round(time.Millisecond))
	printDifferences(env, cfg, rep)
	lost := rep.Missing + rep.Extra + rep.Lost
	if !rep.Equal() {
		return rep, fmt.Errorf("%w: %d of %d orders lost by a store, %d different", ErrNotEqual, lost, len(keys), rep.Different)
	}
	fmt.Fprintf(env.Out, "EQUAL: %d orders in both stores with the same content; 0 lost\n", len(keys))
	return rep, nil
}

// printDifferences prints the first verify.samples differences in full.
func printDifferences(env Env, cfg Config, rep VerifyReport) {
	for i, d := range rep.Differences {
		if i == cfg.Verify.Samples {
			fmt.Fprintf(env.Out, "  … and %d more\n", len(rep.Differences)-i)
			break
		}
		fmt.Fprintf(env.Out, "  %s %s\n", d.Kind, d.Key)
		for _, f := range d.Fields {
			fmt.Fprintf(env.Out, "      %s: mysql %s, dynamodb %s\n", f.Attribute, f.Want, f.Got)
		}
	}
}
