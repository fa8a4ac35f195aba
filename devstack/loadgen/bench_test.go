package loadgen

import (
	"log/slog"
	"testing"
	"time"
)

func BenchmarkSeedRows(b *testing.B) {
	s := NewSeeder(nil, DefaultConfig(), slog.New(slog.DiscardHandler))
	rows := make([]seedRow, 0, 1000)
	args := make([]any, 0, 12000)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rows = s.rows(rows[:0], int64(i), 0, 1000, 1_000_000, now)
		args = args[:0]
		for j := range rows {
			args = rows[j].appendArgs(args)
		}
	}
}
