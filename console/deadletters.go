package console

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// DeadLetters lists and redoes the migration's dead letters. cmd/strangler
// wires it from internal/deadletter's Store and Replayer, the code of
// 'strangler deadletters', so a replay from the console is the CLI's.
type DeadLetters interface {
	// List returns the dead letters of every source.
	List(ctx context.Context) ([]DeadLetter, error)
	// Replay redoes one and returns its audit line; by names who did it.
	Replay(ctx context.Context, source, id, by string) (string, error)
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
	return nil
}

// replayDeadLetter redoes one dead letter. Its audit line names the
// operator and the reason ("alice: why").
func (s *Server) replayDeadLetter(w http.ResponseWriter, r *http.Request, sess session) {
	req, ok := s.decodeAction(w, r)
	if !ok {
		return
	}
	if s.rd.dead == nil {
		writeProblem(w, http.StatusServiceUnavailable, "No dead letters", "this console has no dead-letter store (migration.control_table)")
		return
	}
	by := sess.actor + ": " + strings.TrimSpace(req.Reason)
	line, err := s.rd.dead.Replay(r.Context(), r.PathValue("source"), r.PathValue("id"), by)
	if err != nil {
		s.log.Warn("dead letter not replayed", "source", r.PathValue("source"), "id", r.PathValue("id"), "by", by, "err", err)
		writeProblem(w, http.StatusConflict, "Not replayed", err.Error())
		return
	}
	s.log.Info("dead letter replayed", "source", r.PathValue("source"), "id", r.PathValue("id"), "by", by)
	writeJSON(w, http.StatusOK, map[string]string{"result": line})
}
