package eventbus

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/anycompany/strangler/internal/deadletter"
)

// appender appends whole lines to one file; each append is one write, so
// readers never see half a line from a finished append. The zero value is
// not usable; make one with openAppender. It must not be copied.
type appender struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func openAppender(path string) (*appender, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating folder of %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return &appender{path: path, f: f}, nil
}

// write appends buf, which holds whole lines.
func (a *appender) write(buf []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return fmt.Errorf("appending to %s: %w", a.path, os.ErrClosed)
	}
	if _, err := a.f.Write(buf); err != nil {
		return fmt.Errorf("appending to %s: %w", a.path, err)
	}
	return nil
}

func (a *appender) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}

// ArchiveRecord is one line of the archive: an accepted event, the bus it
// was put on and when the bus accepted it.
type ArchiveRecord struct {
	ArchivedAt time.Time       `json:"archived_at"`
	Bus        string          `json:"bus"`
	Event      json.RawMessage `json:"event"`
}

// Archive appends every accepted event to a JSONL file. The zero value is
// not usable; make one with OpenArchive. It is safe for concurrent use and
// must not be copied.
type Archive struct{ out *appender }

// OpenArchive opens (creating it and its folder) the archive at path for appending.
func OpenArchive(path string) (*Archive, error) {
	a, err := openAppender(path)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	return &Archive{out: a}, nil
}

// Append writes recs in one write. Each Event must be one line of valid
// JSON (as Server builds them); it is written as is.
func (a *Archive) Append(recs []ArchiveRecord) error {
	n := 0
	for _, r := range recs {
		n += len(r.Event) + len(r.Bus) + 80
	}
	buf := make([]byte, 0, n)
	for _, r := range recs {
		buf = append(buf, `{"archived_at":"`...)
		buf = r.ArchivedAt.UTC().AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, `","bus":`...)
		buf = appendJSONString(buf, r.Bus)
		buf = append(buf, `,"event":`...)
		buf = append(buf, r.Event...)
		buf = append(buf, "}\n"...)
	}
	return a.out.write(buf)
}

// Close closes the file.
func (a *Archive) Close() error { return a.out.close() }

// ReadArchive calls fn for each record of the archive at path, in file
// order, stopping at fn's first error. A torn last line (a write in
// progress) is skipped; any other bad line is an error naming it.
func ReadArchive(path string, fn func(ArchiveRecord) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening archive: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil // a line without its newline is still being written
		}
		if err != nil {
			return fmt.Errorf("reading archive %s: %w", path, err)
		}
		var rec ArchiveRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("archive %s line %d: %w", path, line, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// DeadLetter is one line of the dead-letter file: an event a target never
// accepted, and why.
type DeadLetter struct {
	At       time.Time       `json:"at"`
	Rule     string          `json:"rule"`
	Target   string          `json:"target"`
	URL      string          `json:"url"`
	Attempts int             `json:"attempts"`
	Reason   string          `json:"reason"`
	Event    json.RawMessage `json:"event"`
}

// DeadLetters appends undeliverable events to a JSONL file, or, once
// given a table (ToTable), records them there (what the table cannot take
// still goes to the file). The zero value is not usable; make one with
// OpenDeadLetters. It is safe for concurrent use and must not be copied.
type DeadLetters struct {
	out   *appender
	table *deadletter.Sink
	// tableErr is called with what the table refused (the file has it).
	tableErr func(error)
}

// ToTable records dead letters in sink from now on; onErr hears of those
// it refused (they go to the file).
func (d *DeadLetters) ToTable(sink *deadletter.Sink, onErr func(error)) {
	d.table, d.tableErr = sink, onErr
}

// record is dl as a dead letter of source bus: the event as it was put on
// the bus (source, detail type, whole detail), which strangler deadletters
// replay puts on it again.
func (dl DeadLetter) record() (deadletter.Record, error) {
	var env Envelope
	if err := json.Unmarshal(dl.Event, &env); err != nil {
		return deadletter.Record{}, fmt.Errorf("dead letter of rule %s: the event is not an envelope: %w", dl.Rule, err)
	}
	var ids struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(env.Detail, &ids) // an event without one keeps the envelope's id
	if ids.EventID == "" {
		ids.EventID = env.ID
	}
	ev := deadletter.NewEvent(env.Source, "", env.DetailType, ids.EventID, ids.EventID, env.Detail)
	ev.Rule, ev.Target = dl.Rule, dl.Target
	return deadletter.Record{ID: env.ID + "@" + dl.Rule + "/" + dl.Target, Kind: deadletter.Event, Key: ids.EventID,
		Reason: dl.Reason + " (target " + dl.URL + ")", At: dl.At, Attempts: dl.Attempts, Payload: deadletter.Payload{Event: ev}}, nil
}

// OpenDeadLetters opens (creating it and its folder) the dead-letter file at path.
func OpenDeadLetters(path string) (*DeadLetters, error) {
	a, err := openAppender(path)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return &DeadLetters{out: a}, nil
}

// Add appends one dead letter. dl.Event must be one line of valid JSON
// (as the bus builds envelopes); it is written as is, so a flood of dead
// letters (a target down under load) costs no JSON re-encoding.
func (d *DeadLetters) Add(dl DeadLetter) error {
	if d.table != nil {
		r, err := dl.record()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = d.table.Add(ctx, r)
			cancel()
		}
		if err == nil {
			return nil
		}
		d.tableErr(err)
	}
	b := make([]byte, 0, len(dl.Event)+len(dl.Reason)+len(dl.URL)+128)
	b = append(b, `{"at":"`...)
	b = dl.At.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","rule":`...)
	b = appendJSONString(b, dl.Rule)
	b = append(b, `,"target":`...)
	b = appendJSONString(b, dl.Target)
	b = append(b, `,"url":`...)
	b = appendJSONString(b, dl.URL)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(dl.Attempts), 10)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, dl.Reason)
	b = append(b, `,"event":`...)
	b = append(b, dl.Event...)
	b = append(b, "}\n"...)
	return d.out.write(b)
}

// Close closes the file.
func (d *DeadLetters) Close() error { return d.out.close() }
