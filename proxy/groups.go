package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/proxy/plan"
)

// WriteGroupConfig is a write group: the routes that create and change
// orders, moved together by one mode, one weight and one plan, so that at
// any moment every mutating call on one order goes to one backend whatever
// route carries it (invariant 6 of shared/DESIGN.md). A call on an
// existing order is routed by its id (sticky path:id on every member whose
// pattern has an {id}), so a flip moves an order's whole write path at once.
// It is a plain value and may be copied.
type WriteGroupConfig struct {
	// Name identifies the group in the admin API, the CLI, plans, the
	// control table and the audit log, like a route's name (and must differ
	// from every route's). Required.
	Name string `mapstructure:"name"`
	// Routes are the member routes: writes (POST, PUT, PATCH, DELETE); a
	// member whose pattern has an {id} must have sticky path:id; members
	// set no mode, weight or plan of their own. Required: at least one.
	Routes []string `mapstructure:"routes"`
	// Mode is legacy, shadow, canary or new. Optional: defaults to legacy.
	Mode Mode `mapstructure:"mode"`
	// Weight is the percentage of sticky buckets on new in canary mode.
	// Optional: defaults to 0.
	Weight float64 `mapstructure:"weight"`
	// Plan is the group's progressive plan. Optional: defaults to none.
	Plan *plan.Plan `mapstructure:"plan"`
	// CDCStatus is the cdc's status endpoint (GET, JSON with lag_seconds:
	// strangler cdc run serves it as /status beside /metrics). The group
	// cannot be raised (more of it on new) while it cannot be read or
	// says the cdc is over MaxCDCLag; lowering is never refused, so a
	// rollback always works. Optional: defaults to empty, which turns the
	// gate off (a stack without a cdc: experiments only, logged at start).
	CDCStatus string `mapstructure:"cdc_status"`
	// MaxCDCLag bounds the cdc's lag for a raise. Optional: defaults to 5s.
	MaxCDCLag time.Duration `mapstructure:"max_cdc_lag"`
	// Settle is how long after a flip a write on an existing order whose
	// owner the flip changed is held until the new owner has that order's
	// latest change from the old one: the two backends report the same
	// version and no write of it to the old owner is in flight here (the
	// cdc carries legacy's changes to new, the sync-back new's to legacy).
	// Optional: defaults to 1m.
	Settle time.Duration `mapstructure:"settle"`
	// SettleWait bounds how long one write is held; past it the client gets
	// 503 with Retry-After (nothing was written). Optional: defaults to 2s.
	SettleWait time.Duration `mapstructure:"settle_wait"`
}

// Defaults of a write group's optional durations (slice elements get no
// defaults from DefaultConfig: withDefaults fills them).
const (
	defaultMaxCDCLag  = 5 * time.Second
	defaultSettle     = time.Minute
	defaultSettleWait = 2 * time.Second
)

// withDefaults fills g's unset durations.
func (g WriteGroupConfig) withDefaults() WriteGroupConfig {
	if g.MaxCDCLag == 0 {
		g.MaxCDCLag = defaultMaxCDCLag
	}
	if g.SettleWait == 0 {
		g.SettleWait = defaultSettleWait
	}
	if g.Settle == 0 {
		g.Settle = defaultSettle
	}
	return g
}

// checkGroups reports every unusable write group field, each by key.
func checkGroups(ck *config.Checker, routes []RouteConfig, groups []WriteGroupConfig) {
	byName := map[string]RouteConfig{}
	for _, r := range routes {
		byName[r.Name] = r
	}
	member := map[string]string{}
	seen := map[string]bool{}
	for i, g := range groups {
		key := fmt.Sprintf("write_groups[%d]", i)
		_, clash := byName[g.Name]
		ck.Check(validName(g.Name) && !clash && !seen[g.Name], key+".name", g.Name,
			"letters, digits, '-' and '_', used once and by no route")
		seen[g.Name] = true
		ck.Check(len(g.Routes) > 0, key+".routes", g.Routes, "at least one route name")
		for j, name := range g.Routes {
			rkey := fmt.Sprintf("%s.routes[%d]", key, j)
			rc, ok := byName[name]
			if !ok {
				ck.Check(false, rkey, name, "the name of a route in routes")
				continue
			}
			ck.Check(member[name] == "", rkey, name, "a route in one write group only (it is in "+member[name]+")")
			member[name] = g.Name
			checkMember(ck, rkey, rc)
		}
		_, err := ParseMode(string(g.Mode))
		ck.Add(key+".mode", g.Mode, err, "legacy, shadow, canary or new")
		ck.Add(key+".weight", g.Weight, checkWeight(g.Weight), "0 to 100 with at most two decimals")
		if g.Plan != nil {
			g.Plan.Validate(ck, key+".plan")
		}
		if g.CDCStatus != "" {
			checkURLPath(ck, key+".cdc_status", g.CDCStatus)
		}
		ck.Check(g.MaxCDCLag >= 0, key+".max_cdc_lag", g.MaxCDCLag, "a positive duration (default 5s)")
		ck.Check(g.Settle >= 0, key+".settle", g.Settle, "a positive duration (default 1m)")
		ck.Check(g.SettleWait >= 0 && g.SettleWait <= 30*time.Second, key+".settle_wait", g.SettleWait, "up to 30s (default 2s)")
	}
}

