package eventbus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// ReplayRequest selects the archived events to re-deliver.
type ReplayRequest struct {
	// From and To bound the time the bus accepted the event (archived_at):
	// From <= t < To. Required: From before To.
	From, To time.Time
	// Rule limits the replay to one rule. Optional: empty means every rule.
	Rule string
	// Name is written to each re-delivered envelope as "replay-name", as
	// EventBridge does. Optional: defaults to "replay-<From>".
	Name string
}

// ReplayResult counts what a replay did.
type ReplayResult struct {
	Name string `json:"name"`
	// Read counts archive records read; InWindow those between From and To.
	Read     int `json:"read"`
	InWindow int `json:"in_window"`
	// Deliveries counts (event, target) pairs the rules selected.
	Deliveries   int `json:"deliveries"`
	Delivered    int `json:"delivered"`
	DeadLettered int `json:"dead_lettered"`
}

// Replayer re-delivers archived events to the targets of the rules that
// match them now, one at a time in archive order, with each target's retry
// policy; an event a target never takes goes to the dead-letter file. The
// zero value is not usable; make one with NewReplayer. It must not be
// copied.
type Replayer struct {
	cfg     Config // defaulted
	matcher *Matcher
	sender  *Sender
	dead    *DeadLetters
	now     func() time.Time
	logger  *slog.Logger
}

// NewReplayer builds a Replayer over cfg's rules and archive, appending to
// dead (which the caller closes). Options as for New (clock, sleep,
// randomness, HTTP client).
func NewReplayer(cfg Config, dead *DeadLetters, logger *slog.Logger, opts ...Option) (*Replayer, error) {
	cfg = cfg.withDefaults()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o.fill(cfg.Seed)
	m, err := NewMatcher(cfg.Rules)
	if err != nil {
		return nil, err
	}
	return &Replayer{cfg: cfg, matcher: m, sender: NewSender(o.client, o.sleep, o.jitter), dead: dead, now: o.now, logger: logger}, nil
}

// ErrUnknownRule is a replay limited to a rule the configuration lacks.
var ErrUnknownRule = fmt.Errorf("no such rule")

// Replay re-delivers the archived events req selects. It stops early only
// when ctx ends or the archive cannot be read.
func (r *Replayer) Replay(ctx context.Context, req ReplayRequest) (ReplayResult, error) {
	if !req.From.Before(req.To) {
		return ReplayResult{}, fmt.Errorf("replay window: --from %s must be before --to %s", req.From.Format(time.RFC3339), req.To.Format(time.RFC3339))
	}
	only := -1
	if req.Rule != "" {
		for i, rule := range r.cfg.Rules {
			if rule.Name == req.Rule {
				only = i
			}
		}
		if only < 0 {
			return ReplayResult{}, fmt.Errorf("replay --rule %q: %w in %d configured rules", req.Rule, ErrUnknownRule, len(r.cfg.Rules))
		}
	}
	if req.Name == "" {
		req.Name = "replay-" + req.From.UTC().Format("20060102T150405Z")
	}
	res := ReplayResult{Name: req.Name}
	err := ReadArchive(r.cfg.ArchivePath, func(rec ArchiveRecord) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		res.Read++
		if rec.ArchivedAt.Before(req.From) || !rec.ArchivedAt.Before(req.To) {
			return nil
		}
		res.InWindow++
		rules, err := r.matcher.Match(rec.Bus, rec.Event)
		if err != nil {
			return fmt.Errorf("archived event: %w", err)
		}
		var env Envelope
		if err := json.Unmarshal(rec.Event, &env); err != nil {
			return fmt.Errorf("archived event: %w", err)
		}
		env.ReplayName = req.Name
		body, err := json.Marshal(env)
		if err != nil {
			return fmt.Errorf("encoding replayed event: %w", err)
		}
		for _, ri := range rules {
			if only >= 0 && ri != only {
				continue
			}
			rule := r.cfg.Rules[ri]
			for _, t := range rule.Targets {
				res.Deliveries++
				attempts, err := r.sender.Deliver(ctx, t, body, nil)
				if err == nil {
					res.Delivered++
					continue
				}
				res.DeadLettered++
				dl := DeadLetter{At: r.now().UTC(), Rule: rule.Name, Target: t.Name, URL: t.URL, Attempts: attempts,
					Reason: "replay " + req.Name + ": " + err.Error(), Event: body}
				if derr := r.dead.Add(dl); derr != nil {
					return fmt.Errorf("dead-lettering replayed event %s: %w", env.ID, derr)
				}
				r.logger.Warn("replayed event dead-lettered", "rule", rule.Name, "target", t.Name, "id", env.ID, "reason", err.Error())
			}
		}
		return nil
	})
	return res, err
}
