package shadow

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Pseudo-fields for what is not a JSON leaf.
const (
	fieldStatus = "(status)" // the status code
	fieldBody   = "(body)"   // a body that is not JSON, compared as bytes
	fieldRoot   = "(root)"   // a JSON body that is a bare scalar
	absent      = "(absent)" // sample value of a field one side lacks
)

// maxSampleBytes bounds a sample value.
const maxSampleBytes = 256

// answer is one backend's status and body.
type answer struct {
	status int
	body   []byte
}

// difference is one field on which two answers disagree. field has array
// indices written as `*` (the reporting key); path is the concrete path.
type difference struct {
	field, path string
	a, b        string
}

// differ compares two answers field by field, leaving out ignored paths. It
// holds no mutable state: one value serves every worker. The zero value
// ignores nothing.
type differ struct {
	ignore [][]string // patterns split on "."
}

func newDiffer(ignore []string) *differ {
	d := &differ{}
	for _, p := range ignore {
		d.ignore = append(d.ignore, strings.Split(p, "."))
	}
	return d
}

// diff lists the fields on which a and b disagree, sorted by path: the
// status code, then either the JSON leaves of both bodies (when both are
// JSON) or the bodies as bytes.
func (d *differ) diff(a, b answer) []difference {
	var out []difference
	if a.status != b.status {
		out = append(out, difference{field: fieldStatus, path: fieldStatus, a: strconv.Itoa(a.status), b: strconv.Itoa(b.status)})
	}
	ja, errA := d.flatten(a.body)
	jb, errB := d.flatten(b.body)
	if errA != nil || errB != nil {
		if !bytes.Equal(a.body, b.body) {
			out = append(out, difference{field: fieldBody, path: fieldBody, a: clip(string(a.body)), b: clip(string(b.body))})
		}
		return out
	}
	paths := slices.Sorted(maps.Keys(ja))
	for p := range jb {
		if _, ok := ja[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	for _, p := range paths {
		la, okA := ja[p]
		lb, okB := jb[p]
		if okA && okB && equalLeaf(la.value, lb.value) {
			continue
		}
		field := la.field
		if !okA {
			field = lb.field
		}
		out = append(out, difference{field: field, path: p, a: la.text(okA), b: lb.text(okB)})
	}
	return out
}

// leaf is one JSON scalar (or empty object or array) and its normalised field name.
type leaf struct {
	field string
	value any
}

func (l leaf) text(present bool) string {
	if !present {
		return absent
	}
	b, err := json.Marshal(l.value)
	if err != nil {
		return "?"
	}
	return clip(string(b))
}

var errNotJSON = errors.New("not a single JSON value")

// flatten decodes body into concrete path -> leaf, arrays by index, without
// the ignored paths. It fails when body is not exactly one JSON value.
func (d *differ) flatten(body []byte) (map[string]leaf, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errNotJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotJSON
	}
	out := map[string]leaf{}
	d.walk(v, nil, nil, out)
	return out, nil
}

// walk adds v's leaves under the concrete path segments and the field
// segments (indices as `*`).
func (d *differ) walk(v any, path, field []string, out map[string]leaf) {
	if d.ignored(path) {
		return
	}
	switch t := v.(type) {
	case map[string]any:
		if len(t) > 0 {
			for k, c := range t {
				d.walk(c, append(slices.Clip(path), k), append(slices.Clip(field), k), out)
			}
			return
		}
	case []any:
		if len(t) > 0 {
			for i, c := range t {
				d.walk(c, append(slices.Clip(path), strconv.Itoa(i)), append(slices.Clip(field), "*"), out)
			}
			return
		}
	}
	p, f := strings.Join(path, "."), strings.Join(field, ".")
	if p == "" {
		p, f = fieldRoot, fieldRoot
	}
	out[p] = leaf{field: f, value: v}
}

// ignored reports whether an ignore pattern matches path or one of its parents.
func (d *differ) ignored(path []string) bool {
	for _, pat := range d.ignore {
		if len(pat) > len(path) {
			continue
		}
		match := true
		for i, seg := range pat {
			if seg != "*" && seg != path[i] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// equalLeaf compares two decoded JSON leaves; numbers compare by value
// (1 equals 1.0), empty objects and arrays by kind.
func equalLeaf(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		fx, errX := x.Float64()
		fy, errY := y.Float64()
		return errX == nil && errY == nil && fx == fy
	case map[string]any:
		_, ok := b.(map[string]any)
		return ok // walk only keeps empty objects as leaves
	case []any:
		_, ok := b.([]any)
		return ok
	default:
		return a == b // string, bool or nil
	}
}

// clip shortens s to maxSampleBytes.
func clip(s string) string {
	if len(s) <= maxSampleBytes {
		return s
	}
	return s[:maxSampleBytes] + "…"
}
