// Package deadletter keeps what the migration could not deliver, in one
// store and one shape, so that each can be listed, read, redone or dropped
// (strangler deadletters): a row the cdc or the backfill could not write to
// DynamoDB keeps its full row image and its source position; an event the
// bus refused (cdc, outbox relay) or could not deliver (the local bus) keeps
// its full detail, source and detail type.
//
// Dead letters live in the control table, one partition per source:
//
//	pk "deadletter#<source>"        sk "<id>"          the record (Record)
//	pk "deadletter#<source>#part"   sk "<id>#<n>"      a part of a large payload
//	pk "deadletter#<source>#audit"  sk "<time>#<id>"   a replay or a drop
//
// A payload over 300 KiB is compressed (gzip) and, if still over, split
// into parts of 350 KiB: never cut. Ids are deterministic (the key and
// position of a row, the id of an event), so recording one twice keeps one.
package deadletter

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Source is the part a dead letter comes from.
type Source string

// The sources.
const (
	CDC      Source = "cdc"
	Relay    Source = "relay"
	Backfill Source = "backfill"
	Bus      Source = "bus"
)

// Sources lists every source.
var Sources = []Source{CDC, Relay, Backfill, Bus}

// ParseSource reads a source name.
func ParseSource(s string) (Source, error) {
	for _, src := range Sources {
		if s == string(src) {
			return src, nil
		}
	}
	return "", fmt.Errorf("unknown dead-letter source %q: use one of cdc, relay, backfill, bus", s)
}

// Kind says how a dead letter is redone.
type Kind string

// The kinds.
const (
	// Item is a row to write to the orders table under the position guard
	// (Payload.Row), and the event its change withheld, if any.
	Item Kind = "item"
	// Event is an event to publish again, with its own id (Payload.Event).
	Event Kind = "event"
)

// ErrNotFound is a dead letter that is not (or no longer) in the store.
var ErrNotFound = errors.New("no such dead letter")

// Record is one dead letter. It may be copied.
type Record struct {
	Source Source
	// ID is unique within the source and deterministic (see the package
	// doc): what show, replay and drop take.
	ID   string
	Kind Kind
	// Key is the row's key or the event's order key.
	Key    string
	Reason string
	// Position is the encoded source position (position.Position.Number)
	// of the row image, which the guard orders it by; empty for events.
	Position string
	// Payload is what is needed to redo it (see Payload); List leaves it
	// empty and fills Size.
	Payload Payload
	Size    int
	At      time.Time
	// Attempts counts failed deliveries and replays.
	Attempts int
	// ItemWritten says a replay wrote the item but not its event yet: the
	// next replay only publishes.
	ItemWritten bool
}

// Payload is what a dead letter keeps to redo it: a row image, an event,
// or both (a row whose change's event was withheld with it). Raw is input
// that could not be decoded at all (a malformed outbox record), kept for a
// person to read.
type Payload struct {
	Row   *Row              `json:"row,omitempty"`
	Event *EventPayload     `json:"event,omitempty"`
	Raw   map[string]string `json:"raw,omitempty"`
}

// Row is a full row image: every mapped column as MySQL's text protocol
// sends it (codec.Mapping.RowText), so the mapping of the day decodes it.
// Deleted is a deleted row (Columns its before image): redone as its
// tombstone.
type Row struct {
	Table   string          `json:"table"`
	Deleted bool            `json:"deleted,omitempty"`
	Columns map[string]Cell `json:"columns"`
}

// NewRow is the row image of cols (codec.Mapping.RowText).
func NewRow(table string, cols map[string][]byte) *Row {
	r := &Row{Table: table, Columns: make(map[string]Cell, len(cols))}
	for k, v := range cols {
		r.Columns[k] = Cell(v)
	}
	return r
}

// Text is the row as codec.Mapping.RowFromNamedText takes it.
func (r *Row) Text() map[string][]byte {
	out := make(map[string][]byte, len(r.Columns))
	for k, v := range r.Columns {
		out[k] = []byte(v)
	}
	return out
}

// Cell is one column's text value; nil is SQL NULL. In JSON it is a string
// when it is valid UTF-8, else {"base64": "…"} (BLOB, BIT), null for NULL.
type Cell []byte

// MarshalJSON writes the cell.
func (c Cell) MarshalJSON() ([]byte, error) {
	switch {
	case c == nil:
		return []byte("null"), nil
	case utf8.Valid(c):
		return json.Marshal(string(c))
	}
	return json.Marshal(map[string]string{"base64": base64.StdEncoding.EncodeToString(c)})
}

// UnmarshalJSON reads a cell MarshalJSON wrote.
func (c *Cell) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*c = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*c = append(Cell{}, s...)
		return nil
	}
	var bin struct {
		Base64 []byte `json:"base64"`
	}
	if err := json.Unmarshal(b, &bin); err != nil {
		return fmt.Errorf("a row cell is a string, {\"base64\": …} or null: %w", err)
	}
	*c = append(Cell{}, bin.Base64...)
	return nil
}

// EventPayload is an event as it was (to be) put on the bus: publishing it
// again gives it the same event_id, so consumers drop a duplicate.
type EventPayload struct {
	Source     string `json:"source"`
	Bus        string `json:"bus,omitempty"`
	DetailType string `json:"detail_type"`
	EventID    string `json:"event_id"`
	Key        string `json:"key"`
	// Detail is the event's detail, whole. A detail that is not JSON (a
	// malformed record's) is kept as a JSON string and DetailIsText set.
	Detail       json.RawMessage `json:"detail"`
	DetailIsText bool            `json:"detail_is_text,omitempty"`
	// Rule and Target name where the local bus failed to deliver it.
	Rule   string `json:"rule,omitempty"`
	Target string `json:"target,omitempty"`
}

// NewEvent is the payload of an event.
func NewEvent(source, bus, detailType, eventID, key string, detail []byte) *EventPayload {
	e := &EventPayload{Source: source, Bus: bus, DetailType: detailType, EventID: eventID, Key: key}
	if json.Valid(detail) {
		e.Detail = append(json.RawMessage{}, detail...)
	} else {
		e.Detail, _ = json.Marshal(string(detail))
		e.DetailIsText = true
	}
	return e
}

// DetailBytes is the detail as it was given to NewEvent.
func (e *EventPayload) DetailBytes() []byte {
	if e.DetailIsText {
		var s string
		if json.Unmarshal(e.Detail, &s) == nil {
			return []byte(s)
		}
	}
	return e.Detail
}

// ItemID is the id of a row image's dead letter: its key and position.
func ItemID(key, pos string) string { return key + "@" + pos }

// checkID refuses an id no record can have.
func checkID(id string) error {
	if id == "" || strings.ContainsAny(id, "\x00\n") || len(id) > 700 {
		return fmt.Errorf("dead-letter id %q: give an id as strangler deadletters list prints it", id)
	}
	return nil
}
