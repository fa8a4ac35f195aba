package cfn

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// tmpl is a template as plain JSON values, which the checks read.
type tmpl struct {
	Parameters map[string]any
	Resources  map[string]resource
	Outputs    map[string]any
}

type resource struct {
	Type       string
	Properties map[string]any
	DependsOn  any
}

// Check runs the project's checks on a template's JSON and returns what is
// wrong, one error per finding (none: the template passes).
func Check(raw []byte) []error {
	var t tmpl
	if err := json.Unmarshal(raw, &t); err != nil {
		return []error{fmt.Errorf("the template is not JSON: %w", err)}
	}
	var errs []error
	errs = append(errs, t.checkRefs()...)
	errs = append(errs, t.checkLogs()...)
	errs = append(errs, t.checkQueues()...)
	errs = append(errs, t.checkPublic()...)
	errs = append(errs, t.checkIAM()...)
	return errs
}

// visit calls fn on every value under v, depth first.
func visit(v any, fn func(any)) {
	fn(v)
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			visit(e, fn)
		}
	case []any:
		for _, e := range x {
			visit(e, fn)
		}
	}
}

var subRe = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

// checkRefs: every Ref, GetAtt, Sub variable and DependsOn names a
// resource or parameter (or a pseudo parameter).
func (t tmpl) checkRefs() []error {
	var errs []error
	known := func(name string, attr bool) bool {
		if strings.HasPrefix(name, "AWS::") {
			return !attr
		}
		_, res := t.Resources[name]
		_, par := t.Parameters[name]
		return res || (par && !attr)
	}
	check := func(where, name string, attr bool) {
		if !known(name, attr) {
			errs = append(errs, fmt.Errorf("%s refers to %s, which the template does not define", where, name))
		}
	}
	scan := func(where string, v any) {
		visit(v, func(x any) {
			m, ok := x.(map[string]any)
			if !ok || len(m) != 1 {
				return
			}
			switch {
			case m["Ref"] != nil:
				check(where, fmt.Sprint(m["Ref"]), false)
			case m["Fn::GetAtt"] != nil:
				if l, ok := m["Fn::GetAtt"].([]any); ok && len(l) == 2 {
					check(where, fmt.Sprint(l[0]), true)
				} else {
					errs = append(errs, fmt.Errorf("%s: Fn::GetAtt %v is not [resource, attribute]", where, m["Fn::GetAtt"]))
				}
			case m["Fn::Sub"] != nil:
				s, _ := m["Fn::Sub"].(string)
				for _, g := range subRe.FindAllStringSubmatch(s, -1) {
					name, _, attr := strings.Cut(g[1], ".")
					check(where, name, attr)
				}
			}
		})
	}
	for name, r := range t.Resources {
		scan("resource "+name, r.Properties)
		deps := []string{}
		switch d := r.DependsOn.(type) {
		case string:
			deps = append(deps, d)
		case []any:
			for _, e := range d {
				deps = append(deps, fmt.Sprint(e))
			}
		}
		for _, d := range deps {
			check("resource "+name+" DependsOn", d, false)
		}
	}
	for name, o := range t.Outputs {
		scan("output "+name, o)
	}
	return errs
}

// refTo returns the logical id v refers to ({"Ref": x} or
// {"Fn::GetAtt": [x, ...]}), or "".
func refTo(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if r, ok := m["Ref"].(string); ok {
		return r
	}
	if l, ok := m["Fn::GetAtt"].([]any); ok && len(l) == 2 {
		return fmt.Sprint(l[0])
	}
	return ""
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// checkLogs: every function logs to a log group of the template that has
// a retention.
func (t tmpl) checkLogs() []error {
	var errs []error
	for name, r := range t.Resources {
		if r.Type != "AWS::Lambda::Function" {
			continue
		}
		lg := refTo(dig(r.Properties, "LoggingConfig", "LogGroup"))
		g, ok := t.Resources[lg]
		switch {
		case lg == "" || !ok || g.Type != "AWS::Logs::LogGroup":
			errs = append(errs, fmt.Errorf("function %s has no log group of the template (LoggingConfig.LogGroup)", name))
		case g.Properties["RetentionInDays"] == nil:
			errs = append(errs, fmt.Errorf("function %s's log group %s keeps logs forever (no RetentionInDays)", name, lg))
		}
	}
	return errs
}
