package awsiam

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Logical resources of the template a grant names (internal/cfn's Res*).
const (
	OrdersTable  = "orders-table"
	OrdersIndex  = "orders-index"
	ServiceTable = "service-table"
	ControlTable = "control-table"
	Bus          = "bus"
)

// Grant is one permission a part needs: an IAM action on a logical
// resource of the template.
type Grant struct {
	Part     string `json:"part"`
	Action   string `json:"action"`
	Resource string `json:"resource"`
}

// Observed is observed.json: the grants merged from the recordings.
type Observed struct {
	Comment string  `json:"comment"`
	Grants  []Grant `json:"grants"`
}

//go:embed observed.json
var observedJSON []byte

// Load returns the checked-in observations.
func Load() (Observed, error) {
	var o Observed
	if err := json.Unmarshal(observedJSON, &o); err != nil {
		return o, fmt.Errorf("internal/awsiam/observed.json: %w", err)
	}
	return o, nil
}

// Of returns part's grants.
func (o Observed) Of(part string) []Grant {
	var out []Grant
	for _, g := range o.Grants {
		if g.Part == part {
			out = append(out, g)
		}
	}
	return out
}

// testTable is a table name of stacktest.TableName: <prefix>_<test>_<8 hex>.
var testTable = regexp.MustCompile(`^[a-z0-9_]+_[0-9a-f]{8}$`)

// tableRoles maps a table name, or the prefix of a test's table, to the
// template's table. The suites name their tables by the role the table
// plays (the proxy's tests call their control table "proxy").
var tableRoles = map[string]string{
	"orders": OrdersTable, "svc": ServiceTable, "orders_service": ServiceTable,
	"control": ControlTable, "strangler_control": ControlTable, "proxy": ControlTable, "lease": ControlTable,
	"cdc_orders": OrdersTable, "cdc_control": ControlTable,
}

// roleOf is the template's table of a configured table name, or of a
// test's table by the longest known prefix.
func roleOf(table string) (string, bool) {
	if role, ok := tableRoles[table]; ok {
		return role, true
	}
	if !testTable.MatchString(table) {
		return "", false
	}
	best, role := "", ""
	for prefix, r := range tableRoles {
		if strings.HasPrefix(table, prefix+"_") && len(prefix) > len(best) {
			best, role = prefix, r
		}
	}
	return role, best != ""
}

// ignoredTables are tables tests make on purpose to see a part refuse
// them (a wrong key schema, a table that never exists): not resources a
// deployment has.
var ignoredTables = []string{"wrongkey", "never_created"}

// Logical maps a recorded resource to the template's, or "" for a test's
// deliberately wrong table; an unknown one is an error naming it.
func Logical(res string) (string, error) {
	if strings.HasPrefix(res, "event-bus/") {
		return Bus, nil
	}
	rest, ok := strings.CutPrefix(res, "table/")
	if !ok {
		return "", fmt.Errorf("resource %q: not a table, index or bus (a call on every resource, like ListTables, has no place in a least-privilege policy)", res)
	}
	table, index, isIndex := strings.Cut(rest, "/index/")
	for _, ig := range ignoredTables {
		if strings.HasPrefix(table, ig) {
			return "", nil
		}
	}
	role, ok := roleOf(table)
	switch {
	case !ok:
		return "", fmt.Errorf("table %q: which of the template's tables is it? Name it in awsiam's tableRoles", table)
	case isIndex && role == OrdersTable && index != "":
		return OrdersIndex, nil
	case isIndex:
		return "", fmt.Errorf("index %q of %s: the template has no such index", index, table)
	}
	return role, nil
}

// Merge reads the recordings (*.jsonl) in dirs into sorted, unique grants.
func Merge(dirs ...string) ([]Grant, error) {
	set := map[Grant]bool{}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := mergeFile(f, set); err != nil {
				return nil, err
			}
		}
	}
	out := make([]Grant, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b Grant) int {
		return strings.Compare(a.Part+"\x00"+a.Action+"\x00"+a.Resource, b.Part+"\x00"+b.Action+"\x00"+b.Resource)
	})
	return out, nil
}

func mergeFile(path string, set map[Grant]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var c Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		res, err := Logical(c.Resource)
		if err != nil {
			return fmt.Errorf("%s:%d (%s %s): %w", path, n, c.Part, c.Action, err)
		}
		if res != "" {
			set[Grant{Part: c.Part, Action: c.Action, Resource: res}] = true
		}
	}
	return sc.Err()
}

// Markdown is the runbook's IAM table of grants: one row per part and
// action, with the resources.
func Markdown(grants []Grant, runsAs map[string]string, parts []string) string {
	var sb strings.Builder
	sb.WriteString("| part | runs as | IAM action | resources |\n| --- | --- | --- | --- |\n")
	for _, part := range parts {
		byAction := map[string][]string{}
		var actions []string
		for _, g := range grants {
			if g.Part != part {
				continue
			}
			if byAction[g.Action] == nil {
				actions = append(actions, g.Action)
			}
			byAction[g.Action] = append(byAction[g.Action], g.Resource)
		}
		slices.Sort(actions)
		for _, a := range actions {
			res := slices.Compact(slices.Sorted(slices.Values(byAction[a])))
			fmt.Fprintf(&sb, "| %s | %s | `%s` | %s |\n", part, runsAs[part], a, strings.Join(res, ", "))
		}
	}
	return sb.String()
}

// Encode is observed.json for grants, one grant a line (so a change
// reads as a line in a diff).
func Encode(grants []Grant) ([]byte, error) {
	var sb strings.Builder
	sb.WriteString("{\n  \"comment\": \"Generated by `strangler aws iam-merge` from the recordings of scripts/iam-observe.sh; do not edit. docs/aws.md says how.\",\n  \"grants\": [\n")
	for i, g := range grants {
		b, err := json.Marshal(g)
		if err != nil {
			return nil, err
		}
		sb.WriteString("    ")
		sb.Write(b)
		if i < len(grants)-1 {
			sb.WriteString(",")
		}
		sb.WriteString("\n")
	}
	sb.WriteString("  ]\n}\n")
	return []byte(sb.String()), nil
}
