package migrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/anycompany/strangler/internal/clock"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/position"
)

// DeadLettersError says the backfill finished but some rows could not be
// written; they are recorded in the control table with their reasons.
type DeadLettersError struct {
	Job string
	N   int
}

func (e *DeadLettersError) Error() string {
	return fmt.Sprintf("backfill %s: %d rows could not be written to DynamoDB; they are dead letters with their row images and reasons: see strangler deadletters list --source backfill, clear the fault, then strangler deadletters replay --source backfill <id> (finished chunks are not redone)", e.Job, e.N)
}

// Summary is what a backfill run did.
type Summary struct {
	Job             string        `json:"job"`
	Chunks          int           `json:"chunks"`
	ChunksThisRun   int           `json:"chunks_this_run"`
	ChunksFinished  int           `json:"chunks_finished_before"`
	RowsRead        int64         `json:"rows_read"`
	RowsWritten     int64         `json:"rows_written"`
	RowsSkipped     int64         `json:"rows_skipped_newer"`
	RowsDead        int64         `json:"rows_dead"`
	Calls           int64         `json:"write_calls"`
	Elapsed         time.Duration `json:"elapsed"`
	StartPosition   string        `json:"cdc_start_position"`
	WriteMode       guard.Mode    `json:"write_mode"`
	TotalRowsPlaned int64         `json:"total_rows_planned"`
}

// RowsPerSecond is the run's write rate.
func (s Summary) RowsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.RowsRead) / s.Elapsed.Seconds()
}

// Writer is what the backfill writes items with: Write for a known set
// (repairs); the backfill's chunks stream into a pool of its callers.
type Writer interface {
	Write(ctx context.Context, items []guard.Item) (guard.Result, error)
	NewPool(calls int) *guard.Pool
}

var _ Writer = (*guard.Writer)(nil)

// Backfiller copies the source table into DynamoDB chunk by chunk: it plans
// the chunks once per job, then leases them one at a time from the control
// table, reads each in its own consistent snapshot stamped with the
// position read just before, and writes its items under the position guard.
type Backfiller struct {
	inspector *Inspector
	mapping   *codec.Mapping
	jobs      *JobStore
	writer    Writer
	cfg       Config
	owner     string
	log       *slog.Logger
	metrics   *backfillMetrics
	progress  *Progress
	now       func() time.Time
	sleep     func(context.Context, time.Duration) error

	read, written, skipped, dead, calls atomic.Int64
	// pool writes the chunks of a Run.
	pool *guard.Pool
}

// BackfillDeps are what a Backfiller is built from.
type BackfillDeps struct {
	Inspector *Inspector
	Mapping   *codec.Mapping
	Jobs      *JobStore
	Writer    Writer
	Logger    *slog.Logger
	Registry  prometheus.Registerer
	Progress  *Progress
	// Owner names this worker in leases. Optional: host-pid-random.
	Owner string
	// Now and Sleep are the clock. Optional: the real one.
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
}

// NewBackfiller wires a backfill.
func NewBackfiller(cfg Config, d BackfillDeps) *Backfiller {
	if d.Owner == "" {
		host, _ := os.Hostname()
		d.Owner = fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16))
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Sleep == nil {
		d.Sleep = clock.Sleep
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	return &Backfiller{
		inspector: d.Inspector, mapping: d.Mapping, jobs: d.Jobs, writer: d.Writer, cfg: cfg, owner: d.Owner,
		log: d.Logger.With("component", "backfill", "job", cfg.JobName()), metrics: newBackfillMetrics(d.Registry),
		progress: d.Progress, now: d.Now, sleep: d.Sleep,
	}
}

