package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// Mode is how a route splits its traffic.
type Mode string

// The modes of a route.
const (
	// ModeLegacy sends everything to legacy.
	ModeLegacy Mode = "legacy"
	// ModeShadow answers from legacy and mirrors a copy to new for comparison.
	ModeShadow Mode = "shadow"
	// ModeCanary sends the keys whose sticky bucket is below weight*100 to new.
	ModeCanary Mode = "canary"
	// ModeNew sends everything to new.
	ModeNew Mode = "new"
)

// ParseMode parses a mode; the empty string is legacy.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeLegacy, nil
	case ModeLegacy, ModeShadow, ModeCanary, ModeNew:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q", s)
}

// Backend names one of the two services behind the proxy.
type Backend string

// The two backends.
const (
	BackendLegacy Backend = "legacy"
	BackendNew    Backend = "new"
)

// ParseBackend parses "legacy" or "new".
func ParseBackend(s string) (Backend, bool) {
	switch b := Backend(strings.ToLower(strings.TrimSpace(s))); b {
	case BackendLegacy, BackendNew:
		return b, true
	}
	return "", false
}

// maxParams bounds the path parameters of one pattern.
const maxParams = 4

// pattern is a compiled "METHOD /path/{param}" route pattern.
type pattern struct {
	method string
	segs   []segment
}

type segment struct {
	lit   string // literal segment, when param is empty
	param string // parameter name
	rest  bool   // {param...}: matches the rest of the path
}

func parsePattern(s string) (pattern, error) {
	method, path, ok := strings.Cut(strings.TrimSpace(s), " ")
	path = strings.TrimSpace(path)
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		return pattern{}, fmt.Errorf("want METHOD /path")
	}
	if method != strings.ToUpper(method) {
		return pattern{}, fmt.Errorf("method %q must be upper case", method)
	}
	p := pattern{method: method}
	params := 0
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, part := range parts {
		if strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}") {
			name := part[1 : len(part)-1]
			rest := strings.HasSuffix(name, "...")
			name = strings.TrimSuffix(name, "...")
			if !validName(name) {
				return pattern{}, fmt.Errorf("bad parameter %q", part)
			}
			if rest && i != len(parts)-1 {
				return pattern{}, fmt.Errorf("{%s...} must be the last segment", name)
			}
			if params++; params > maxParams {
				return pattern{}, fmt.Errorf("more than %d parameters", maxParams)
			}
			p.segs = append(p.segs, segment{param: name, rest: rest})
			continue
		}
		if strings.ContainsAny(part, "{}") {
			return pattern{}, fmt.Errorf("segment %q mixes a literal and a parameter", part)
		}
		p.segs = append(p.segs, segment{lit: part})
	}
	return p, nil
}

// params are the path parameters of one match, without allocation.
type params struct {
	n     int
	names [maxParams]string
	vals  [maxParams]string
}

func (p *params) get(name string) string {
	for i := range p.n {
		if p.names[i] == name {
			return p.vals[i]
		}
	}
	return ""
}

// match reports whether method and path match p, filling ps.
func (p *pattern) match(method, path string, ps *params) bool {
	if method != p.method && !(p.method == http.MethodGet && method == http.MethodHead) {
		return false
	}
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	rest := path[1:]
	ps.n = 0
	for i, s := range p.segs {
		if s.rest {
			ps.names[ps.n], ps.vals[ps.n] = s.param, rest
			ps.n++
			return true
		}
		seg, tail, more := strings.Cut(rest, "/")
		if s.param != "" {
			if seg == "" {
				return false
			}
			ps.names[ps.n], ps.vals[ps.n] = s.param, seg
			ps.n++
		} else if seg != s.lit {
			return false
		}
		last := i == len(p.segs)-1
		if last {
			return !more
		}
		if !more {
			return false
		}
		rest = tail
	}
	return false
}

// keyKind is where a sticky key comes from.
type keyKind int

const (
	keyQuery keyKind = iota
	keyHeader
	keyPath
	keyBody
	keyAPIKey
)

// keySource says where one route's sticky key comes from.
type keySource struct {
	kind keyKind
	name string
	body reflect.Type // keyBody: struct{ V json.RawMessage `json:"<name>"` }
}

