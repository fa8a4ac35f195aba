package cdc_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/migrator"
)

func (f *fixture) runOnce(opts cdc.Options) error {
	f.t.Helper()
	// Each use expects Run to refuse quickly (about a second alone); the bound
	// only stops a Run that wrongly streams. (A purged start that was once
	// streamed from for minutes had not been purged: see the wait in
	// TestStackSourceChecks.)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	return cdc.Run(ctx, f.cfg, opts, cdc.Env{Log: f.log, Out: io.Discard})
}

// TestStackStartPositions: without a checkpoint or a backfill position the
// cdc refuses to guess; after a backfill it starts from the recorded
// position; /metrics and cdc status report what it did.
func TestStackStartPositions(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	if err := f.runOnce(cdc.Options{}); !errors.Is(err, cdc.ErrNoStart) {
		t.Fatalf("Run without a start = %v, want ErrNoStart", err)
	}
	f.workload(300, 0)
	if _, err := migrator.RunBackfill(context.Background(), f.mcfg, migrator.Env{Log: f.log, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	r := f.start(cdc.Options{}, "a")
	res, err := f.db.Exec("UPDATE orders SET status = 'shipped' WHERE id % 3 = 0")
	if err != nil {
		t.Fatal(err)
	}
	updated, _ := res.RowsAffected()
	f.verify(15 * time.Second)
	cur := f.current()
	waitFor(t, "the checkpoint at the source's position", 15*time.Second, func() bool { return f.checkpointSeq() >= gtidSeq(t, cur) })

	var out bytes.Buffer
	st, err := cdc.RunStatus(context.Background(), f.cfg, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cdc status:\n%s", out.String())
	if st.Checkpoint == nil || st.Behind != 0 || st.Lease == nil || st.Lease.Owner != "a" {
		t.Errorf("status %+v: want a checkpoint 0 behind and the lease held by a", st)
	}
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			got[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	if got["strangler_cdc_changes_total{update}"] != float64(updated) || got["strangler_cdc_events_published_total"] != float64(updated) || got["strangler_cdc_leader"] != 1 {
		t.Errorf("metrics: %v", got)
	}
	for _, stage := range []string{"read", "applied", "checkpoint"} {
		if _, ok := got["strangler_cdc_lag_seconds{"+stage+"}"]; !ok {
			t.Errorf("no lag for stage %s", stage)
		}
	}
	r.stop(t)
	out.Reset()
	if _, err := cdc.RunStatus(context.Background(), f.cfg, &out, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "lease:             free") {
		t.Errorf("after a clean stop the lease is not free:\n%s", out.String())
	}
}

// TestStackSourceChecks: a statement binlog is refused with the reason, and
// a start position whose binlog was purged stops the cdc with
// ErrPositionPurged (re-run the backfill), never skipping silently.
func TestStackSourceChecks(t *testing.T) {
	m := startPrivateMariaDB(t)
	f := newFixtureOn(t, m.dsn(), eventbus.FaultConfig{})
	start := f.current()
	f.workload(10, 0)

	f.exec("SET GLOBAL binlog_format = 'STATEMENT'")
	err := f.runOnce(cdc.Options{From: start})
	f.exec("SET GLOBAL binlog_format = 'ROW'")
	if !errors.Is(err, cdc.ErrSource) || !strings.Contains(err.Error(), "binlog_format") {
		t.Errorf("Run on a STATEMENT binlog = %v, want ErrSource naming binlog_format", err)
	}

	f.exec("FLUSH BINARY LOGS")
	f.workload(10, 0)
	var current string
	var pos any
	row := f.db.QueryRow("SHOW MASTER STATUS")
	cols := []any{&current, &pos, new(any), new(any)}
	if err := row.Scan(cols...); err != nil {
		t.Fatal(err)
	}
	// PURGE keeps a binlog MariaDB still needs for crash recovery until its
	// binlog checkpoint (written in the background) passed it: purge until
	// the current binlog is the oldest one left.
	waitFor(t, "the older binlogs purged", 20*time.Second, func() bool {
		f.exec("PURGE BINARY LOGS TO '" + current + "'")
		return f.oldestBinlog() == current
	})
	err = f.runOnce(cdc.Options{From: start})
	if !errors.Is(err, cdc.ErrPositionPurged) || !strings.Contains(err.Error(), "re-run the backfill") {
		t.Errorf("Run from a purged position = %v, want ErrPositionPurged telling to re-run the backfill", err)
	}
}

// oldestBinlog is the name of the oldest binlog the source still has.
func (f *fixture) oldestBinlog() string {
	f.t.Helper()
	rows, err := f.db.Query("SHOW BINARY LOGS")
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		f.t.Fatal(err)
	}
	var name string
	dest := []any{&name}
	for len(dest) < len(cols) {
		dest = append(dest, new(any))
	}
	if rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return name
}