// Run plans the job (once), then works chunks until every chunk is done.
func (b *Backfiller) Run(ctx context.Context) (Summary, error) {
	start := b.now()
	sum := Summary{Job: b.cfg.JobName(), WriteMode: b.cfg.Backfill.WriteMode}
	job, err := b.plan(ctx)
	if err != nil {
		return sum, err
	}
	sum.Chunks, sum.TotalRowsPlaned = job.Chunks, job.TotalRows
	chunks, err := b.jobs.Chunks(ctx)
	if err != nil {
		return sum, err
	}
	var doneRows int64
	for _, c := range chunks {
		if c.State == chunkDone {
			sum.ChunksFinished++
			doneRows += int64(c.PlannedRows)
		}
	}
	if sum.ChunksFinished > 0 {
		b.log.Info("resuming", "chunks_done", sum.ChunksFinished, "chunks", job.Chunks)
	}
	if b.progress != nil {
		b.progress.Start(job.TotalRows, doneRows)
		defer b.progress.Stop()
	}

	var thisRun atomic.Int64
	// The workers' chunks share workers x write_concurrency callers: while
	// one worker is between chunks (leasing, finishing, starting a
	// snapshot) the calls stay in flight on the others' rows.
	b.pool = b.writer.NewPool(b.cfg.Backfill.Workers * b.cfg.Backfill.WriteConcurrency)
	defer b.pool.Close()
	g, gctx := errgroup.WithContext(ctx)
	queue := newChunkQueue(b.jobs, b.owner, b.cfg.Backfill.LeaseTTL, b.now, b.sleep)
	for range b.cfg.Backfill.Workers {
		g.Go(func() error {
			for {
				c, ok, err := queue.next(gctx)
				if err != nil || !ok {
					return err
				}
				err = b.chunk(gctx, c)
				queue.release(c.N)
				if err != nil {
					if errors.Is(err, ErrLeaseLost) {
						b.log.Warn("lost the lease of a chunk; another worker redoes it", "chunk", c.N)
						continue
					}
					return fmt.Errorf("chunk %d: %w", c.N, err)
				}
				thisRun.Add(1)
			}
		})
	}
	err = g.Wait()
	sum.ChunksThisRun = int(thisRun.Load())
	sum.RowsRead, sum.RowsWritten, sum.RowsSkipped, sum.RowsDead, sum.Calls = b.read.Load(), b.written.Load(), b.skipped.Load(), b.dead.Load(), b.calls.Load()
	sum.Elapsed = b.now().Sub(start)
	if err != nil {
		return sum, err
	}
	if err := b.jobs.MarkDone(ctx); err != nil {
		return sum, err
	}
	if job, _, err := b.jobs.Job(ctx); err == nil && job.StartPosSet {
		sum.StartPosition = job.StartPos.String()
	}
	if sum.RowsDead > 0 {
		return sum, &DeadLettersError{Job: sum.Job, N: int(sum.RowsDead)}
	}
	return sum, nil
}

// plan returns the planned job, planning it if this worker may.
func (b *Backfiller) plan(ctx context.Context) (JobState, error) {
	for {
		job, ok, err := b.jobs.Job(ctx)
		if err != nil {
			return job, err
		}
		if ok && (job.State == jobPlanned || job.State == jobDone) {
			return job, nil
		}
		claimed, err := b.jobs.ClaimPlanning(ctx, b.owner, b.cfg.Backfill.LeaseTTL)
		if err != nil {
			return job, err
		}
		if !claimed {
			b.log.Info("another worker is planning the job; waiting")
			if err := b.sleep(ctx, time.Second); err != nil {
				return job, err
			}
			continue
		}
		// The position of a snapshot taken before planning: every chunk's
		// snapshot begins later and sees all it counts, so the cdc may start
		// here even while the backfill runs.
		pos, err := b.inspector.PlanPosition(ctx)
		if err != nil {
			return job, err
		}
		bounds, counts, err := b.inspector.Boundaries(ctx, b.cfg.Backfill.ChunkSize)
		if err != nil {
			return job, err
		}
		if err := b.jobs.SavePlan(ctx, b.owner, bounds, counts, pos); err != nil {
			return job, err
		}
		b.log.Info("planned", "chunks", len(bounds), "chunk_size", b.cfg.Backfill.ChunkSize, "cdc_start_position", pos.String())
	}
}

