// Command cdcbench is the Go side of scripts/bench/cdc.sh. Each subcommand
// is one measurement, run in its own process so its peak RSS is its own:
//
//	prepare  create database -db with the legacy orders table and a workload
//	         of -orders inserts then -rounds updates of every order; print
//	         "START <gtid> END <gtid> CHANGES <n>"
//	decode   (a) raw go-mysql decode of the binlog from START until -changes rows
//	sink     (b) bare writers of the same kinds: guarded TransactWriteItems
//	         into -ddb, PutEvents of 10 into -bus ("null" serves a discarding
//	         endpoint in-process; "local" runs the devstack bus in-process)
//	engine   (c)/(d) cdc.Run over the binlog from START into -ddb and -bus
//	lag      (e) commit-to-delivery lag at -rate changes/s, open loop
//
// Every subcommand prints one result line starting with "RESULT".
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	gosql "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/legacy"
	"github.com/anycompany/strangler/migrator"
)

type flags struct {
	dsn, db, ddb, bus, start, table, control, cpuprofile string
	trace                                                string
	orders, rounds, changes, items, rate, inFlight       int
	maxBatch, eventsConcurrency                          int
	duration                                             time.Duration
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cdcbench prepare|decode|sink|engine|lag [flags]")
		os.Exit(2)
	}
	var f flags
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	fs.StringVar(&f.dsn, "dsn", "strangler:strangler@tcp(127.0.0.1:3307)/", "admin DSN without database")
	fs.StringVar(&f.db, "db", "bench_cdc", "database")
	fs.StringVar(&f.ddb, "ddb", "http://127.0.0.1:8000", "DynamoDB endpoint")
	fs.StringVar(&f.bus, "bus", "local", "null | local | an http URL")
	fs.StringVar(&f.start, "start", "", "start GTID")
	fs.StringVar(&f.table, "table", "bench_orders", "DynamoDB orders table")
	fs.StringVar(&f.control, "control", "bench_control", "DynamoDB control table")
	fs.IntVar(&f.orders, "orders", 20000, "orders inserted")
	fs.IntVar(&f.rounds, "rounds", 9, "update rounds over every order")
	fs.IntVar(&f.changes, "changes", 0, "row changes expected (engine)")
	fs.IntVar(&f.items, "items", 50000, "items/events written by sink")
	fs.IntVar(&f.rate, "rate", 500, "changes/s (lag)")
	fs.IntVar(&f.inFlight, "in-flight", 0, "apply.in_flight of the engine (0: the default)")
	fs.IntVar(&f.maxBatch, "max-batch", 0, "apply.max_batch of the engine (0: the default)")
	fs.IntVar(&f.eventsConcurrency, "events-concurrency", 0, "events.concurrency of the engine (0: the default)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "lag run length")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile here")
	fs.StringVar(&f.trace, "trace", "", "write an execution trace here (go tool trace)")
	_ = fs.Parse(os.Args[2:])
	ctx := context.Background()
	if f.cpuprofile != "" {
		pf, err := os.Create(f.cpuprofile)
		if err == nil && pprof.StartCPUProfile(pf) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if f.trace != "" {
		tf, err := os.Create(f.trace)
		if err == nil && trace.Start(tf) == nil {
			defer trace.Stop()
		}
	}
	var err error
	switch os.Args[1] {
	case "prepare":
		err = prepare(ctx, f)
	case "decode":
		err = decode(ctx, f)
	case "sink":
		err = sink(ctx, f)
	case "engine":
		err = engine(ctx, f)
	case "lag":
		err = lag(ctx, f)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		pprof.StopCPUProfile()
		trace.Stop()
		fmt.Fprintln(os.Stderr, "cdcbench:", err)
		os.Exit(1)
	}
}

func dbDSN(f flags) string {
	c, _ := gosql.ParseDSN(f.dsn)
	c.DBName = f.db
	c.ParseTime = true
	c.Loc = time.UTC
	return c.FormatDSN()
}

func peakRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.Join(strings.Fields(l)[1:], "")
		}
	}
	return "?"
}

