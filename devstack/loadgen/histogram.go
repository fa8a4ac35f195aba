package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram counts durations in log-linear buckets, the HdrHistogram way:
// exact below 128 µs, then 64 linear sub-buckets per power of two, so any
// quantile it reports is within 1/64 (1.6 %) of a recorded value while it
// holds a fixed 14 KiB whatever the sample count. Values are kept in
// microseconds up to about 71 minutes; longer ones count as the maximum.
//
// The zero value is an empty histogram ready to use. It is not safe for
// concurrent use; it may be copied (the copy is independent).
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    uint64 // µs
	min    uint64 // µs, valid when n > 0
	max    uint64 // µs
}

const (
	histSubBits  = 7                           // values below 1<<7 µs are exact
	histHalf     = 1 << (histSubBits - 1)      // linear sub-buckets per power of two
	histMaxValue = 1<<32 - 1                   // µs, about 71.6 minutes
	histMaxExp   = 32 - histSubBits            // the shift of histMaxValue
	histBuckets  = (histMaxExp + 2) * histHalf // 1,728 buckets
)

// bucketOf returns the bucket of v (µs).
func bucketOf(v uint64) int {
	if v < 1<<histSubBits {
		return int(v)
	}
	exp := bits.Len64(v) - histSubBits // >= 1
	sub := v >> exp                    // in [histHalf, 2*histHalf)
	return (exp+1)*histHalf + int(sub-histHalf)
}

// bucketRange returns the lowest and highest value (µs) of bucket b.
func bucketRange(b int) (lo, hi uint64) {
	if b < 1<<histSubBits {
		return uint64(b), uint64(b)
	}
	exp := b/histHalf - 1
	sub := uint64(b%histHalf + histHalf)
	return sub << exp, (sub+1)<<exp - 1
}

// Record adds one duration. Negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0) / time.Microsecond)
	if v > histMaxValue {
		v = histMaxValue
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += v
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded duration (exact), or 0.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }

// Min returns the smallest recorded duration (exact), or 0.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) * time.Microsecond }

// Mean returns the mean of the recorded durations, or 0.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum/h.n) * time.Microsecond
}

// Quantile returns the duration at or below which a share q (0 to 1) of
// the recorded durations fall: the highest value of the bucket holding that
// rank, never above Max. It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := max(uint64(math.Ceil(q*float64(h.n))), 1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(b)
			return time.Duration(min(max(hi, h.min), h.max)) * time.Microsecond
		}
	}
	return h.Max()
}

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for b, c := range o.counts {
		h.counts[b] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }
