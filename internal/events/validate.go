package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
)

// ValidateDetail checks an encoded Detail against Schema. It understands
// the part of JSON Schema that detail.schema.json uses (type, required,
// properties, additionalProperties false, pattern, items), which keeps the
// schema file the one definition without a validator dependency.
func ValidateDetail(detail []byte) error {
	var schema, doc any
	if err := json.Unmarshal(Schema, &schema); err != nil {
		return fmt.Errorf("reading detail.schema.json: %w", err)
	}
	dec := json.NewDecoder(bytesReader(detail))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("detail is not JSON: %w", err)
	}
	return check(schema.(map[string]any), doc, "detail")
}

func check(s map[string]any, v any, path string) error {
	if t, ok := s["type"]; ok {
		var kinds []string
		switch tt := t.(type) {
		case string:
			kinds = []string{tt}
		case []any:
			for _, k := range tt {
				kinds = append(kinds, k.(string))
			}
		}
		if !slices.Contains(kinds, kindOf(v)) && !(kindOf(v) == "integer" && slices.Contains(kinds, "number")) {
			return fmt.Errorf("%s: %s, want %v", path, kindOf(v), kinds)
		}
	}
	if p, ok := s["pattern"].(string); ok {
		str, _ := v.(string)
		if !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", path, str, p)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: required %q missing", path, r)
			}
		}
		for k, e := range obj {
			ps, known := props[k].(map[string]any)
			if !known {
				if s["additionalProperties"] == false {
					return fmt.Errorf("%s: property %q not allowed", path, k)
				}
				continue
			}
			if err := check(ps, e, path+"."+k); err != nil {
				return err
			}
		}
	}
	if list, ok := v.([]any); ok {
		if is, ok := s["items"].(map[string]any); ok {
			for i, e := range list {
				if err := check(is, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func kindOf(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if _, err := t.Int64(); err == nil {
			return "integer"
		}
		if _, err := fmt.Sscan(t.String(), new(uint64)); err == nil {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
