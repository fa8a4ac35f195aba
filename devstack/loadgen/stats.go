package loadgen

import (
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// recorder collects the outcome and latency of every answered call, per
// operation, for the whole run and for the current report interval. It is
// safe for concurrent use. The zero value is ready to use; it must not be
// copied.
type recorder struct {
	mu  sync.Mutex
	ops [numOps]opStats
}

type opStats struct {
	all, interval       Histogram
	errs                map[string]int64
	allErrs, intervErrs int64
}

// record counts one answered call of op; class "" means OK.
func (r *recorder) record(op Op, latency time.Duration, class string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.ops[op]
	s.all.Record(latency)
	s.interval.Record(latency)
	if class != "" {
		if s.errs == nil {
			s.errs = map[string]int64{}
		}
		s.errs[class]++
		s.allErrs++
		s.intervErrs++
	}
}

// OpSummary is what one operation did over a run or an interval.
type OpSummary struct {
	Op    Op
	Count int64 // answered calls
	// Errors counts calls without the expected answer by class: "2xx",
	// "3xx", "4xx", "5xx" (a status the generator did not intend), "net",
	// "timeout", "mismatch" (a replay that returned another order). Nil
	// when there were none.
	Errors  map[string]int64
	PerSec  float64
	P50     time.Duration
	P95     time.Duration
	P99     time.Duration
	Max     time.Duration
	Latency Histogram // every answered call, from its intended send time
}

// ErrorCount sums Errors.
func (s OpSummary) ErrorCount() int64 {
	var n int64
	for _, v := range s.Errors {
		n += v
	}
	return n
}

func summarize(op Op, h *Histogram, errs map[string]int64, elapsed time.Duration) OpSummary {
	s := OpSummary{Op: op, Count: int64(h.Count()), Latency: *h,
		P50: h.Quantile(0.50), P95: h.Quantile(0.95), P99: h.Quantile(0.99), Max: h.Max()}
	if len(errs) > 0 {
		s.Errors = maps.Clone(errs)
	}
	if elapsed > 0 {
		s.PerSec = float64(s.Count) / elapsed.Seconds()
	}
	return s
}

// total returns the run so far, per operation that ran.
func (r *recorder) total(elapsed time.Duration) []OpSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []OpSummary
	for op := range numOps {
		s := &r.ops[op]
		if s.all.Count() == 0 {
			continue
		}
		out = append(out, summarize(op, &s.all, s.errs, elapsed))
	}
	return out
}

// takeInterval returns the interval that ends now, per operation that ran
// in it, with Errors holding only the interval's error total under "all",
// and starts the next interval.
func (r *recorder) takeInterval(elapsed time.Duration) []OpSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []OpSummary
	for op := range numOps {
		s := &r.ops[op]
		if s.interval.Count() == 0 {
			continue
		}
		var errs map[string]int64
		if s.intervErrs > 0 {
			errs = map[string]int64{"all": s.intervErrs}
		}
		out = append(out, summarize(op, &s.interval, errs, elapsed))
		s.interval.Reset()
		s.intervErrs = 0
	}
	return out
}

// Summary is the result of a run.
type Summary struct {
	// Elapsed runs from the first intended send to the last answer.
	Elapsed time.Duration
	// Ops holds every operation that ran, in Op order.
	Ops []OpSummary
	// OrdersCreated counts creates answered 201 with an order id.
	OrdersCreated int64
	// Skipped counts open-loop operations not sent because max_in_flight
	// calls were waiting.
	Skipped int64
	// Rate is the target rate (0: closed loop) and Concurrency the workers
	// of a closed-loop run.
	Rate        float64
	Concurrency int
	// Interrupted is true when the run was stopped before its end.
	Interrupted bool
}

// Op returns the summary of op, or a zero one when op did not run.
func (s Summary) Op(op Op) OpSummary {
	for _, o := range s.Ops {
		if o.Op == op {
			return o
		}
	}
	return OpSummary{Op: op}
}

// Count returns the answered calls of every operation.
func (s Summary) Count() int64 {
	var n int64
	for _, o := range s.Ops {
		n += o.Count
	}
	return n
}

// Errors returns the calls of every operation without the expected answer.
func (s Summary) Errors() int64 {
	var n int64
	for _, o := range s.Ops {
		n += o.ErrorCount()
	}
	return n
}

// Throughput returns answered calls a second.
func (s Summary) Throughput() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Count()) / s.Elapsed.Seconds()
}

// WriteTable writes the summary as an aligned table: per operation count,
// ops/s, latency percentiles from the intended send time and errors by
// class, then the totals.
func (s Summary) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op      \tcount\tops/s\tp50\tp95\tp99\tmax\terrors\t4xx\t5xx\tnet\ttimeout\tother\t")
	var all Histogram
	var total OpSummary
	total.Errors = map[string]int64{}
	for _, o := range s.Ops {
		writeRow(tw, o.Op.String(), o)
		all.Merge(&o.Latency)
		for k, v := range o.Errors {
			total.Errors[k] += v
		}
	}
	total = summarize(numOps, &all, total.Errors, s.Elapsed)
	writeRow(tw, "total", total)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	mode := fmt.Sprintf("open loop at %g ops/s", s.Rate)
	if s.Rate == 0 {
		mode = fmt.Sprintf("closed loop, %d workers", s.Concurrency)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s in %s: %d calls, %.1f ops/s, %d errors; orders created: %d",
		mode, s.Elapsed.Round(time.Millisecond), s.Count(), s.Throughput(), s.Errors(), s.OrdersCreated)
	if s.Rate > 0 {
		fmt.Fprintf(&b, "; skipped (max_in_flight reached): %d", s.Skipped)
	}
	if s.Interrupted {
		b.WriteString(" (interrupted)")
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	return nil
}

func writeRow(w io.Writer, name string, o OpSummary) {
	other := o.ErrorCount()
	for _, k := range []string{"4xx", "5xx", "net", "timeout"} {
		other -= o.Errors[k]
	}
	fmt.Fprintf(w, "%-8s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", name, o.Count, o.PerSec,
		fmtDur(o.P50), fmtDur(o.P95), fmtDur(o.P99), fmtDur(o.Max),
		o.ErrorCount(), o.Errors["4xx"], o.Errors["5xx"], o.Errors["net"], o.Errors["timeout"], other)
}

// writeInterval writes one progress line per operation of an interval and
// one for all of them.
func writeInterval(w io.Writer, at time.Duration, ops []OpSummary, inFlight, skipped, created int64) {
	var b strings.Builder
	var n, errs int64
	var rate float64
	for _, o := range ops {
		fmt.Fprintf(&b, "[%6.1fs] %-8s n=%-7d %8.1f/s err=%-5d p50=%-8s p95=%-8s p99=%s\n", at.Seconds(), o.Op,
			o.Count, o.PerSec, o.ErrorCount(), fmtDur(o.P50), fmtDur(o.P95), fmtDur(o.P99))
		n += o.Count
		errs += o.ErrorCount()
		rate += o.PerSec
	}
	fmt.Fprintf(&b, "[%6.1fs] %-8s n=%-7d %8.1f/s err=%-5d in-flight=%d skipped=%d created=%d\n", at.Seconds(), "all",
		n, rate, errs, inFlight, skipped, created)
	_, _ = io.WriteString(w, b.String())
}

// fmtDur prints a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