func parseKeySource(s string) (keySource, error) {
	if s == "apikey" {
		return keySource{kind: keyAPIKey}, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return keySource{}, fmt.Errorf("want kind:name")
	}
	switch kind {
	case "header":
		return keySource{kind: keyHeader, name: http.CanonicalHeaderKey(name)}, nil
	case "query":
		return keySource{kind: keyQuery, name: name}, nil
	case "path":
		return keySource{kind: keyPath, name: name}, nil
	case "body":
		if !validName(name) || name == "-" {
			return keySource{}, fmt.Errorf("body field %q: want letters, digits, '-' and '_'", name)
		}
		return bodyKey(name), nil
	}
	return keySource{}, fmt.Errorf("unknown kind %q", kind)
}

// defaultKeySource is body:customer_id for methods with a body, else
// query:customer_id.
func defaultKeySource(method string) keySource {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return bodyKey("customer_id")
	}
	return keySource{kind: keyQuery, name: "customer_id"}
}

func (k keySource) String() string {
	switch k.kind {
	case keyHeader:
		return "header:" + k.name
	case keyPath:
		return "path:" + k.name
	case keyBody:
		return "body:" + k.name
	case keyAPIKey:
		return "apikey"
	}
	return "query:" + k.name
}

// extract returns the sticky key of r, falling back to the API key when the
// configured source is empty. body is the buffered request body, when the
// source is keyBody.
func (k keySource) extract(r *http.Request, ps *params, body []byte) string {
	var v string
	switch k.kind {
	case keyQuery:
		v = queryValue(r.URL.RawQuery, k.name)
	case keyHeader:
		v = r.Header.Get(k.name)
	case keyPath:
		v = ps.get(k.name)
	case keyBody:
		v = jsonField(body, k.body)
	}
	if v == "" {
		v = apiKey(r)
	}
	return v
}

// apiKey returns the bearer token of r.
func apiKey(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return a[7:]
	}
	return a
}

// queryValue returns the first value of name in a raw query as the
// backends read it: net/url's Query (url.ParseQuery), which drops a pair
// that does not unescape or holds a ';'. (httputil.ReverseProxy re-encodes
// such a query from the same parse, so the backend sees the same values.)
func queryValue(raw, name string) string {
	v, _ := url.ParseQuery(raw)
	return v.Get(name)
}

// bodyKey is the sticky key source of a JSON body's top-level field name.
// It is read into a struct whose one field is tagged with name, so that
// encoding/json matches it exactly as it matches the backends' request
// structs (order.CreateRequest): exact or case-insensitive key, the last
// match winning.
func bodyKey(name string) keySource {
	t := reflect.StructOf([]reflect.StructField{{
		Name: "V", Type: reflect.TypeFor[json.RawMessage](), Tag: reflect.StructTag(`json:"` + name + `"`),
	}})
	return keySource{kind: keyBody, name: name, body: t}
}

// jsonField returns the field of a JSON object that t (see bodyKey) reads:
// a string's value, any other value's JSON text, or "" when body is not a
// JSON object, lacks the field or holds null there.
func jsonField(body []byte, t reflect.Type) string {
	if len(body) == 0 {
		return ""
	}
	v := reflect.New(t)
	if err := json.Unmarshal(body, v.Interface()); err != nil {
		return ""
	}
	raw := v.Elem().Field(0).Bytes()
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(raw)
}