// chunk copies one leased chunk.
func (b *Backfiller) chunk(ctx context.Context, c Chunk) error {
	started := b.now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The heartbeat stops before Finish: a renewal racing with Finish would
	// find the chunk done, call the lease lost and cancel Finish half-way
	// (the chunk done, the run not counting it). Finish itself refuses a
	// chunk whose lease another worker took.
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.heartbeat(hbCtx, c.N, cancel)
	}()
	defer wg.Wait()
	defer stopHeartbeat()

	cp, err := b.copyRows(ctx, c)
	if err != nil {
		return causeOr(ctx, err)
	}
	dead := cp.dead
	for _, d := range cp.res.Dead {
		dead = append(dead, b.deadItem(d))
	}
	for _, d := range dead {
		if err := b.jobs.DeadLetter(ctx, b.mapping.Table, d.Key, cp.pos.Number(), d.Reason, d.Row); err != nil {
			return causeOr(ctx, err)
		}
		b.log.Warn("row dead-lettered", "key", d.Key, "reason", d.Reason)
	}
	b.dead.Add(int64(len(dead)))
	b.metrics.rows.WithLabelValues("dead").Add(float64(len(dead)))
	if b.progress != nil {
		b.progress.Add(int64(cp.bad))
	}
	stopHeartbeat()
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if err := b.jobs.Finish(ctx, c.N, b.owner, cp.res.Written, cp.res.Skipped, len(dead), cp.pos); err != nil {
		return causeOr(ctx, err)
	}
	b.metrics.chunks.Inc()
	b.metrics.chunkSeconds.Observe(b.now().Sub(started).Seconds())
	b.log.Debug("chunk done", "chunk", c.N, "rows", cp.rows, "written", cp.res.Written, "skipped", cp.res.Skipped, "owned", cp.owned, "dead", len(dead), "pos", cp.pos.String())
	return nil
}

// deadItem is an item DynamoDB refused as a bad row: its image decoded
// back from the item.
func (b *Backfiller) deadItem(d guard.DeadLetter) BadRow {
	bad := BadRow{Key: d.Key, Reason: d.Reason}
	row, err := b.mapping.RowFromItem(d.Item)
	if err == nil {
		bad.Row, err = b.mapping.RowText(row)
	}
	if err != nil {
		bad.Reason += " (its row image could not be kept: " + err.Error() + ")"
	}
	return bad
}

// copied is what copyRows did with one chunk.
type copied struct {
	res  guard.Result
	dead []BadRow
	pos  position.Position
	// rows read, bad ones (the codec refused them) and owned ones (a ref's).
	rows, bad, owned int
}

// copyRows streams chunk c's rows from its snapshot straight into the
// run's write pool, whose callers write full groups while the next rows are
// read and mapped; nothing of the chunk is held but the groups queued or in
// flight. It counts what was written in the run's totals and metrics.
func (b *Backfiller) copyRows(ctx context.Context, c Chunk) (copied, error) {
	var cp copied
	_, refAt, hasRef := b.mapping.Ref()
	stream := b.pool.Stream(ctx)
	// Progress moves as each write call ends, not once a chunk is done: a
	// chunk of 20,000 rows takes many seconds.
	var streamed atomic.Int64
	if b.progress != nil {
		stream.OnDone(func(r guard.Result) {
			n := int64(r.Written + r.Skipped + len(r.Dead))
			streamed.Add(n)
			b.progress.Add(n)
		})
	}
	// The chunk's items share one position attribute.
	var stamp guard.Stamp
	scanErr := b.inspector.ScanChunk(ctx, c.Lo, c.Hi, func(p position.Position) error {
		cp.pos, stamp = p, guard.NewStamp(p.Number())
		return nil
	}, func(row codec.Row) error {
		cp.rows++
		if hasRef && row[refAt] != nil {
			// A row with a ref: the sync-back copied it from the new service,
			// whose DynamoDB item is its source of truth. Copying the row could
			// overwrite a newer item with an older MySQL state (the sync-back
			// lags), so the backfill leaves it; verify still compares it.
			cp.owned++
			return nil
		}
		key := b.mapping.KeyString(row)
		item, err := b.mapping.Item(row)
		if err != nil {
			text, terr := b.mapping.RowText(row)
			if terr != nil {
				return terr
			}
			cp.dead = append(cp.dead, BadRow{Key: key, Reason: err.Error(), Row: text})
			return nil
		}
		return stream.Add(stamp.SizedItem(key, item, codec.ItemSize(item)))
	}, func(bad BadRow) {
		// A row the codec refuses (a ref row among them) is dead-lettered.
		cp.rows++
		cp.bad++
		cp.dead = append(cp.dead, bad)
	})
	res, err := stream.Close()
	cp.res = res
	b.read.Add(int64(cp.rows))
	if scanErr != nil && err == nil {
		err = scanErr
	}
	b.written.Add(int64(res.Written))
	b.skipped.Add(int64(res.Skipped))
	b.calls.Add(int64(res.Calls))
	b.metrics.rows.WithLabelValues("written").Add(float64(res.Written))
	b.metrics.rows.WithLabelValues("skipped").Add(float64(res.Skipped))
	b.metrics.calls.Add(float64(res.Calls))
	b.metrics.rows.WithLabelValues("owned").Add(float64(cp.owned))
	if b.progress != nil {
		b.progress.Add(int64(res.Written+res.Skipped+len(res.Dead)+cp.owned) - streamed.Load())
	}
	return cp, err
}

