package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anycompany/strangler/internal/order"
)

// Generator sends the load of one run and reports on it. The zero value is
// not usable; make one with NewGenerator. It must not be copied, and runs
// once.
type Generator struct {
	cfg    Config
	logger *slog.Logger
	out    io.Writer
	now    func() time.Time
	hc     *http.Client
	base   string
	work   *workload
	rec    recorder

	createdMu  sync.Mutex
	createdOut *bufio.Writer // nil unless cfg.CreatedOut

	inFlight atomic.Int64
	skipped  atomic.Int64
	created  atomic.Int64
}

// Option changes how NewGenerator builds a Generator.
type Option func(*genOptions)

type genOptions struct {
	hc    *http.Client
	now   func() time.Time
	runID string
}

// WithHTTPClient sets the client that sends the calls. Default: a client
// whose transport keeps enough idle connections for the configured
// concurrency.
func WithHTTPClient(hc *http.Client) Option { return func(o *genOptions) { o.hc = hc } }

// WithClock sets the clock that times the calls. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(o *genOptions) { o.now = now } }

// WithRunID sets the run id that makes Idempotency-Keys ("lg-<run>-<op>")
// unique across runs of one seed. Default: derived from the clock.
func WithRunID(id string) Option { return func(o *genOptions) { o.runID = id } }

// NewGenerator builds a generator from a validated cfg that writes its
// progress lines and summary table to out.
func NewGenerator(cfg Config, logger *slog.Logger, out io.Writer, opts ...Option) *Generator {
	o := genOptions{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.hc == nil {
		conns := max(cfg.MaxInFlight, cfg.Concurrency)
		if cfg.Rate == 0 {
			conns = cfg.Concurrency
		}
		o.hc = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}}
	}
	if o.runID == "" {
		o.runID = strconv.FormatInt(o.now().UnixNano(), 36)
	}
	return &Generator{
		cfg:    cfg,
		logger: logger,
		out:    out,
		now:    o.now,
		hc:     o.hc,
		base:   strings.TrimRight(cfg.BaseURL, "/"),
		work:   newWorkload(cfg, o.runID),
	}
}

// Run sends the load until cfg.Duration passes, cfg.MaxOps operations were
// due, or ctx ends; waits for the calls in flight; writes the summary table
// and returns the summary. An interrupted run (ctx ended) still returns
// its summary, with Interrupted set and a nil error.
func (g *Generator) Run(ctx context.Context) (Summary, error) {
	mode := "open loop"
	if g.cfg.Rate == 0 {
		mode = "closed loop"
	}
	g.logger.Info("load starting", "base_url", g.cfg.BaseURL, "mode", mode, "rate", g.cfg.Rate,
		"concurrency", g.cfg.Concurrency, "duration", g.cfg.Duration.String(), "max_ops", g.cfg.MaxOps, "seed", g.cfg.Seed)

	if g.cfg.CreatedOut != "" {
		f, err := os.Create(g.cfg.CreatedOut)
		if err != nil {
			return Summary{}, fmt.Errorf("opening created_out: %w", err)
		}
		defer f.Close()
		g.createdOut = bufio.NewWriter(f)
		defer func() {
			if err := g.createdOut.Flush(); err != nil {
				g.logger.Error("writing created_out", "path", g.cfg.CreatedOut, "err", err)
			}
		}()
	}

	start := g.now()
	sched, stop := context.WithTimeout(ctx, g.cfg.Duration)
	defer stop()

	reportDone := make(chan struct{})
	var reporter sync.WaitGroup
	if g.cfg.ReportEvery > 0 {
		reporter.Go(func() { g.report(start, reportDone) })
	}

	var calls sync.WaitGroup
	if g.cfg.Rate > 0 {
		g.openLoop(sched, ctx, start, &calls)
	} else {
		g.closedLoop(sched, ctx, &calls)
	}
	calls.Wait()
	close(reportDone)
	reporter.Wait()

	elapsed := g.now().Sub(start)
	sum := Summary{
		Elapsed:       elapsed,
		Ops:           g.rec.total(elapsed),
		OrdersCreated: g.created.Load(),
		Skipped:       g.skipped.Load(),
		Rate:          g.cfg.Rate,
		Concurrency:   g.cfg.Concurrency,
		Interrupted:   ctx.Err() != nil,
	}
	if err := sum.WriteTable(g.out); err != nil {
		return sum, err
	}
	return sum, nil
}