// cpuSeconds is the CPU time (user + system) this process used so far: on
// a shared machine it is steadier than wall time, so each result prints it
// beside its rate.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func gtid(db *sql.DB) string {
	var s string
	_ = db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&s)
	return s
}

func prepare(ctx context.Context, f flags) error {
	admin, err := sql.Open("mysql", f.dsn)
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.Exec("DROP DATABASE IF EXISTS `" + f.db + "`"); err != nil {
		return err
	}
	if _, err := admin.Exec("CREATE DATABASE `" + f.db + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return err
	}
	db, err := sql.Open("mysql", dbDSN(f))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := legacy.NewSchemaMigrator(db).Migrate(ctx); err != nil {
		return err
	}
	start := gtid(db)
	n := 0
	items := `[{"sku":"SKU-1","name":"All-purpose cleaner 1L","quantity":3,"unit_price":"4.25"},{"sku":"SKU-2","name":"Microfibre cloth","quantity":10,"unit_price":"0.99"}]`
	for s := 0; s < f.orders; s += 200 {
		var vals []string
		for i := s; i < min(s+200, f.orders); i++ {
			vals = append(vals, fmt.Sprintf("('cust-%d', 'retail', 'accepted', 'EUR', '%s', %d.75, '{\"city\":\"Lyon\",\"zip\":\"69001\"}', 'ring twice', NOW(6), NOW(6))", i%997, items, i%500))
			n++
		}
		if _, err := db.Exec("INSERT INTO orders (customer_id, channel, status, currency, items, total, shipping_address, notes, created_at, updated_at) VALUES " + strings.Join(vals, ",")); err != nil {
			return err
		}
	}
	for r := 0; r < f.rounds; r++ {
		for lo := 1; lo <= f.orders; lo += 500 {
			res, err := db.Exec("UPDATE orders SET version = version + 1, total = total + 1, updated_at = NOW(6) WHERE id BETWEEN ? AND ?", lo, lo+499)
			if err != nil {
				return err
			}
			c, _ := res.RowsAffected()
			n += int(c)
		}
	}
	fmt.Printf("RESULT START %s END %s CHANGES %d\n", start, gtid(db), n)
	return nil
}

func addr(f flags) (string, uint16, string, string) {
	c, _ := gosql.ParseDSN(f.dsn)
	h, p, _ := net.SplitHostPort(c.Addr)
	port, _ := strconv.Atoi(p)
	return h, uint16(port), c.User, c.Passwd
}

func decode(ctx context.Context, f flags) error {
	host, port, user, pass := addr(f)
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 424242, Flavor: gomysql.MariaDBFlavor, Host: host, Port: port, User: user, Password: pass,
		ParseTime: true, UseDecimal: true, TimestampStringLocation: time.UTC, Logger: slog.New(slog.DiscardHandler),
	})
	defer syncer.Close()
	gs, err := gomysql.ParseMariadbGTIDSet(f.start)
	if err != nil {
		return err
	}
	began, cpu0 := time.Now(), cpuSeconds()
	stream, err := syncer.StartSyncGTID(gs)
	if err != nil {
		return err
	}
	rows := 0
	for {
		ev, err := stream.GetEvent(ctx)
		if err != nil {
			return err
		}
		switch e := ev.Event.(type) {
		case *replication.RowsEvent:
			if string(e.Table.Schema) == f.db {
				if ev.Header.EventType == replication.UPDATE_ROWS_EVENTv1 || ev.Header.EventType == replication.UPDATE_ROWS_EVENTv2 {
					rows += len(e.Rows) / 2
				} else {
					rows += len(e.Rows)
				}
			}
		}
		if rows >= f.changes {
			el := time.Since(began)
			fmt.Printf("RESULT decode changes=%d seconds=%.2f rate=%.0f/s cpu_us_per_change=%.1f peak_rss=%s\n", rows, el.Seconds(), float64(rows)/el.Seconds(), (cpuSeconds()-cpu0)*1e6/float64(rows), peakRSS())
			return nil
		}
	}
}

