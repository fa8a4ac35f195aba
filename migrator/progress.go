package migrator

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Progress shows rows done, rows/s and the ETA: a redrawn line on a
// terminal, a structured log line at an interval otherwise. Start, Add and
// Stop may be called from any goroutine.
type Progress struct {
	out      io.Writer // nil: log instead
	log      *slog.Logger
	every    time.Duration
	now      func() time.Time
	total    int64
	base     int64
	done     atomic.Int64
	started  time.Time
	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// NewProgress draws on terminal when it is not nil, else logs every interval.
func NewProgress(terminal io.Writer, log *slog.Logger, every time.Duration) *Progress {
	return &Progress{out: terminal, log: log, every: every, now: time.Now}
}

// Start begins showing progress towards total, of which already were done
// before this run.
func (p *Progress) Start(total, already int64) {
	p.total, p.base, p.started = total, already, p.now()
	p.stop = make(chan struct{})
	every := p.every
	if p.out != nil {
		every = 250 * time.Millisecond
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				p.show(true)
				return
			case <-t.C:
				p.show(false)
			}
		}
	}()
}

// Add counts n more rows done.
func (p *Progress) Add(n int64) { p.done.Add(n) }

// Stop draws the final state.
func (p *Progress) Stop() {
	p.stopOnce.Do(func() {
		if p.stop != nil {
			close(p.stop)
			p.wg.Wait()
		}
	})
}

func (p *Progress) show(final bool) {
	done := p.done.Load()
	elapsed := p.now().Sub(p.started).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed
	}
	all := p.base + done
	// total was counted when the job was planned; rows written since then
	// are copied too, so it grows with them rather than be passed.
	total := max(p.total, all)
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(all) / float64(total)
	}
	eta := "-"
	if rate > 0 && total > all {
		eta = time.Duration(float64(total-all) / rate * float64(time.Second)).Round(time.Second).String()
	}
	if p.out != nil {
		const width = 30
		filled := int(pct / 100 * width)
		bar := ""
		for i := range width {
			if i < filled {
				bar += "#"
			} else {
				bar += "."
			}
		}
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(p.out, "\r[%s] %5.1f%%  %d/%d rows  %.0f rows/s  ETA %s   %s", bar, pct, all, total, rate, eta, end)
		return
	}
	p.log.Info("backfill progress", "rows_done", all, "rows_total", total, "percent", fmt.Sprintf("%.1f", pct),
		"rows_per_s", int64(rate), "eta", eta, "final", final)
}
