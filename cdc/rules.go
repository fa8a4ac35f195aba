package cdc

import (
	"fmt"
	"slices"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/events"
)

// Kind is a row change's kind.
type Kind string

// The change kinds.
const (
	Insert Kind = "insert"
	Update Kind = "update"
	Delete Kind = "delete"
)

// Rule picks the detail type of the changes it matches.
type Rule struct {
	// DetailType is the event's detail type. Required.
	DetailType string `mapstructure:"detail_type"`
	// On is the change kind: insert, update or delete. Required.
	On Kind `mapstructure:"on"`
	// Changed, on updates, requires this column to have changed. Optional.
	Changed string `mapstructure:"changed"`
	// To, with Changed, requires the column's new value (as text) to be one
	// of these. Optional.
	To []string `mapstructure:"to"`
}

// DefaultRules are the reference rules: created, deleted, cancelled (status
// became cancelled), status changed, else updated.
func DefaultRules() []Rule {
	return []Rule{
		{DetailType: events.OrderCreated, On: Insert},
		{DetailType: events.OrderDeleted, On: Delete},
		{DetailType: events.OrderCancelled, On: Update, Changed: "status", To: []string{"cancelled"}},
		{DetailType: events.OrderStatusChanged, On: Update, Changed: "status"},
		{DetailType: events.OrderUpdated, On: Update},
	}
}

func (r Rule) check(ck *config.Checker, i int) {
	key := fmt.Sprintf("events.rules[%d]", i)
	ck.Check(r.DetailType != "" && len(r.DetailType) <= 128, key+".detail_type", r.DetailType, "a detail type of 1-128 characters")
	ck.Check(slices.Contains([]Kind{Insert, Update, Delete}, r.On), key+".on", r.On, "insert, update or delete")
	ck.Check(r.Changed == "" || r.On == Update, key+".changed", r.Changed, "only on update rules")
	ck.Check(len(r.To) == 0 || r.Changed != "", key+".to", r.To, "only with changed")
}

// matches reports whether r picks a change of kind with the changed columns
// and the new values by column (as the event's order carries them).
func (r Rule) matches(kind Kind, changed []string, after func(col string) any) bool {
	if r.On != kind {
		return false
	}
	if r.Changed == "" {
		return true
	}
	if !slices.Contains(changed, r.Changed) {
		return false
	}
	if len(r.To) == 0 {
		return true
	}
	return slices.Contains(r.To, fmt.Sprint(after(r.Changed)))
}

// detailType is the first matching rule's detail type, or "" (no event).
func detailType(rules []Rule, kind Kind, changed []string, after func(col string) any) string {
	for _, r := range rules {
		if r.matches(kind, changed, after) {
			return r.DetailType
		}
	}
	return ""
}