// openLoop sends operation i at start + i/rate, whatever the answers do:
// every tick (about a millisecond, the timer resolution here) it sends the
// burst of operations that fell due since the last one. Latency runs from
// each call's intended send time, so a stall of the server or of this host
// shows up in the percentiles instead of thinning the load (coordinated
// omission). An operation due while max_in_flight calls wait is skipped and
// counted, never queued.
func (g *Generator) openLoop(sched, ctx context.Context, start time.Time, calls *sync.WaitGroup) {
	period := float64(time.Second) / g.cfg.Rate
	ticker := time.NewTicker(time.Millisecond)
	defer ticker.Stop()
	var i uint64
	// The operations due inside the duration: i/rate < duration.
	limit := uint64(math.Ceil(g.cfg.Duration.Seconds() * g.cfg.Rate))
	if g.cfg.MaxOps > 0 {
		limit = min(limit, uint64(g.cfg.MaxOps))
	}
	for {
		due := min(uint64(float64(g.now().Sub(start))/period)+1, limit)
		for ; i < due; i++ {
			if g.inFlight.Load() >= int64(g.cfg.MaxInFlight) {
				g.skipped.Add(1)
				continue
			}
			intended := start.Add(time.Duration(float64(i) * period))
			c := g.work.plan(i)
			g.inFlight.Add(1)
			calls.Go(func() {
				defer g.inFlight.Add(-1)
				g.execute(ctx, c, intended)
			})
		}
		if i >= limit {
			return
		}
		select {
		case <-sched.Done():
			return
		case <-ticker.C:
		}
	}
}

// closedLoop runs cfg.Concurrency workers that each send their next
// operation as soon as the last one is answered.
func (g *Generator) closedLoop(sched, ctx context.Context, calls *sync.WaitGroup) {
	var next atomic.Uint64
	limit := uint64(g.cfg.MaxOps)
	for range g.cfg.Concurrency {
		calls.Go(func() {
			for sched.Err() == nil {
				i := next.Add(1) - 1
				if limit > 0 && i >= limit {
					return
				}
				c := g.work.plan(i)
				g.inFlight.Add(1)
				g.execute(ctx, c, g.now())
				g.inFlight.Add(-1)
			}
		})
	}
}

// execute sends c and records its outcome. A call cut short because ctx
// ended (the user stopped the run) is not counted.
func (g *Generator) execute(ctx context.Context, c call, intended time.Time) {
	status, body, err := g.send(ctx, c)
	latency := g.now().Sub(intended)
	var class string
	switch {
	case err != nil && ctx.Err() != nil:
		g.work.abandon(c)
		return
	case errors.Is(err, context.DeadlineExceeded):
		class = classTimeout
	case err != nil:
		class = classNet
		g.logger.Debug("call failed", "op", c.op, "path", c.path, "err", err)
	default:
		class = g.work.complete(c, status, body)
	}
	if class != "" && err == nil {
		g.logger.Debug("unexpected answer", "op", c.op, "path", c.path, "status", status, "class", class,
			"body", truncate(body, 300))
	}
	if c.op == OpCreate && class == "" {
		g.created.Add(1)
		g.recordCreated(body)
	}
	g.rec.record(c.op, latency, class)
}

// send makes one HTTP call within the request timeout and reads the whole
// answer, so the connection can be reused.
func (g *Generator) send(ctx context.Context, c call) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.RequestTimeout)
	defer cancel()
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, g.base+c.path, body)
	if err != nil {
		return 0, nil, fmt.Errorf("building %s %s: %w", c.method, c.path, err)
	}
	key := g.cfg.RetailKey
	if c.channel == order.Wholesale {
		key = g.cfg.WholesaleKey
	}
	req.Header.Set("Authorization", "Bearer "+key.Reveal())
	req.Header.Set("Accept", "application/json")
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Idempotency-Key", c.key)
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("reading answer: %w", err)
	}
	return resp.StatusCode, b, nil
}

// report writes the interval lines every cfg.ReportEvery until done closes.
func (g *Generator) report(start time.Time, done <-chan struct{}) {
	t := time.NewTicker(g.cfg.ReportEvery)
	defer t.Stop()
	last := start
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		now := g.now()
		ops := g.rec.takeInterval(now.Sub(last))
		last = now
		writeInterval(g.out, now.Sub(start), ops, g.inFlight.Load(), g.skipped.Load(), g.created.Load())
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// recordCreated appends the id in a create's answer to created_out.
func (g *Generator) recordCreated(body []byte) {
	if g.createdOut == nil {
		return
	}
	var a answer
	if json.Unmarshal(body, &a) != nil || a.ID == "" {
		return
	}
	g.createdMu.Lock()
	defer g.createdMu.Unlock()
	_, _ = g.createdOut.WriteString(a.ID + "\n")
}