// heartbeat renews the chunk lease until ctx ends; losing it cancels ctx.
func (b *Backfiller) heartbeat(ctx context.Context, chunk int, cancel context.CancelCauseFunc) {
	every := b.cfg.Backfill.LeaseTTL / 3
	for {
		if err := b.sleep(ctx, every); err != nil {
			return
		}
		if err := b.jobs.Renew(ctx, chunk, b.owner, b.cfg.Backfill.LeaseTTL); err != nil {
			if ctx.Err() == nil {
				cancel(err)
			}
			return
		}
	}
}

func causeOr(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}

// chunkQueue hands out leased chunks to the workers of this process.
type chunkQueue struct {
	mu      sync.Mutex
	jobs    *JobStore
	owner   string
	ttl     time.Duration
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
	pending []Chunk
	// mine are the chunks this process works on: never re-leased by it, even
	// when a renewal is late.
	mine map[int]bool
}

func newChunkQueue(jobs *JobStore, owner string, ttl time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *chunkQueue {
	return &chunkQueue{jobs: jobs, owner: owner, ttl: ttl, now: now, sleep: sleep, mine: map[int]bool{}}
}

// next leases the next free chunk. ok is false when every chunk is done.
// While other workers hold the remaining chunks it waits: their leases
// expire if they died.
func (q *chunkQueue) next(ctx context.Context) (Chunk, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.pending) > 0 {
			c := q.pending[0]
			q.pending = q.pending[1:]
			if q.mine[c.N] {
				continue
			}
			ok, err := q.jobs.Lease(ctx, c.N, q.owner, q.ttl)
			if err != nil {
				return c, false, err
			}
			if ok {
				q.mine[c.N] = true
				return c, true, nil
			}
		}
		chunks, err := q.jobs.Chunks(ctx)
		if err != nil {
			return Chunk{}, false, err
		}
		now := q.now()
		held := 0
		for _, c := range chunks {
			switch {
			case q.mine[c.N]:
				held++
			case c.State == chunkPending, c.State == chunkLeased && c.LeaseUntil.Before(now):
				q.pending = append(q.pending, c)
			case c.State == chunkLeased:
				held++
			}
		}
		if len(q.pending) == 0 && held == 0 {
			return Chunk{}, false, nil
		}
		if len(q.pending) == 0 {
			// Wait without the lock, so workers can release their chunks.
			q.mu.Unlock()
			err := q.sleep(ctx, time.Second)
			q.mu.Lock()
			if err != nil {
				return Chunk{}, false, err
			}
		}
	}
}

// release forgets chunk n once this process is done with it.
func (q *chunkQueue) release(n int) {
	q.mu.Lock()
	delete(q.mine, n)
	q.mu.Unlock()
}

// backfillMetrics are the backfill's Prometheus series.
type backfillMetrics struct {
	rows         *prometheus.CounterVec
	chunks       prometheus.Counter
	calls        prometheus.Counter
	chunkSeconds prometheus.Histogram
}

func newBackfillMetrics(reg prometheus.Registerer) *backfillMetrics {
	m := &backfillMetrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backfill_rows_total",
			Help: "Rows handled: written, skipped (a newer position was already there), owned (a row with a ref, owned by the new service: not copied) or dead (refused)."}, []string{"outcome"}),
		chunks: prometheus.NewCounter(prometheus.CounterOpts{Name: "backfill_chunks_total", Help: "Chunks finished by this process."}),
		calls:  prometheus.NewCounter(prometheus.CounterOpts{Name: "backfill_write_calls_total", Help: "DynamoDB write calls, retries included."}),
		chunkSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "backfill_chunk_duration_seconds",
			Help: "Time to read and write one chunk.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}),
	}
	reg.MustRegister(m.rows, m.chunks, m.calls, m.chunkSeconds)
	return m
}
