package events

import (
	"hash/fnv"
	"strings"
	"testing"
)

func TestFNV32aMatchesHashFNV(t *testing.T) {
	for _, k := range []string{"", "a", "ord_123", "o-000042", strings.Repeat("k", 300)} {
		h := fnv.New32a()
		h.Write([]byte(k))
		if got, want := fnv32a(k), h.Sum32(); got != want {
			t.Errorf("fnv32a(%q) = %d, hash/fnv says %d", k, got, want)
		}
	}
}
