package proxy

import (
	"fmt"
	"math"
	"testing"
)

// TestBucketGolden pins the hash: every replica and tool must agree, so a
// change of these values is a breaking change of the routing. The values
// were computed by an independent implementation of the documented formula.
func TestBucketGolden(t *testing.T) {
	want := map[string]int{"": 4342, "a": 8315, "customer-1": 762, "cust-42": 3686, "ord_01HZY": 6518}
	for k, w := range want {
		if got := Bucket(k); got != w {
			t.Errorf("Bucket(%q) = %d, want %d", k, got, w)
		}
	}
}

func TestThreshold(t *testing.T) {
	cases := []struct {
		weight float64
		want   int
	}{{0, 0}, {0.01, 1}, {1, 100}, {12.34, 1234}, {33.33, 3333}, {99.99, 9999}, {100, 10000}, {-1, 0}, {101, 10000}}
	for _, tc := range cases {
		if got := Threshold(tc.weight); got != tc.want {
			t.Errorf("Threshold(%v) = %d, want %d", tc.weight, got, tc.want)
		}
	}
}

// TestMonotonic proves invariant 5 over every weight step of 0.01 %: raising
// the weight never moves a key from new back to legacy.
func TestMonotonic(t *testing.T) {
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = fmt.Sprintf("customer-%d", i)
	}
	prev := make([]bool, len(keys))
	for th := 0; th <= Buckets; th++ {
		w := float64(th) / 100
		for i, k := range keys {
			now := ToNew(k, w)
			if prev[i] && !now {
				t.Fatalf("key %s went back to legacy when the weight rose to %v", k, w)
			}
			prev[i] = now
		}
	}
	for i, k := range keys {
		if !prev[i] {
			t.Fatalf("key %s is not on new at 100 %%", k)
		}
	}
}

func TestSticky(t *testing.T) {
	for _, w := range []float64{0, 0.5, 10, 33.33, 50, 99.99, 100} {
		for i := range 1000 {
			k := fmt.Sprintf("k%d", i)
			first := ToNew(k, w)
			for range 3 {
				if ToNew(k, w) != first {
					t.Fatalf("key %s at %v changed sides", k, w)
				}
			}
		}
	}
}

// TestDistribution checks that the share of 100,000 keys sent to new is
// within 1 % (absolute) of the weight.
func TestDistribution(t *testing.T) {
	const n = 100000
	buckets := make([]int, n)
	for i := range n {
		buckets[i] = Bucket(fmt.Sprintf("customer-%07d", i))
	}
	for _, w := range []float64{0.5, 1, 5, 10, 25, 33.33, 50, 75, 90, 99} {
		th := Threshold(w)
		in := 0
		for _, b := range buckets {
			if b < th {
				in++
			}
		}
		got := 100 * float64(in) / n
		if math.Abs(got-w) > 1 {
			t.Errorf("weight %v%%: %.2f%% of keys go to new", w, got)
		}
	}
}
