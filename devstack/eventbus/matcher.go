package eventbus

import (
	"fmt"
	"slices"
	"sync"

	"quamina.net/go/quamina"
)

// Matcher finds the rules whose pattern matches an event envelope, one
// quamina instance per bus. The zero value is not usable; make one with
// NewMatcher. It is safe for concurrent use and must not be copied.
type Matcher struct {
	mu    sync.Mutex // quamina's flattener keeps state per instance
	byBus map[string]*quamina.Quamina
}

// NewMatcher compiles the patterns of rules (already defaulted: every rule
// names its bus). Match reports rules by their index in rules.
func NewMatcher(rules []RuleConfig) (*Matcher, error) {
	m := &Matcher{byBus: map[string]*quamina.Quamina{}}
	for i, r := range rules {
		p, err := CompilePattern(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.Name, err)
		}
		q := m.byBus[r.Bus]
		if q == nil {
			if q, err = quamina.New(); err != nil {
				return nil, fmt.Errorf("building matcher: %w", err)
			}
			m.byBus[r.Bus] = q
		}
		if err := q.AddPattern(i, p.String()); err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.Name, err)
		}
	}
	return m, nil
}

// Match returns the indexes, ascending, of the rules of bus that match
// envelope (the event as delivered: version, id, detail-type, source, …).
func (m *Matcher) Match(bus string, envelope []byte) ([]int, error) {
	q := m.byBus[bus]
	if q == nil {
		return nil, nil
	}
	m.mu.Lock()
	xs, err := q.MatchesForEvent(envelope)
	m.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("matching event: %w", err)
	}
	out := make([]int, 0, len(xs))
	for _, x := range xs {
		if i, ok := x.(int); ok {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out, nil
}