// RouteState is the switchable part of a route: its mode and weight, with
// who set them last and why. It is a plain value and may be copied.
type RouteState struct {
	Mode    Mode    `json:"mode"`
	Weight  float64 `json:"weight"`
	Version int64   `json:"version"`
	// UpdatedAt, Actor and Reason describe the last change.
	UpdatedAt string `json:"updated_at,omitempty"`
	Actor     string `json:"actor,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// FileMode and FileWeight are what configs/proxy.yaml said when the
	// state was set: a persisted state wins over the file until the file
	// changes that route's mode or weight.
	FileMode   Mode    `json:"file_mode,omitempty"`
	FileWeight float64 `json:"file_weight"`
	// LastNew is when the route last stopped sending requests to new (RFC
	// 3339), or "" when it never did: until a pin's TTL past it, a key of
	// this route may be pinned to new.
	LastNew string `json:"last_new,omitempty"`
	// PrevShare is the share of buckets on new (0-100) before this change:
	// a write group holds the writes of orders the change moved until they
	// settled (WriteGroupConfig.Settle).
	PrevShare float64 `json:"prev_share"`
}

// SendsNew reports whether the state sends any request to new.
func (s RouteState) SendsNew() bool {
	return s.Mode == ModeNew || (s.Mode == ModeCanary && s.Weight > 0)
}

// Route is one compiled route of a Table. It is immutable once built and
// shared by every request that matches it; never copy one.
type Route struct {
	cfg       RouteConfig
	pat       pattern
	key       keySource
	state     RouteState
	threshold int
	// group is the write group the route moves with, or nil.
	group *group
	// obs records this route's figures (shared across tables by route name).
	obs *routeObs
}

// Name returns the route's name.
func (r *Route) Name() string { return r.cfg.Name }

// State returns the route's mode and weight.
func (r *Route) State() RouteState { return r.state }

// toNew reports whether key's bucket is below the route's weight.
func (r *Route) toNew(key string) bool { return Bucket(key) < r.threshold }

// Table is an immutable routing table: the routes of the file with their
// current states. A change builds a new Table and swaps it in atomically, so
// a request sees one table from start to end.
type Table struct {
	routes    []*Route
	byName    map[string]*Route
	groups    map[string]*group
	unmatched *Route
	// dryRun are the routes' shadow dry-run headers (canonical names), which
	// a client may not send.
	dryRun []string
}

// match returns the first route matching method and path, or the unmatched
// route (always legacy).
func (t *Table) match(method, path string, ps *params) *Route {
	for _, r := range t.routes {
		if r.pat.match(method, path, ps) {
			return r
		}
	}
	ps.n = 0
	return t.unmatched
}

// Route returns the route named name.
func (t *Table) Route(name string) (*Route, bool) {
	r, ok := t.byName[name]
	return r, ok
}

// Group returns the write group named name.
func (t *Table) Group(name string) (WriteGroupConfig, bool) {
	g, ok := t.groups[name]
	if !ok {
		return WriteGroupConfig{}, false
	}
	return g.cfg, true
}

// Routes returns the routes in match order.
func (t *Table) Routes() []*Route { return t.routes }

// unmatchedRoute names the pseudo route of requests that match no route.
const unmatchedRoute = "unmatched"

// buildTable compiles routes and write groups with states (a missing state
// means the file's mode and weight; a group's members take the group's).
// obsFor returns the shared observer of a route name.
func buildTable(routes []RouteConfig, groups []WriteGroupConfig, states map[string]RouteState, obsFor func(string) *routeObs) (*Table, error) {
	t := &Table{byName: map[string]*Route{}, groups: map[string]*group{}}
	memberOf := map[string]*group{}
	for _, gc := range groups {
		gc = gc.withDefaults()
		st, ok := states[gc.Name]
		if !ok {
			st = fileState(RouteConfig{Mode: gc.Mode, Weight: gc.Weight})
		}
		g := &group{cfg: gc, members: gc.Routes, prevThreshold: Threshold(st.PrevShare)}
		if at, err := time.Parse(time.RFC3339Nano, st.UpdatedAt); err == nil && st.Version > 0 {
			g.settleUntil = at.Add(gc.Settle)
		}
		t.groups[gc.Name] = g
		for _, r := range gc.Routes {
			memberOf[r] = g
		}
	}
	for _, rc := range routes {
		p, err := parsePattern(rc.Match)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", rc.Name, err)
		}
		key := defaultKeySource(p.method)
		if rc.Sticky != "" {
			if key, err = parseKeySource(rc.Sticky); err != nil {
				return nil, fmt.Errorf("route %s: sticky: %w", rc.Name, err)
			}
		}
		name, g := rc.Name, memberOf[rc.Name]
		if g != nil {
			name = g.cfg.Name
		}
		st, ok := states[name]
		if !ok && g != nil {
			st = fileState(RouteConfig{Mode: g.cfg.Mode, Weight: g.cfg.Weight})
		} else if !ok {
			st = fileState(rc)
		}
		r := &Route{cfg: rc, pat: p, key: key, state: st, threshold: Threshold(st.Weight), group: g, obs: obsFor(rc.Name)}
		if rc.Shadow != nil && rc.Shadow.DryRunHeader != "" {
			t.dryRun = append(t.dryRun, http.CanonicalHeaderKey(rc.Shadow.DryRunHeader))
		}
		t.routes = append(t.routes, r)
		t.byName[rc.Name] = r
	}
	t.unmatched = &Route{cfg: RouteConfig{Name: unmatchedRoute, Mode: ModeLegacy}, state: RouteState{Mode: ModeLegacy}, obs: obsFor(unmatchedRoute)}
	return t, nil
}

// fileState is the state configs/proxy.yaml gives a route.
func fileState(rc RouteConfig) RouteState {
	m, _ := ParseMode(string(rc.Mode))
	return RouteState{Mode: m, Weight: rc.Weight, FileMode: m, FileWeight: rc.Weight, Actor: "config-file"}
}
