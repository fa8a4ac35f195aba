package cdc

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"time"

	"github.com/anycompany/strangler/internal/position"
)

// Status is what strangler cdc status prints.
type Status struct {
	Source        string
	Checkpoint    *Checkpoint
	Lease         *LeaseState
	Behind        uint64
	CheckpointAge time.Duration
}

// RunStatus prints the source position, the checkpoint, the lag and the
// lease holder.
func RunStatus(ctx context.Context, cfg Config, out io.Writer, now func() time.Time) (Status, error) {
	if now == nil {
		now = time.Now
	}
	var st Status
	db, err := sql.Open("mysql", cfg.MySQL.DSN.Reveal())
	if err != nil {
		return st, fmt.Errorf("mysql.dsn: %w", err)
	}
	defer db.Close()
	cur, err := position.Current(ctx, db)
	if err != nil {
		return st, err
	}
	st.Source = cur.Resume()
	ddb, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return st, err
	}
	pk := "cdc#" + cfg.name()
	fmt.Fprintf(out, "source position:   %s\n", orNone(cur.Resume()))
	cp, ok, err := loadCheckpoint(ctx, ddb, cfg.ControlTable, pk)
	if err != nil {
		return st, err
	}
	if ok {
		st.Checkpoint = &cp
		if cur.Domain == cp.Pos.Domain && cur.Seq >= cp.Pos.Seq {
			st.Behind = cur.Seq - cp.Pos.Seq
		}
		st.CheckpointAge = now().Sub(cp.SavedAt)
		fmt.Fprintf(out, "checkpoint:        %s (saved %s ago by %s)\n", cp.Pos.Resume(), st.CheckpointAge.Round(time.Millisecond), cp.Owner)
		fmt.Fprintf(out, "lag:               %d transactions behind the source; checkpointed commit %s ago\n", st.Behind, now().Sub(cp.CommitTime).Round(time.Second))
	} else {
		fmt.Fprintln(out, "checkpoint:        none (the cdc starts from the backfill's recorded position, or --from-now)")
	}
	ls, ok, err := loadLease(ctx, ddb, cfg.ControlTable, pk)
	if err != nil {
		return st, err
	}
	switch {
	case !ok:
		fmt.Fprintln(out, "lease:             free (no cdc running)")
	case ls.Until.Before(now()):
		st.Lease = &ls
		fmt.Fprintf(out, "lease:             expired %s ago (last holder %s)\n", now().Sub(ls.Until).Round(time.Millisecond), ls.Owner)
	default:
		st.Lease = &ls
		fmt.Fprintf(out, "lease:             held by %s until %s\n", ls.Owner, ls.Until.Format(time.RFC3339))
	}
	return st, nil
}

func orNone(s string) string {
	if s == "" {
		return "none (nothing logged yet)"
	}
	return s
}
