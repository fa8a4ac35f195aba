// Package events holds the domain event envelope every order change is
// published in (the Detail of an EventBridge entry), its JSON Schema
// (detail.schema.json, embedded as Schema) and the Publisher that sends
// entries to EventBridge within PutEvents' limits.
//
// Events are at-least-once: a crash replays from the last checkpoint. The
// event_id is derived from what the event describes (source position, table,
// key), never drawn at random, so a replayed event carries the id of its
// first publication and consumers drop duplicates by it.
package events

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Detail types of the reference configuration (configs/cdc.yaml may name
// others).
const (
	OrderCreated       = "OrderCreated"
	OrderUpdated       = "OrderUpdated"
	OrderStatusChanged = "OrderStatusChanged"
	OrderCancelled     = "OrderCancelled"
	OrderDeleted       = "OrderDeleted"
)

// DefaultSource is the entries' Source unless configured: the cdc's.
const DefaultSource = "com.anycompany.orders"

// ServiceSource is the Source of the new order service's events (its
// outbox relay): consumers tell them apart from the cdc's, and the
// sync-back consumer subscribes to these only.
const ServiceSource = "com.anycompany.orders.service"

// TimeLayout is how occurred_at is written: RFC 3339 UTC with microseconds.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Schema is the JSON Schema of Detail (detail.schema.json).
//
//go:embed detail.schema.json
var Schema []byte

// Detail is the Detail of every order event. It may be copied.
type Detail struct {
	// EventID is deterministic: ID(source position, table, key).
	EventID string `json:"event_id"`
	// OccurredAt is the source transaction's commit time.
	OccurredAt string `json:"occurred_at"`
	// SourcePosition is the change's encoded source position (a decimal
	// integer as a string: it exceeds JSON's safe integers); events of one
	// order sort by it.
	SourcePosition string `json:"source_position"`
	// Order is the full typed after-image (the before-image of a delete),
	// keyed by column name.
	Order map[string]any `json:"order"`
	// Changed lists the columns an update changed; only on updates.
	Changed []string `json:"changed,omitempty"`
	// Previous holds the changed columns' values before the update (null
	// for SQL NULL); only on updates.
	Previous map[string]any `json:"previous,omitempty"`
	// Traceparent is the W3C trace context of the change's request or
	// event, when it was traced (internal/tracing); consumers continue the
	// trace from it.
	Traceparent string `json:"traceparent,omitempty"`
}

// ID returns the event id of the change at the encoded source position pos
// of key in table: 32 hex digits of a SHA-256.
func ID(pos, table, key string) string {
	h := sha256.Sum256([]byte(pos + "\x00" + table + "\x00" + key))
	return hex.EncodeToString(h[:16])
}

// FormatTime renders t as occurred_at.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Entry is one event to publish: its detail type, its encoded Detail and
// the key whose events must stay in order. Detail must not be modified once
// the entry is given to a Publisher (it is sent without a copy).
type Entry struct {
	// Key orders entries: entries of one key are accepted in the order given.
	Key        string
	DetailType string
	Detail     []byte
	// EventID is the detail's event_id, for dead letters and logs.
	EventID string
}

// NewEntry encodes d as an entry of detailType for key.
func NewEntry(key, detailType string, d Detail) (Entry, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return Entry{}, fmt.Errorf("encoding event %s: %w", d.EventID, err)
	}
	return Entry{Key: key, DetailType: detailType, Detail: b, EventID: d.EventID}, nil
}