// nullBus serves PutEvents that accepts everything and keeps nothing.
func nullBus() (string, func()) {
	var n atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Count the entries without decoding: the null endpoint shares the
		// machine's cores with the engine it measures.
		body, _ := io.ReadAll(r.Body)
		entries := bytes.Count(body, []byte(`"DetailType":`))
		var b strings.Builder
		b.WriteString(`{"FailedEntryCount":0,"Entries":[`)
		for i := range entries {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"EventId":"e%d"}`, n.Add(1))
		}
		b.WriteString("]}")
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, b.String())
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }
}

// busURL resolves -bus: null, local (the devstack bus in-process, rules
// from rules, archive in a temp dir) or a URL.
func busURL(f flags, rules []eventbus.RuleConfig) (string, func(), error) {
	switch f.bus {
	case "null":
		u, stop := nullBus()
		return u, stop, nil
	case "local":
		dir, _ := os.MkdirTemp("", "cdcbench-bus")
		cfg := eventbus.DefaultConfig()
		cfg.ArchivePath = filepath.Join(dir, "archive.jsonl")
		cfg.DeadLetterPath = filepath.Join(dir, "dead.jsonl")
		cfg.Rules = rules
		srv, err := eventbus.New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			return "", nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = srv.Serve(ctx, ln); close(done) }()
		return "http://" + ln.Addr().String(), func() { cancel(); <-done; os.RemoveAll(dir) }, nil
	}
	return f.bus, func() {}, nil
}

func initTables(ctx context.Context, f flags) error {
	mc := migrator.DefaultConfig()
	mc.DynamoDB = awsconf.Local(f.ddb)
	mc.Table, mc.ControlTable = f.table, f.control
	return migrator.RunInit(ctx, mc, migrator.Env{Log: slog.New(slog.DiscardHandler), Out: io.Discard})
}

func sink(ctx context.Context, f flags) error {
	if err := initTables(ctx, f); err != nil {
		return err
	}
	// The bare SDK: its own request encoders, as the engine's clients.
	client, err := awsconf.Local(f.ddb).DynamoDB(ctx)
	if err != nil {
		return err
	}
	// The items the engine writes, built before the clock starts: every
	// order of -db, encoded from its row by the codec as the engine encodes
	// an after-image (nested items and shipping_address included), stamped
	// with src_pos numbers of the engine's size (transactions of 500
	// changes after -start). Rounds write every order once, each round with
	// newer positions, as the engine's workload does (1 insert + 9 updates
	// of every order = 10 rounds). Until 2026-11-22 the reference wrote six
	// small attributes per item (pk, customer_id, created_at, total,
	// status, notes) over 10,000 keys: not the items the engine writes.
	dc := cdc.DefaultConfig()
	rows, err := orderItems(ctx, f, dc)
	if err != nil {
		return err
	}
	start, err := position.ParseMariaDBGTID(f.start)
	if err != nil {
		return fmt.Errorf("-start: %w", err)
	}
	// posAt[run][i]: the items are written in two runs (alone, then beside
	// the events), the second with newer positions, or the guard would
	// refuse every write of it.
	var posAt [2][]string
	for run := range posAt {
		posAt[run] = make([]string, f.items)
		for i := range posAt[run] {
			p := start
			p.Seq, p.Index = start.Seq+1+uint64(run*(f.items/500+1)+i/500), uint32(i%500)
			posAt[run][i] = p.Number()
		}
	}
	// The timed writers are the bare SDK. Items: TransactWriteItems of 100
	// puts, each with the position guard, WriteConcurrency calls in flight
	// (as the engine's writer is configured). Events: PutEvents of 10
	// entries, events.concurrency calls in flight, built before the clock
	// starts (700-byte details; the engine's are about 600 bytes).
	cond := aws.String(guard.Condition)
	names := map[string]string{"#pk": "pk", "#pos": "src_pos"}
	table := aws.String(f.table)
	writeItems := func(ctx context.Context, run int) (int, error) {
		written := 0
		for base := 0; base < f.items; base += len(rows) {
			n := min(len(rows), f.items-base)
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(dc.Apply.WriteConcurrency)
			for lo := 0; lo < n; lo += 100 {
				hi := min(lo+100, n)
				g.Go(func() error {
					tx := make([]types.TransactWriteItem, 0, hi-lo)
					for i := lo; i < hi; i++ {
						pos := posAt[run][base+i]
						item := rows[i]
						item["src_pos"] = &types.AttributeValueMemberN{Value: pos}
						tx = append(tx, types.TransactWriteItem{Put: &types.Put{TableName: table, Item: item, ConditionExpression: cond,
							ExpressionAttributeNames: names, ExpressionAttributeValues: map[string]types.AttributeValue{":pos": &types.AttributeValueMemberN{Value: pos}}}})
					}
					_, err := client.TransactWriteItems(gctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
					return err
				})
			}
			if err := g.Wait(); err != nil {
				return written, fmt.Errorf("TransactWriteItems: %w", err)
			}
			written += n
		}
		return written, nil
	}
	url, stop, err := busURL(f, nil)
	if err != nil {
		return err
	}
	defer stop()
	eb, err := awsconf.Local(url).EventBridge(ctx)
	if err != nil {
		return err
	}
	detail := strings.Repeat("x", 700)
	var calls []*eventbridge.PutEventsInput
	for lo := 0; lo < f.items; lo += events.MaxEntries {
		in := &eventbridge.PutEventsInput{}
		for i := lo; i < min(lo+events.MaxEntries, f.items); i++ {
			in.Entries = append(in.Entries, ebtypes.PutEventsRequestEntry{Source: aws.String(dc.Events.Source), DetailType: aws.String("OrderUpdated"),
				Detail: aws.String(`{"event_id":"` + strconv.Itoa(i) + `","pad":"` + detail + `"}`)})
		}
		calls = append(calls, in)
	}
	writeEvents := func(ctx context.Context) (int, error) {
		var accepted atomic.Int64
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(dc.Events.Concurrency)
		for _, in := range calls {
			g.Go(func() error {
				out, err := eb.PutEvents(gctx, in)
				if err != nil {
					return err
				}
				if out.FailedEntryCount != 0 {
					return fmt.Errorf("PutEvents: %d of %d entries failed", out.FailedEntryCount, len(in.Entries))
				}
				accepted.Add(int64(len(in.Entries)))
				return nil
			})
		}
		err := g.Wait()
		return int(accepted.Load()), err
	}
	timed := func(write func(context.Context) (int, error)) (n int, el time.Duration, cpu float64, err error) {
		began, cpu0 := time.Now(), cpuSeconds()
		n, err = write(ctx)
		return n, time.Since(began), cpuSeconds() - cpu0, err
	}
	// Each kind alone, then both at once: every change of the engine is an
	// item and an event, so the sink ceiling of its write kind is the two
	// bare writers sharing the machine (each alone has every core).
	written, ddbEl, ddbCPU, err := timed(func(ctx context.Context) (int, error) { return writeItems(ctx, 0) })
	if err != nil {
		return err
	}
	accepted, ebEl, ebCPU, err := timed(writeEvents)
	if err != nil {
		return fmt.Errorf("PutEvents: %w", err)
	}
	var bothItems, bothEvents int
	_, bothEl, bothCPU, err := timed(func(ctx context.Context) (int, error) {
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) { bothItems, err = writeItems(gctx, 1); return err })
		g.Go(func() (err error) { bothEvents, err = writeEvents(gctx); return err })
		return 0, g.Wait()
	})
	if err != nil {
		return err
	}
	fmt.Printf("RESULT sink dynamodb_transact items=%d seconds=%.2f rate=%.0f/s cpu_us_per_item=%.1f | putevents(%s) events=%d calls=%d seconds=%.2f eb_rate=%.0f/s cpu_us_per_event=%.1f | both items=%d events=%d seconds=%.2f both_rate=%.0f/s cpu_us_per_pair=%.1f\n",
		written, ddbEl.Seconds(), float64(written)/ddbEl.Seconds(), ddbCPU*1e6/float64(written), f.bus, accepted, len(calls), ebEl.Seconds(), float64(accepted)/ebEl.Seconds(), ebCPU*1e6/float64(accepted),
		bothItems, bothEvents, bothEl.Seconds(), float64(min(bothItems, bothEvents))/bothEl.Seconds(), bothCPU*1e6/float64(min(bothItems, bothEvents)))
	return nil
}

// orderItems is every order of -db as the engine's item (without src_pos):
// the row read as text and encoded by the codec, as the engine encodes a
// row image.
func orderItems(ctx context.Context, f flags, dc cdc.Config) ([]map[string]types.AttributeValue, error) {
	c, _ := gosql.ParseDSN(f.dsn)
	c.DBName = f.db // values as text: DATETIME as MariaDB writes it, not parsed
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	m, err := codec.Resolve(ctx, db, dc.Mapping)
	if err != nil {
		return nil, err
	}
	rs, err := db.QueryContext(ctx, "SELECT "+m.QuotedColumns()+" FROM "+m.QuotedTable())
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var items []map[string]types.AttributeValue
	raw := make([]sql.RawBytes, len(m.Columns))
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	for rs.Next() {
		if err := rs.Scan(dest...); err != nil {
			return nil, err
		}
		vals := make([][]byte, len(raw))
		for i, r := range raw {
			vals[i] = r
		}
		row, err := m.RowFromText(vals)
		if err != nil {
			return nil, err
		}
		it, err := m.Item(row)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("no orders in %s: run prepare first", f.db)
	}
	return items, nil
}

func cdcConfig(f flags, busURL string) cdc.Config {
	cfg := cdc.DefaultConfig()
	cfg.MySQL.DSN = config.Secret(dbDSN(f))
	cfg.DynamoDB = awsconf.Local(f.ddb)
	cfg.EventBridge = awsconf.Local(busURL)
	cfg.Table, cfg.ControlTable = f.table, f.control
	cfg.MetricsListen = ""
	cfg.Lease.Owner = "bench"
	if f.inFlight > 0 {
		cfg.Apply.InFlight = f.inFlight
	}
	if f.maxBatch > 0 {
		cfg.Apply.MaxBatch = f.maxBatch
	}
	if f.eventsConcurrency > 0 {
		cfg.Events.Concurrency = f.eventsConcurrency
	}
	return cfg
}

func counter(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// tuneGC applies what strangler cdc run applies (unless GOGC or GOMEMLIMIT
// are set), so the engine is measured as it runs.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cdc.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cdc.MemoryLimit)
	}
}

func engine(ctx context.Context, f flags) error {
	tuneGC()
	if err := initTables(ctx, f); err != nil {
		return err
	}
	url, stop, err := busURL(f, nil)
	if err != nil {
		return err
	}
	defer stop()
	cfg := cdcConfig(f, url)
	reg := prometheus.NewRegistry()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	began, cpu0 := time.Now(), cpuSeconds()
	go func() {
		done <- cdc.Run(rctx, cfg, cdc.Options{From: f.start}, cdc.Env{Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Out: io.Discard, Registry: reg})
	}()
	// startup is until the first events were published (connecting,
	// checks, the lease), and atStartup how many: the steady rate is the
	// rest over the rest of the time.
	var (
		startup   time.Duration
		atStartup float64
	)
	for n := 0.0; n < float64(f.changes); n = counter(reg, "strangler_cdc_events_published_total") {
		if n > 0 && startup == 0 {
			startup, atStartup = time.Since(began), n
		}
		select {
		case err := <-done:
			cancel()
			return fmt.Errorf("cdc stopped early: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	el, cpu := time.Since(began), cpuSeconds()-cpu0
	written, skipped := counter(reg, "strangler_cdc_items_written_total"), counter(reg, "strangler_cdc_items_skipped_total")
	ddbCalls := 0.0
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "strangler_cdc_calls_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "dynamodb" {
					ddbCalls = m.GetCounter().GetValue()
				}
			}
		}
	}
	cancel()
	<-done
	fmt.Printf("RESULT engine(ddb=%s bus=%s) changes=%d seconds=%.2f rate=%.0f/s startup_seconds=%.2f steady_rate=%.0f/s cpu_us_per_change=%.1f items_written=%.0f coalesced_or_skipped=%.0f ddb_calls=%.0f peak_rss=%s\n",
		f.ddb, f.bus, f.changes, el.Seconds(), float64(f.changes)/el.Seconds(), startup.Seconds(), (float64(f.changes)-atStartup)/(el-startup).Seconds(), cpu*1e6/float64(f.changes), written, skipped, ddbCalls, peakRSS())
	return nil
}

func lag(ctx context.Context, f flags) error {
	tuneGC()
	if err := initTables(ctx, f); err != nil {
		return err
	}
	db, err := sql.Open("mysql", dbDSN(f))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(64)
	var maxID int
	if err := db.QueryRow("SELECT MAX(id) FROM orders").Scan(&maxID); err != nil {
		return err
	}
	// The receiver: the bus's HTTP target; lag = delivery - intended send.
	var (
		mu       sync.Mutex
		intended = map[string]time.Time{}
		lags     []time.Duration
	)
	recv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Detail struct {
				Order map[string]any `json:"order"`
			} `json:"detail"`
		}
		_ = json.NewDecoder(r.Body).Decode(&env)
		k := fmt.Sprintf("%v/%v", env.Detail.Order["id"], env.Detail.Order["notes"])
		now := time.Now()
		mu.Lock()
		if t, ok := intended[k]; ok {
			lags = append(lags, now.Sub(t))
			delete(intended, k)
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(ln, recv) }()
	url, stop, err := busURL(f, []eventbus.RuleConfig{{Name: "bench", Pattern: `{"source":["com.anycompany.orders"]}`,
		Targets: []eventbus.TargetConfig{{Name: "recv", URL: "http://" + ln.Addr().String() + "/", Concurrency: 8}}}})
	if err != nil {
		return err
	}
	defer stop()
	cfg := cdcConfig(f, url)
	cfg.Apply.Window = 2 * time.Millisecond
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- cdc.Run(rctx, cfg, cdc.Options{FromNow: true}, cdc.Env{Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Out: io.Discard})
	}()
	time.Sleep(2 * time.Second) // the lease and the stream are up
	// Open loop: every 2 ms tick sends rate/500 updates, each stamped with
	// its intended send time; lag is measured from it.
	tick := 2 * time.Millisecond
	per := float64(f.rate) * tick.Seconds()
	jobs := make(chan [2]any, 100000)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				_, _ = db.Exec("UPDATE orders SET notes = ? WHERE id = ?", j[0], j[1])
			}
		}()
	}
	began := time.Now()
	sent, due := 0, 0.0
	for n := 0; time.Since(began) < f.duration; n++ {
		at := began.Add(time.Duration(n) * tick)
		time.Sleep(time.Until(at))
		due += per
		for ; float64(sent) < due; sent++ {
			id := 1 + sent%maxID
			// Unique per run: an UPDATE that changes nothing logs nothing.
			note := fmt.Sprintf("lag-%d-%d", began.UnixNano(), sent)
			mu.Lock()
			intended[fmt.Sprintf("%d/%s", id, note)] = at
			mu.Unlock()
			jobs <- [2]any{note, id}
		}
	}
	close(jobs)
	wg.Wait()
	time.Sleep(3 * time.Second)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lags)
	q := func(p float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(p*float64(len(lags))))]
	}
	fmt.Printf("RESULT lag rate=%d/s sent=%d delivered=%d p50=%v p99=%v max=%v peak_rss=%s\n", f.rate, sent, len(lags),
		q(0.5).Round(100*time.Microsecond), q(0.99).Round(100*time.Microsecond), q(1).Round(100*time.Microsecond), peakRSS())
	return nil
}
