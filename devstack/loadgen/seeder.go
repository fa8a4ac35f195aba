package loadgen

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/anycompany/strangler/internal/order"
)

// ErrNoOrdersTable means the database has no orders table to seed.
var ErrNoOrdersTable = errors.New("table `orders` not found: start `strangler legacy serve` once (it creates the table), " +
	"or apply legacy/migrations/0001_orders.sql")

// seedColumns are the columns the seeder fills, in placeholder order.
const seedColumns = "customer_id, channel, status, currency, items, total, shipping_address, notes, idempotency_key, created_at, updated_at, version"

// seedColumnCount is the number of placeholders of one row.
const seedColumnCount = 12

// insertStatement returns the multi-row INSERT of rows rows: a pure
// function so it can be tested alone.
func insertStatement(rows int) string {
	var b strings.Builder
	row := "(?" + strings.Repeat(",?", seedColumnCount-1) + ")"
	b.Grow(len("INSERT INTO orders () VALUES ") + len(seedColumns) + rows*(len(row)+1))
	b.WriteString("INSERT INTO orders (" + seedColumns + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	return b.String()
}

// Seeder fills the legacy orders table with historical orders, fast: rows
// are generated on the inserting goroutines and sent as multi-row
// parameterised INSERTs over cfg.SeedWorkers connections, each reusing one
// prepared statement. Row content depends only on the seed, the row's index
// and the clock at start. The zero value is not usable; make one with
// NewSeeder. It must not be copied.
type Seeder struct {
	db       *sql.DB
	cfg      Config
	logger   *slog.Logger
	now      func() time.Time
	progress io.Writer // a terminal, or nil for log lines
	work     *workload
	addrJSON map[string][]byte // customer id -> shipping address JSON
	runID    string
}

// SeedOption changes how NewSeeder builds a Seeder.
type SeedOption func(*Seeder)

// WithProgress makes the seeder draw a carriage-return progress line on w
// (a terminal) instead of logging progress every five seconds.
func WithProgress(w io.Writer) SeedOption { return func(s *Seeder) { s.progress = w } }

// WithSeedClock sets the clock the seeder dates orders and times itself
// by. Default: time.Now.
func WithSeedClock(now func() time.Time) SeedOption { return func(s *Seeder) { s.now = now } }

// NewSeeder returns a seeder writing through db with cfg's seed_batch,
// seed_workers, seed_span, seed and customer populations.
func NewSeeder(db *sql.DB, cfg Config, logger *slog.Logger, opts ...SeedOption) *Seeder {
	s := &Seeder{db: db, cfg: cfg, logger: logger, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	s.runID = strconv.FormatInt(s.now().UnixNano(), 36)
	s.work = newWorkload(cfg, s.runID)
	s.addrJSON = map[string][]byte{}
	for _, cs := range [][]customer{s.work.retailC, s.work.wholesalC} {
		for _, c := range cs {
			b, _ := json.Marshal(c.Address)
			s.addrJSON[c.ID] = b
		}
	}
	return s
}

// SeedResult is what a seeding run did.
type SeedResult struct {
	Rows    int64
	Elapsed time.Duration
}

// RowsPerSecond is the insert rate of the run.
func (r SeedResult) RowsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Rows) / r.Elapsed.Seconds()
}

