package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/anycompany/strangler/internal/deadletter"
)

// DeadLetters lists and redoes the migration's dead letters. cmd/strangler
// wires it from internal/deadletter's Store and Replayer, the code of
// 'strangler deadletters', so a replay from the console is the CLI's.
type DeadLetters interface {
	// List returns the dead letters of every source.
	List(ctx context.Context) ([]DeadLetter, error)
	// Replay redoes one and returns its audit line; by names who did it.
	Replay(ctx context.Context, source, id, by string) (string, error)
	// Audit returns the newest lines of the dead letters' audit log (replays
	// and drops, from the console or the CLI), newest first.
	Audit(ctx context.Context, limit int) ([]DeadLetterAudit, error)
}

// DeadLetterAudit is a replay or a drop of a dead letter, as the Store
// recorded it. A plain value.
type DeadLetterAudit struct {
	At     time.Time `json:"at"`
	Source string    `json:"source"`
	ID     string    `json:"id"`
	Action string    `json:"action"`
	By     string    `json:"by"`
	Line   string    `json:"line"`
}

// DeadLetter is a dead letter as the page lists it. A plain value.
type DeadLetter struct {
	Source   string    `json:"source"`
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Key      string    `json:"key"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
	Attempts int       `json:"attempts"`
	Size     int       `json:"size"`
}

// StoreDeadLetters is DeadLetters over internal/deadletter, the code of
// 'strangler deadletters': List reads the Store of every source, and Replay
// redoes one with a Replayer built for it as the CLI builds one, so a row
// goes through the position guard and the Store writes the same audit line.
// A value may be copied.
type StoreDeadLetters struct {
	// Store holds the dead letters. Required.
	Store *deadletter.Store
	// NewReplayer returns the Replayer of one replay, whose audit line
	// names by, and a func that releases what it holds. Required.
	NewReplayer func(ctx context.Context, by string) (*deadletter.Replayer, func(), error)
}

var _ DeadLetters = StoreDeadLetters{}

// List returns the dead letters of every source, oldest first.
func (d StoreDeadLetters) List(ctx context.Context) ([]DeadLetter, error) {
	var out []DeadLetter
	for _, src := range deadletter.Sources {
		list, err := d.Store.List(ctx, src)
		if err != nil {
			return nil, err
		}
		for _, r := range list {
			out = append(out, DeadLetter{Source: string(r.Source), ID: r.ID, Kind: string(r.Kind), Key: r.Key,
				Reason: r.Reason, At: r.At, Attempts: r.Attempts, Size: r.Size})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// Replay redoes source's dead letter id as 'strangler deadletters replay
// --by by' does.
func (d StoreDeadLetters) Replay(ctx context.Context, source, id, by string) (string, error) {
	src, err := deadletter.ParseSource(source)
	if err != nil {
		return "", err
	}
	rp, release, err := d.NewReplayer(ctx, by)
	if err != nil {
		return "", fmt.Errorf("preparing the replay of dead letter %s/%s: %w", source, id, err)
	}
	defer release()
	return rp.Replay(ctx, src, id)
}

// Audit returns the newest limit lines of every source's audit log, newest
// first.
func (d StoreDeadLetters) Audit(ctx context.Context, limit int) ([]DeadLetterAudit, error) {
	var out []DeadLetterAudit
	for _, src := range deadletter.Sources {
		log, err := d.Store.AuditLog(ctx, src, limit)
		if err != nil {
			return nil, err
		}
		for _, a := range log {
			out = append(out, DeadLetterAudit{At: a.At, Source: string(a.Source), ID: a.ID, Action: a.Action, By: a.By, Line: a.Line})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out[:min(len(out), limit)], nil
}

// maxDeadLetters is how many dead letters a snapshot lists (the count is whole).
const maxDeadLetters = 100

// deadLetters fills the snapshot's dead letters.
func (rd *reader) deadLetters(ctx context.Context, s *Snapshot) error {
	list, err := rd.dead.List(ctx)
	if err != nil {
		return err
	}
	s.DeadLetterCount = len(list)
	s.DeadLetters = list[:min(len(list), maxDeadLetters)]
	s.DeadLetterAudit, err = rd.dead.Audit(ctx, auditLimit)
	return err
}

// replayDeadLetter redoes one dead letter the operator confirmed.
// Its audit line names the operator, the console, the confirmation and the
// reason ("alice (console, confirmed): why").
func (s *Server) replayDeadLetter(w http.ResponseWriter, r *http.Request, sess session) {
	req, ok := s.decodeAction(w, r)
	if !ok {
		return
	}
	if s.rd.dead == nil {
		writeProblem(w, http.StatusServiceUnavailable, "No dead letters", "this console reads no dead letters (dead_letters: true and the cdc's config, cdc_config)")
		return
	}
	source, id := r.PathValue("source"), r.PathValue("id")
	if _, err := deadletter.ParseSource(source); err != nil {
		writeProblem(w, http.StatusBadRequest, "Not replayed", err.Error())
		return
	}
	by := sess.actor + " (console, confirmed): " + strings.TrimSpace(req.Reason)
	line, err := s.rd.dead.Replay(r.Context(), source, id, by)
	if err != nil {
		s.log.Warn("dead letter not replayed", "source", source, "id", id, "by", by, "err", err)
		status := http.StatusConflict
		if errors.Is(err, deadletter.ErrNotFound) {
			status = http.StatusNotFound
		}
		writeProblem(w, status, "Not replayed", err.Error())
		return
	}
	s.log.Info("dead letter replayed", "source", source, "id", id, "by", by)
	writeJSON(w, http.StatusOK, map[string]string{"result": line})
}