// checkMember checks a member route of a write group.
func checkMember(ck *config.Checker, key string, rc RouteConfig) {
	p, err := parsePattern(rc.Match)
	if err != nil {
		return // reported on the route
	}
	ck.Check(p.method != http.MethodGet && p.method != http.MethodHead, key, rc.Name,
		"a write route (POST, PUT, PATCH or DELETE): reads need no single writer")
	if patternHas(p, "id") {
		ck.Check(rc.Sticky == "path:id", key, rc.Name+" (sticky "+rc.Sticky+")",
			"a route with sticky path:id: every call on one order must pick its backend by the order's id")
	}
	ck.Check(rc.Mode == "" && rc.Weight == 0 && rc.Plan == nil, key, rc.Name,
		"a route without mode, weight or plan of its own: the write group sets them")
}

func patternHas(p pattern, param string) bool {
	for _, s := range p.segs {
		if s.param == param {
			return true
		}
	}
	return false
}

func checkURLPath(ck *config.Checker, key, s string) {
	ok := strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
	ck.Check(ok && len(s) > len("https://"), key, s, "an http(s) URL like http://127.0.0.1:9102/status, or empty")
}

// units are what carries a state: every route outside a write group, and
// every group (as a RouteConfig holding its name, mode, weight and plan).
func units(routes []RouteConfig, groups []WriteGroupConfig) []RouteConfig {
	grouped := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Routes {
			grouped[r] = true
		}
	}
	var out []RouteConfig
	for _, r := range routes {
		if !grouped[r.Name] {
			out = append(out, r)
		}
	}
	for _, g := range groups {
		out = append(out, RouteConfig{Name: g.Name, Mode: g.Mode, Weight: g.Weight, Plan: g.Plan})
	}
	return out
}

// share is the percentage of sticky buckets a state sends to new.
func share(st RouteState) float64 {
	switch st.Mode {
	case ModeNew:
		return 100
	case ModeCanary:
		return st.Weight
	}
	return 0
}

// group is a compiled write group of a Table: its config (with defaults)
// and what its last flip moved. Immutable; never copy one.
type group struct {
	cfg     WriteGroupConfig
	members []string
	// prevThreshold is the bucket threshold before the last flip, and
	// settleUntil the end of that flip's settle window.
	prevThreshold int
	settleUntil   time.Time
}

// Errors of write group changes.
var (
	// ErrGroupMember is a change of a route that moves with its write group.
	ErrGroupMember = errors.New("the route moves with its write group: change the group")
	// ErrGateClosed is a raise of a write group refused by the cdc gate.
	ErrGateClosed = errors.New("write gate closed")
	// ErrNotSettled is a write held past settle_wait because its order's
	// last change has not reached its new owner: nothing was written.
	ErrNotSettled = errors.New("the order is changing owner and its last change has not reached the new owner yet")
)

// Gate answers whether a write group may be raised now.
type Gate interface {
	Check(ctx context.Context, g WriteGroupConfig) error
}

// CDCGate reads the cdc's status endpoint (WriteGroupConfig.CDCStatus) and
// refuses while it cannot be read, no cdc leads, or its lag is over the
// group's max_cdc_lag. A nil Client means http.DefaultClient with a 2s
// timeout per read. It may be copied.
type CDCGate struct {
	Client *http.Client
}

var _ Gate = CDCGate{}

// CDCStatus is the part of the cdc's status the gate reads.
type CDCStatus struct {
	// Leading is whether the answering cdc holds the lease (a standby's
	// figures say nothing about delivery).
	Leading bool `json:"leading"`
	// LagSeconds is how far the checkpoint is behind the source.
	LagSeconds float64 `json:"lag_seconds"`
	// Behind counts the source's transactions not yet checkpointed.
	Behind uint64 `json:"behind"`
}

// Check implements Gate.
func (c CDCGate) Check(ctx context.Context, g WriteGroupConfig) error {
	g = g.withDefaults()
	if g.CDCStatus == "" {
		return nil
	}
	cl := c.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.CDCStatus, nil)
	if err != nil {
		return fmt.Errorf("%w: cdc_status %q: %w", ErrGateClosed, g.CDCStatus, err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("%w: the cdc's status cannot be read (is strangler cdc run up?): %w", ErrGateClosed, err)
	}
	defer resp.Body.Close()
	var st CDCStatus
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: the cdc's status answered %s", ErrGateClosed, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("%w: the cdc's status is not JSON: %w", ErrGateClosed, err)
	}
	if !st.Leading {
		return fmt.Errorf("%w: the cdc at %s does not hold the lease (no cdc is delivering)", ErrGateClosed, g.CDCStatus)
	}
	lag := time.Duration(st.LagSeconds * float64(time.Second))
	if lag > g.MaxCDCLag {
		return fmt.Errorf("%w: the cdc is %s (%d transactions) behind legacy, over max_cdc_lag %s of write group %s; retry once it caught up",
			ErrGateClosed, lag.Round(time.Millisecond), st.Behind, g.MaxCDCLag, g.Name)
	}
	return nil
}
