package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Count() != 0 || h.Quantile(0.5) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Errorf("empty histogram: count %d p50 %s max %s mean %s", h.Count(), h.Quantile(0.5), h.Max(), h.Mean())
	}
}

func TestHistogramExactBelow128us(t *testing.T) {
	var h Histogram
	for us := 1; us <= 100; us++ {
		h.Record(time.Duration(us) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0, 1 * time.Microsecond},
		{0.01, 1 * time.Microsecond},
		{0.5, 50 * time.Microsecond},
		{0.95, 95 * time.Microsecond},
		{0.99, 99 * time.Microsecond},
		{1, 100 * time.Microsecond},
	} {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%g) = %s, want %s", tc.q, got, tc.want)
		}
	}
	if h.Count() != 100 || h.Min() != time.Microsecond || h.Max() != 100*time.Microsecond {
		t.Errorf("count %d min %s max %s", h.Count(), h.Min(), h.Max())
	}
	if h.Mean() != 50*time.Microsecond { // 50.5 truncated to whole µs
		t.Errorf("mean %s", h.Mean())
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every value maps to a bucket whose range holds it, and buckets are
	// contiguous and ordered.
	prevHi := uint64(0)
	for b := 1; b < histBuckets; b++ {
		lo, hi := bucketRange(b)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, want %d", b, lo, prevHi+1)
		}
		if bucketOf(lo) != b || bucketOf(hi) != b {
			t.Fatalf("bucket %d [%d,%d] maps back to %d and %d", b, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= 1<<histSubBits && float64(hi-lo+1)/float64(lo) > 1.0/histHalf+1e-12 {
			t.Fatalf("bucket %d [%d,%d] is wider than 1/%d of its start", b, lo, hi, histHalf)
		}
		prevHi = hi
	}
	if prevHi != histMaxValue {
		t.Errorf("last bucket ends at %d, want %d", prevHi, uint64(histMaxValue))
	}
}

func TestHistogramRelativeErrorAgainstExactQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var h Histogram
	var exact []time.Duration
	for range 100_000 {
		// Log-normal-ish latencies from 50 µs to seconds.
		d := time.Duration(math.Exp(r.NormFloat64()*1.5+7.5)) * time.Microsecond
		h.Record(d)
		exact = append(exact, d.Truncate(time.Microsecond))
	}
	slices.Sort(exact)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
		want := exact[int(math.Ceil(q*float64(len(exact))))-1]
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-want)) / float64(want); got < want || rel > 1.0/histHalf {
			t.Errorf("Quantile(%g) = %s, exact %s (relative error %.4f, allowed %.4f and never below)", q, got, want, rel, 1.0/histHalf)
		}
	}
	if h.Max() != exact[len(exact)-1] {
		t.Errorf("Max %s, want %s", h.Max(), exact[len(exact)-1])
	}
}

func TestHistogramClampsAndMerges(t *testing.T) {
	var a, b Histogram
	a.Record(-time.Second)
	a.Record(3 * time.Hour) // beyond the range: counts as the largest value
	b.Record(2 * time.Millisecond)
	b.Record(4 * time.Millisecond)
	a.Merge(&b)
	a.Merge(&Histogram{})
	if a.Count() != 4 || a.Min() != 0 || a.Max() != histMaxValue*time.Microsecond {
		t.Fatalf("count %d min %s max %s", a.Count(), a.Min(), a.Max())
	}
	if got := a.Quantile(0.5); got < 2*time.Millisecond || got > 2*time.Millisecond*65/64 {
		t.Errorf("p50 %s, want about 2ms", got)
	}
	var c Histogram
	c.Merge(&b)
	if c.Min() != 2*time.Millisecond || c.Count() != 2 {
		t.Errorf("merge into empty: min %s count %d", c.Min(), c.Count())
	}
	c.Reset()
	if c.Count() != 0 {
		t.Errorf("reset: count %d", c.Count())
	}
}
