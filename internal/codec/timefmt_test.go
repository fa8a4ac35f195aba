package codec

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendTime: both writers give what AppendFormat gives with their
// layout, for times of every year (the years AppendFormat pads or signs
// included), zone and fraction.
func TestAppendTime(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	zones := []*time.Location{time.UTC, time.FixedZone("plus", 5*3600+1800), time.FixedZone("minus", -8*3600)}
	times := []time.Time{{}, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 0, 0, 0, 1000, time.UTC), time.Unix(0, 0)}
	for range 20000 {
		sec := r.Int64N(int64(400*365*24*3600)) - int64(200*365*24*3600)
		if r.IntN(10) == 0 {
			sec = r.Int64N(1<<40) - 1<<39 // far years too
		}
		times = append(times, time.Unix(sec, r.Int64N(1e9)).In(zones[r.IntN(len(zones))]))
	}
	for _, tm := range times {
		if got, want := string(AppendTime([]byte("x"), tm)), "x"+tm.UTC().Format(TimeLayout); got != want {
			t.Fatalf("AppendTime(%v) = %q, want %q", tm, got, want)
		}
		if got, want := string(AppendDatetimeText(nil, tm)), tm.UTC().Format(DatetimeText); got != want {
			t.Fatalf("AppendDatetimeText(%v) = %q, want %q", tm, got, want)
		}
	}
}
