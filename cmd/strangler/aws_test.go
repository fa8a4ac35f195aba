package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/awsiam"
	"github.com/anycompany/strangler/internal/cfn"
)

func shippedTemplate(t *testing.T, mutate func(*awsOptions)) ([]byte, error) {
	t.Helper()
	o := awsOptions{configs: filepath.Join("..", "..", "configs"), name: "strangler", proxyReplicas: 2, retentionDays: 30, burst: 200, rate: 100}
	if mutate != nil {
		mutate(&o)
	}
	return awsTemplate(o)
}

// grantOf maps a role statement's resource back to the logical resource
// of a grant.
func grantOf(res any) string {
	b, _ := json.Marshal(res)
	s := string(b)
	switch {
	case strings.Contains(s, `"OrdersTable","Arn"`):
		return cfn.ResOrdersTable
	case strings.Contains(s, "${OrdersTable.Arn}/index/"):
		return cfn.ResOrdersIndex
	case strings.Contains(s, `"ServiceTable","Arn"`):
		return cfn.ResServiceTable
	case strings.Contains(s, `"ControlTable","Arn"`):
		return cfn.ResControlTable
	case strings.Contains(s, `"EventBus","Arn"`):
		return cfn.ResBus
	}
	return s
}

// TestAWSTemplateLeastPrivilege: the template made from the shipped
// configs passes its checks, and each part's role allows exactly the
// recorded calls of internal/awsiam/observed.json — no action missing,
// none extra, every resource named (no *) — and every part was recorded.
func TestAWSTemplateLeastPrivilege(t *testing.T) {
	raw, err := shippedTemplate(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string
			Properties struct {
				Policies []struct {
					PolicyName     string
					PolicyDocument struct {
						Statement []struct {
							Action   []string
							Resource []any
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	obs, err := awsiam.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range cfn.Parts {
		role, ok := tpl.Resources[strings.ToUpper(part[:1])+part[1:]+"Role"]
		if !ok || role.Type != "AWS::IAM::Role" {
			t.Fatalf("no role for %s", part)
		}
		var allowed []awsiam.Grant
		for _, p := range role.Properties.Policies {
			if p.PolicyName != cfn.PolicyObserved {
				continue
			}
			for _, st := range p.PolicyDocument.Statement {
				for _, a := range st.Action {
					for _, r := range st.Resource {
						allowed = append(allowed, awsiam.Grant{Part: part, Action: a, Resource: grantOf(r)})
					}
				}
			}
		}
		want := obs.Of(part)
		if len(want) == 0 {
			t.Errorf("%s: nothing recorded; run scripts/iam-observe.sh", part)
		}
		less := func(a, b awsiam.Grant) int { return strings.Compare(a.Action+a.Resource, b.Action+b.Resource) }
		slices.SortFunc(allowed, less)
		slices.SortFunc(want, less)
		if diff := cmp.Diff(want, allowed); diff != "" {
			t.Errorf("%s: recorded calls (-) and the role's policy (+) differ:\n%s", part, diff)
		}
	}
	counts := map[string]int{}
	var all map[string]map[string]any
	_ = json.Unmarshal(raw, &struct{ Resources *map[string]map[string]any }{&all})
	for _, r := range all {
		counts[fmt.Sprint(r["Type"])]++
	}
	var sb strings.Builder
	for _, typ := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(&sb, "  %-45s %d\n", typ, counts[typ])
	}
	t.Logf("resources by type, %d in all:\n%s", len(all), sb.String())
}

// TestAWSTemplateRefusesDisagreeingConfigs: configs that name two service
// tables cannot make one deployment; the error names both keys.
func TestAWSTemplateRefusesDisagreeingConfigs(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join("..", "..", "configs")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "relay.yaml" {
			b = []byte(strings.Replace(string(b), "table: orders_service", "table: another_service", 1))
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = shippedTemplate(t, func(o *awsOptions) { o.configs = dir })
	if err == nil || !strings.Contains(err.Error(), "relay table vs orders service_table") {
		t.Errorf("got %v, want the disagreement named", err)
	}
}
