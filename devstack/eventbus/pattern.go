package eventbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"quamina.net/go/quamina"
)

// ErrUnsupportedPattern is an EventBridge pattern kind that quamina v1.5.1
// cannot evaluate. The bus refuses such a rule rather than match it wrongly.
var ErrUnsupportedPattern = errors.New("pattern kind not supported by this bus")

// ErrInvalidPattern is a pattern that is not a valid EventBridge event pattern.
var ErrInvalidPattern = errors.New("invalid event pattern")

// Pattern is a checked EventBridge event pattern in the form quamina takes.
// The zero value matches nothing and is not usable; make one with
// CompilePattern. It may be copied.
type Pattern struct {
	json string
}

// String returns the pattern as quamina gets it (normalised JSON).
func (p Pattern) String() string { return p.json }

// supportedKinds are the extended patterns quamina v1.5.1 evaluates with
// EventBridge's meaning.
var supportedKinds = map[string]bool{
	"prefix": true, "anything-but": true, "exists": true, "equals-ignore-case": true, "wildcard": true,
}

// unsupportedKinds are EventBridge pattern kinds quamina v1.5.1 lacks, with
// what to do instead.
var unsupportedKinds = map[string]string{
	"numeric":    "numeric ranges are not supported; match exact numbers instead",
	"suffix":     `suffix is not supported; use {"wildcard": "*<suffix>"}`,
	"cidr":       "cidr (IP address ranges) is not supported",
	"shellstyle": `shellstyle is quamina's own, not EventBridge's; use {"wildcard": …}`,
}

// CompilePattern checks src, an EventBridge event pattern in JSON, and
// returns it ready for quamina. It refuses the kinds quamina v1.5.1 cannot
// evaluate ($or, numeric, suffix, cidr, anything-but with numbers or a
// nested kind, prefix with equals-ignore-case) with an error wrapping
// ErrUnsupportedPattern, and malformed patterns with ErrInvalidPattern.
// A bare string under anything-but is normalised to a one-element list,
// as EventBridge allows.
func CompilePattern(src string) (Pattern, error) {
	dec := json.NewDecoder(strings.NewReader(src))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return Pattern{}, fmt.Errorf("%w: not JSON: %w", ErrInvalidPattern, err)
	}
	if dec.More() {
		return Pattern{}, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidPattern)
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return Pattern{}, fmt.Errorf("%w: must be a JSON object", ErrInvalidPattern)
	}
	if len(obj) == 0 {
		return Pattern{}, fmt.Errorf("%w: must not be empty", ErrInvalidPattern)
	}
	if err := checkObject(obj, ""); err != nil {
		return Pattern{}, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return Pattern{}, fmt.Errorf("%w: %w", ErrInvalidPattern, err)
	}
	p := Pattern{json: strings.TrimSpace(buf.String())}
	// Let quamina have the last word on anything the walk above let through.
	q, err := quamina.New()
	if err != nil {
		return Pattern{}, fmt.Errorf("building matcher: %w", err)
	}
	if err := q.AddPattern(0, p.json); err != nil {
		return Pattern{}, fmt.Errorf("%w: %w", ErrInvalidPattern, err)
	}
	return p, nil
}

func checkObject(obj map[string]any, path string) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := k
		if path != "" {
			p = path + "." + k
		}
		if k == "$or" {
			return fmt.Errorf("%w: %s: $or is not supported; write one rule per alternative", ErrUnsupportedPattern, p)
		}
		switch v := obj[k].(type) {
		case map[string]any:
			if len(v) == 0 {
				return fmt.Errorf("%w: %s: an empty object matches nothing", ErrInvalidPattern, p)
			}
			if err := checkObject(v, p); err != nil {
				return err
			}
		case []any:
			if err := checkList(v, p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: %s: a value must be a list, like [%s]", ErrInvalidPattern, p, jsonText(v))
		}
	}
	return nil
}

func checkList(list []any, path string) error {
	if len(list) == 0 {
		return fmt.Errorf("%w: %s: an empty list matches nothing", ErrInvalidPattern, path)
	}
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			if _, nested := el.([]any); nested {
				return fmt.Errorf("%w: %s[%d]: lists cannot nest", ErrInvalidPattern, path, i)
			}
			continue // string, number, true, false, null: exact match
		}
		if len(m) != 1 {
			return fmt.Errorf("%w: %s[%d]: a pattern object holds exactly one kind, like {\"prefix\": \"x\"}", ErrInvalidPattern, path, i)
		}
		for kind, arg := range m {
			if why, bad := unsupportedKinds[kind]; bad {
				return fmt.Errorf("%w: %s[%d]: %s", ErrUnsupportedPattern, path, i, why)
			}
			if !supportedKinds[kind] {
				return fmt.Errorf("%w: %s[%d]: unknown pattern kind %q", ErrInvalidPattern, path, i, kind)
			}
			if err := checkKind(m, kind, arg, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkKind checks the argument of one extended pattern, normalising a
// bare anything-but string in m.
func checkKind(m map[string]any, kind string, arg any, path string) error {
	switch kind {
	case "prefix", "wildcard", "equals-ignore-case":
		if _, ok := arg.(string); ok {
			return nil
		}
		if _, ok := arg.(map[string]any); ok {
			return fmt.Errorf("%w: %s: %s with a nested kind (like equals-ignore-case) is not supported", ErrUnsupportedPattern, path, kind)
		}
		return fmt.Errorf("%w: %s: %s takes a string", ErrInvalidPattern, path, kind)
	case "exists":
		if _, ok := arg.(bool); !ok {
			return fmt.Errorf("%w: %s: exists takes true or false", ErrInvalidPattern, path)
		}
		return nil
	case "anything-but":
		switch a := arg.(type) {
		case string:
			m[kind] = []any{a}
			return nil
		case []any:
			if len(a) == 0 {
				return fmt.Errorf("%w: %s: anything-but needs at least one value", ErrInvalidPattern, path)
			}
			for _, v := range a {
				if _, ok := v.(string); !ok {
					return fmt.Errorf("%w: %s: anything-but with %s: only strings are supported", ErrUnsupportedPattern, path, jsonText(v))
				}
			}
			return nil
		case map[string]any:
			return fmt.Errorf("%w: %s: anything-but with a nested kind (prefix, suffix, wildcard, equals-ignore-case) is not supported", ErrUnsupportedPattern, path)
		default:
			return fmt.Errorf("%w: %s: anything-but with %s: only strings are supported", ErrUnsupportedPattern, path, jsonText(a))
		}
	}
	return nil
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
