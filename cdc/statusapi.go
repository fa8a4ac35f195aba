package cdc

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/internal/problem"
)

// LiveStatus is the answer of GET /status on the cdc's metrics listener:
// how far the checkpoint is behind the source, read when asked. The proxy's
// write gate reads it (a write group is not raised while LagSeconds is over
// its max_cdc_lag, or while Leading is false). A plain value.
type LiveStatus struct {
	// Leading is whether this process holds the lease (a standby delivers
	// nothing).
	Leading bool `json:"leading"`
	// Source and Checkpoint are the source's current position and the
	// checkpoint's, in their resume form ("" when there is none).
	Source     string `json:"source"`
	Checkpoint string `json:"checkpoint"`
	// Behind counts the source's transactions after the checkpoint.
	Behind uint64 `json:"behind"`
	// LagSeconds is 0 when the checkpoint is the source's position, else
	// the age of the checkpointed transaction's commit: an upper bound of
	// how long ago the oldest change not yet delivered was committed (after
	// a quiet spell it reads high until the next checkpoint, at most
	// checkpoint_interval later); 1e9 before the first checkpoint.
	LagSeconds float64 `json:"lag_seconds"`
}

// noCheckpointLag is the lag a cdc without a checkpoint reports: it has
// delivered nothing yet.
const noCheckpointLag = 1e9

// statusHandler serves GET /status and GET /metrics.
func statusHandler(cfg Config, db *sql.DB, api ControlAPI, g prometheus.Gatherer, leading func() bool, now func() time.Time, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		st, err := liveStatus(ctx, cfg, db, api, now)
		if err != nil {
			log.Warn("status: reading the source or the checkpoint failed", "err", err)
			problem.Write(w, problem.New(http.StatusServiceUnavailable, "Status unavailable", err.Error()))
			return
		}
		st.Leading = leading()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	return mux
}

// liveStatus reads the source's position and the checkpoint.
func liveStatus(ctx context.Context, cfg Config, db *sql.DB, api ControlAPI, now func() time.Time) (LiveStatus, error) {
	var st LiveStatus
	cur, err := position.Current(ctx, db)
	if err != nil {
		return st, err
	}
	st.Source = cur.Resume()
	cp, ok, err := loadCheckpoint(ctx, api, cfg.ControlTable, "cdc#"+cfg.name())
	if err != nil {
		return st, err
	}
	if !ok {
		st.LagSeconds = noCheckpointLag
		return st, nil
	}
	st.Checkpoint = cp.Pos.Resume()
	if st.Checkpoint == st.Source {
		return st, nil
	}
	if cur.Domain == cp.Pos.Domain && cur.Seq >= cp.Pos.Seq {
		st.Behind = cur.Seq - cp.Pos.Seq
	}
	st.LagSeconds = max(0, now().Sub(cp.CommitTime).Seconds())
	return st, nil
}