// CheckTable returns ErrNoOrdersTable (wrapped, with the database name)
// unless the connected database has an orders table.
func (s *Seeder) CheckTable(ctx context.Context) error {
	var dbName sql.NullString
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT DATABASE(), (SELECT COUNT(*) FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_name = 'orders')`).Scan(&dbName, &n)
	if err != nil {
		return fmt.Errorf("looking for the orders table: %w", err)
	}
	if !dbName.Valid {
		return fmt.Errorf("mysql_dsn names no database (…/strangler): %w", ErrNoOrdersTable)
	}
	if n == 0 {
		return fmt.Errorf("database %q: %w", dbName.String, ErrNoOrdersTable)
	}
	return nil
}

// Seed inserts n orders with created_at spread over the past cfg.SeedSpan,
// oldest first, and returns how many rows it wrote and how long it took.
// On error some batches may be committed: each INSERT is its own
// transaction.
func (s *Seeder) Seed(ctx context.Context, n int64) (SeedResult, error) {
	if err := s.CheckTable(ctx); err != nil {
		return SeedResult{}, err
	}
	batch := int64(s.cfg.SeedBatch)
	batches := (n + batch - 1) / batch
	start := s.now()
	s.logger.Info("seeding orders", "rows", n, "batch", batch, "workers", s.cfg.SeedWorkers, "span", s.cfg.SeedSpan.String())

	var done atomic.Int64
	stopProgress := s.startProgress(n, &done, start)
	g, gctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range min(int64(s.cfg.SeedWorkers), batches) {
		g.Go(func() error {
			return s.insertBatches(gctx, n, batches, &next, &done, start)
		})
	}
	err := g.Wait()
	res := SeedResult{Rows: done.Load(), Elapsed: s.now().Sub(start)}
	stopProgress()
	if err != nil {
		return res, fmt.Errorf("seeding orders after %d rows: %w", res.Rows, err)
	}
	return res, nil
}

// insertBatches claims batches from next until none are left, inserting
// each with one statement on one connection.
func (s *Seeder) insertBatches(ctx context.Context, n, batches int64, next, done *atomic.Int64, start time.Time) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	rows := make([]seedRow, 0, s.cfg.SeedBatch)
	args := make([]any, 0, s.cfg.SeedBatch*seedColumnCount)
	for {
		b := next.Add(1) - 1
		if b >= batches {
			return nil
		}
		first := b * int64(s.cfg.SeedBatch)
		last := min(first+int64(s.cfg.SeedBatch), n)
		rows = s.rows(rows[:0], b, first, last, n, start)
		args = args[:0]
		for i := range rows {
			args = rows[i].appendArgs(args)
		}
		st, ok := stmts[len(rows)]
		if !ok {
			if st, err = conn.PrepareContext(ctx, insertStatement(len(rows))); err != nil {
				return fmt.Errorf("preparing the insert of %d rows: %w", len(rows), err)
			}
			stmts[len(rows)] = st
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("inserting rows %d-%d: %w", first, last-1, err)
		}
		done.Add(int64(len(rows)))
	}
}

// seedRow is one historical order as the seeder inserts it.
type seedRow struct {
	customerID, channel, status, currency string
	items                                 string
	total                                 string
	address, notes, key                   *string
	createdAt, updatedAt                  time.Time
	version                               int
}

func (r *seedRow) appendArgs(args []any) []any {
	return append(args, r.customerID, r.channel, r.status, r.currency, r.items, r.total,
		nullable(r.address), nullable(r.notes), nullable(r.key), r.createdAt, r.updatedAt, r.version)
}

func nullable(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// rows appends rows first..last-1 of n (batch b) to out.
func (s *Seeder) rows(out []seedRow, b, first, last, n int64, start time.Time) []seedRow {
	r := opRand(s.cfg.Seed^0x5eed0de5, uint64(b))
	now := start.UTC().Truncate(time.Microsecond)
	span := s.cfg.SeedSpan
	step := float64(span) / float64(n)
	for i := first; i < last; i++ {
		// Oldest first, evenly spread with jitter inside the row's slot, so
		// ids grow with created_at as they do in the real table.
		offset := time.Duration((float64(i) + r.Float64()) * step)
		created := now.Add(-span + offset).Truncate(time.Microsecond)
		if !created.Before(now) {
			created = now.Add(-time.Microsecond)
		}
		c := s.work.customer(r)
		o := s.work.order(r, c)
		items, _ := json.Marshal(o.Items) // cannot fail: plain structs
		total, _ := order.Total(o.Items)  // cannot fail: catalog prices and quantities are small
		status, version, updated := history(r, created, now)
		row := seedRow{
			customerID: c.ID, channel: string(c.Channel), status: string(status), currency: c.Currency,
			items: string(items), total: total.String(), createdAt: created, updatedAt: updated, version: version,
		}
		if o.ShippingAddress != nil {
			a := string(s.addrJSON[c.ID])
			row.address = &a
		}
		if o.Notes != "" {
			notes := o.Notes
			row.notes = &notes
		}
		if r.IntN(10) < 3 {
			key := "hist-" + s.runID + "-" + strconv.FormatInt(i, 10)
			row.key = &key
		}
		out = append(out, row)
	}
	return out
}

// history draws the status an order created at created has reached by
// now, its version (accepted 1, processing 2, shipped 3, cancelled 2 from
// accepted or 3 from processing) and the time of its last change. Old
// orders are mostly shipped; recent ones are still moving.
func history(r *rand.Rand, created, now time.Time) (order.Status, int, time.Time) {
	age := now.Sub(created)
	var weights []float64 // accepted, processing, shipped, cancelled
	switch {
	case age > 30*24*time.Hour:
		weights = []float64{1, 1, 90, 8}
	case age > 7*24*time.Hour:
		weights = []float64{7, 10, 75, 8}
	case age > 24*time.Hour:
		weights = []float64{20, 28, 45, 7}
	default:
		weights = []float64{55, 25, 10, 10}
	}
	after := func(lo, hi time.Duration) time.Time {
		d := lo + time.Duration(r.Float64()*float64(hi-lo))
		if d >= age {
			d = time.Duration(r.Float64() * float64(age))
		}
		return created.Add(d).Truncate(time.Microsecond)
	}
	switch pickWeighted(r, weights) {
	case 1:
		return order.Processing, 2, after(10*time.Minute, 2*24*time.Hour)
	case 2:
		return order.Shipped, 3, after(6*time.Hour, 5*24*time.Hour)
	case 3:
		if r.IntN(10) < 7 {
			return order.Cancelled, 2, after(time.Minute, 24*time.Hour)
		}
		return order.Cancelled, 3, after(time.Hour, 3*24*time.Hour)
	}
	return order.Accepted, 1, created
}

// startProgress reports progress until the returned func is called: a
// carriage-return line on a terminal, else a log line every five seconds.
// The final line is the caller's, from the SeedResult.
func (s *Seeder) startProgress(total int64, done *atomic.Int64, start time.Time) func() {
	every := 5 * time.Second
	if s.progress != nil {
		every = 250 * time.Millisecond
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			rows, elapsed := done.Load(), s.now().Sub(start)
			rate := float64(rows) / elapsed.Seconds()
			var eta time.Duration
			if rate > 0 {
				eta = time.Duration(float64(total-rows) / rate * float64(time.Second)).Round(time.Second)
			}
			if s.progress != nil {
				fmt.Fprintf(s.progress, "\rseeding orders: %d/%d rows (%.0f%%)  %.0f rows/s  ETA %s   ",
					rows, total, 100*float64(rows)/float64(total), rate, eta)
				continue
			}
			s.logger.Info("seeding orders", "rows", rows, "of", total, "rows_per_second", int64(rate), "eta", eta.String())
		}
	})
	return func() {
		close(stop)
		wg.Wait()
		if s.progress != nil {
			fmt.Fprint(s.progress, "\r\033[K") // clear the progress line
		}
	}
}
