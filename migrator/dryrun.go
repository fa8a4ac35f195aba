package migrator

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/anycompany/strangler/internal/codec"
)

// UnmappableError says a dry run found rows that cannot be written.
type UnmappableError struct{ N int }

func (e *UnmappableError) Error() string {
	return fmt.Sprintf("%d rows cannot be written to DynamoDB (listed above): fix them or exclude their columns before the backfill", e.N)
}

// DryRunReport is what a dry run found.
type DryRunReport struct {
	Chunks  int
	Rows    int64
	Bad     []BadRow
	Bytes   int64
	Elapsed time.Duration
}

// RunDryRun reads and maps every row without writing anything (not even
// the control table) and reports the rows that cannot be mapped.
func RunDryRun(ctx context.Context, cfg Config, env Env) (DryRunReport, error) {
	var rep DryRunReport
	in, m, closeDB, err := source(ctx, cfg, cfg.Backfill.Workers+1)
	if err != nil {
		return rep, err
	}
	defer closeDB()
	start := time.Now()
	bounds, counts, err := in.Boundaries(ctx, cfg.Backfill.ChunkSize)
	if err != nil {
		return rep, err
	}
	var total int64
	for _, c := range counts {
		total += int64(c)
	}
	prog := NewProgress(env.Terminal, env.Log, cfg.Backfill.Progress)
	prog.Start(total, 0)
	var (
		mu    sync.Mutex
		rows  atomic.Int64
		bytes atomic.Int64
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Backfill.Workers)
	prev := Bound{}
	for _, hi := range bounds {
		lo := prev
		prev = hi
		g.Go(func() error {
			snap, err := in.ReadChunk(gctx, lo, hi)
			if err != nil {
				return err
			}
			var bad []BadRow
			bad = append(bad, snap.Bad...)
			for _, row := range snap.Rows {
				item, err := m.Item(row)
				if err != nil {
					bad = append(bad, BadRow{Key: m.KeyString(row), Reason: err.Error()})
					continue
				}
				size := codec.ItemSize(item)
				if size > codec.MaxItemBytes {
					bad = append(bad, BadRow{Key: m.KeyString(row), Reason: fmt.Sprintf("item of about %d bytes exceeds DynamoDB's 400 KB limit", size)})
				}
				bytes.Add(int64(size))
			}
			n := int64(len(snap.Rows) + len(snap.Bad))
			rows.Add(n)
			prog.Add(n)
			mu.Lock()
			rep.Bad = append(rep.Bad, bad...)
			mu.Unlock()
			return nil
		})
	}
	err = g.Wait()
	prog.Stop()
	rep.Chunks, rep.Rows, rep.Bytes, rep.Elapsed = len(bounds), rows.Load(), bytes.Load(), time.Since(start)
	if err != nil {
		return rep, err
	}
	fmt.Fprintf(env.Out, "dry run of %s: %d chunks, %d rows read and mapped, %d cannot be written, about %d MB of items; %s; nothing was written\n",
		m.Table, rep.Chunks, rep.Rows, len(rep.Bad), rep.Bytes>>20, rep.Elapsed.Round(time.Millisecond))
	for i, b := range rep.Bad {
		if i == 50 {
			fmt.Fprintf(env.Out, "  … and %d more\n", len(rep.Bad)-50)
			break
		}
		fmt.Fprintf(env.Out, "  key %s: %s\n", b.Key, b.Reason)
	}
	if len(rep.Bad) > 0 {
		return rep, &UnmappableError{N: len(rep.Bad)}
	}
	return rep, nil
}
