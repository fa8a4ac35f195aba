// Package history checks a recorded history of order operations against
// the final state of both stores and the orders' event histories, in the
// manner of a Jepsen checker: clients record every call as they saw it
// (Op), the stores and the event bus are read once everything settled, and
// Check decides offline whether an acknowledged write was lost.
//
// The model is each order's version chain. Every change of an order, by
// whichever writer, bumps its version by one and publishes one event (the
// cdc for legacy's changes, the outbox for the new service's), so the
// deduplicated events of an order, by version, must form one chain
// 1, 2, … n with no fork (two events of one version with different
// statuses: two writers met), no gap, each event's previous status the
// status of the version before, and its end equal to the final state in
// both stores. An acknowledged write (a 2xx answer holding the order) is
// kept iff its version and status are a link of that chain: either the
// chain's end or superseded by the later links. A call without an answer
// is indeterminate: it may or may not have happened, and is not judged.
package history

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// Kind is what an operation asked for.
type Kind string

// The kinds of operation.
const (
	Create Kind = "create"
	Update Kind = "update"
	Cancel Kind = "cancel"
)

// State is an order's version and status.
type State struct {
	Version uint64
	Status  string
}

func (s State) String() string { return fmt.Sprintf("v%d %s", s.Version, s.Status) }

// Op is one call as its client saw it. A plain value.
type Op struct {
	Worker int
	Kind   Kind
	// Order is the order's id (a create's, once answered).
	Order string
	// Arg is an update's target status.
	Arg        string
	Start, End time.Time
	// Status is the HTTP status, 0 when no answer came (indeterminate).
	Status int
	// Backend is the X-Strangler-Backend of the answer.
	Backend string
	// Result is the order the answer held (2xx only).
	Result *State
}

// Acknowledged reports whether the call's effect was acknowledged.
func (o Op) Acknowledged() bool { return o.Status >= 200 && o.Status < 300 && o.Result != nil }

// Event is one event of an order as delivered (duplicates allowed).
type Event struct {
	// ID is the event's event_id (deterministic: redeliveries share it).
	ID         string
	DetailType string
	Order      string
	State      State
	// Previous is the status before the change, "" when the event has none
	// (a create, or a change that left the status).
	Previous string
}

// Report is Check's verdict.
type Report struct {
	Operations, Acknowledged, Indeterminate int
	// Conflicts are 409 answers (refused transitions and lost races),
	// Unavailable 503s (nothing was written).
	Conflicts, Unavailable int
	// Orders is how many orders the history touched, Events how many
	// distinct events they have.
	Orders, Events int
	// Lost describes each acknowledged write not in the chain of its order.
	Lost []string
	// Inconsistent describes each order whose event chain is broken or
	// disagrees with a store.
	Inconsistent []string
}

// OK reports whether nothing was lost and every history is consistent.
func (r Report) OK() bool { return len(r.Lost) == 0 && len(r.Inconsistent) == 0 }

func (r Report) String() string {
	return fmt.Sprintf("operations %d, acknowledged %d, lost %d, 409s %d, 503s %d, indeterminate %d; orders %d, events %d, inconsistent histories %d",
		r.Operations, r.Acknowledged, len(r.Lost), r.Conflicts, r.Unavailable, r.Indeterminate, r.Orders, r.Events, len(r.Inconsistent))
}

