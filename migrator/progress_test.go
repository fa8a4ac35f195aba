package migrator

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestProgress: rows/s and the ETA from the clock; rows written after the
// job was planned grow the total instead of passing it (done never above
// total, percent never above 100), on a terminal and in the log.
func TestProgress(t *testing.T) {
	now := time.Unix(1000, 0)
	var term, logs bytes.Buffer
	for _, p := range []*Progress{NewProgress(&term, nil, time.Hour), NewProgress(nil, slog.New(slog.NewTextHandler(&logs, nil)), time.Hour)} {
		p.now = func() time.Time { return now }
		p.Start(1000, 200)
		now = now.Add(10 * time.Second)
		p.Add(400) // 600 of 1000 at 40 rows/s: 10 s left
		p.show(false)
		now = now.Add(10 * time.Second)
		p.Add(500) // 1100 of a total planned at 1000
		p.show(true)
		p.Stop()
		now = time.Unix(1000, 0)
	}
	for _, want := range []string{" 60.0%  600/1000 rows  40 rows/s  ETA 10s", "100.0%  1100/1100 rows  45 rows/s  ETA -"} {
		if !strings.Contains(term.String(), want) {
			t.Errorf("terminal %q lacks %q", term.String(), want)
		}
	}
	for _, want := range []string{"rows_done=600 rows_total=1000 percent=60.0 rows_per_s=40 eta=10s final=false", "rows_done=1100 rows_total=1100 percent=100.0 rows_per_s=45 eta=- final=true"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}
}