// Check judges ops against the final states of the two stores (by order
// id; a missing order is absent) and the delivered events.
func Check(ops []Op, legacy, dynamo map[string]State, events []Event) Report {
	var r Report
	chains := chainsOf(events, &r)
	touched := map[string]bool{}
	for _, op := range ops {
		r.Operations++
		switch {
		case op.Status == 0:
			r.Indeterminate++
		case op.Status == 409:
			r.Conflicts++
		case op.Status == 503:
			r.Unavailable++
		}
		if op.Order != "" {
			touched[op.Order] = true
		}
		if !op.Acknowledged() {
			continue
		}
		r.Acknowledged++
		if why := kept(op, chains[op.Order]); why != "" {
			r.Lost = append(r.Lost, fmt.Sprintf("order %s: %s acknowledged as %s by %s at %s: %s",
				op.Order, describe(op), *op.Result, op.Backend, op.End.Format("15:04:05.000"), why))
		}
	}
	ids := make([]string, 0, len(touched))
	for id := range touched {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	r.Orders = len(ids)
	for _, id := range ids {
		for _, why := range consistent(chains[id], legacy, dynamo, id) {
			r.Inconsistent = append(r.Inconsistent, "order "+id+": "+why)
		}
	}
	return r
}

func describe(op Op) string {
	if op.Kind == Update {
		return "update to " + op.Arg
	}
	return string(op.Kind)
}

// chain is one order's deduplicated events by version; forks holds every
// version that has two events with different statuses.
type chain struct {
	byVersion map[uint64]Event
	forks     []string
}

// chainsOf builds every order's chain, counting distinct events into r.
func chainsOf(events []Event, r *Report) map[string]*chain {
	out := map[string]*chain{}
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		r.Events++
		c := out[e.Order]
		if c == nil {
			c = &chain{byVersion: map[uint64]Event{}}
			out[e.Order] = c
		}
		prev, dup := c.byVersion[e.State.Version]
		switch {
		case !dup:
			c.byVersion[e.State.Version] = e
		case prev.State.Status != e.State.Status || prev.Previous != e.Previous:
			c.forks = append(c.forks, fmt.Sprintf("version %d is both %s (event %s, %s) and %s (event %s, %s): two writers changed the order from one version",
				e.State.Version, prev.State.Status, prev.ID, prev.DetailType, e.State.Status, e.ID, e.DetailType))
		}
	}
	return out
}

// kept says why op's result is not a link of c, or "" when it is.
func kept(op Op, c *chain) string {
	if c == nil {
		return "the order has no events at all"
	}
	e, ok := c.byVersion[op.Result.Version]
	switch {
	case !ok:
		return fmt.Sprintf("no event has version %d", op.Result.Version)
	case e.State.Status != op.Result.Status:
		return fmt.Sprintf("version %d is %s in the history (event %s)", op.Result.Version, e.State.Status, e.ID)
	}
	return ""
}

// consistent lists what is wrong with order id's chain and final states.
func consistent(c *chain, legacy, dynamo map[string]State, id string) []string {
	l, lok := legacy[id]
	d, dok := dynamo[id]
	if c == nil {
		if lok || dok {
			return []string{fmt.Sprintf("stored (legacy %v, dynamodb %v) but no event was published", stateOrAbsent(l, lok), stateOrAbsent(d, dok))}
		}
		return nil
	}
	out := slices.Clone(c.forks)
	versions := make([]uint64, 0, len(c.byVersion))
	for v := range c.byVersion {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	for i, v := range versions {
		e := c.byVersion[v]
		if v != uint64(i+1) {
			out = append(out, fmt.Sprintf("the events skip from version %d to %d", i, v))
			break
		}
		if i > 0 && e.Previous != "" && e.Previous != c.byVersion[v-1].State.Status {
			out = append(out, fmt.Sprintf("version %d (%s) says it came from %s, but version %d is %s", v, e.State.Status, e.Previous, v-1, c.byVersion[v-1].State.Status))
		}
	}
	end := c.byVersion[versions[len(versions)-1]].State
	if !lok || l != end {
		out = append(out, fmt.Sprintf("legacy holds %s, the history ends at %s", stateOrAbsent(l, lok), end))
	}
	if !dok || d != end {
		out = append(out, fmt.Sprintf("dynamodb holds %s, the history ends at %s", stateOrAbsent(d, dok), end))
	}
	return out
}

func stateOrAbsent(s State, ok bool) string {
	if !ok {
		return "nothing"
	}
	return s.String()
}
