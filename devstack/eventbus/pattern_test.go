package eventbus_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/devstack/eventbus"
)

func TestCompilePatternRefusesWhatQuaminaCannotEvaluate(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		want    error // nil: accepted
	}{
		{"exact", `{"source":["com.anycompany.orders"],"detail-type":["OrderCreated","OrderCancelled"]}`, nil},
		{"nested exact number", `{"detail":{"order":{"version":[1]}}}`, nil},
		{"prefix", `{"detail":{"order":{"id":[{"prefix":"ord_"}]}}}`, nil},
		{"anything-but list", `{"detail-type":[{"anything-but":["OrderDeleted"]}]}`, nil},
		{"anything-but string", `{"detail-type":[{"anything-but":"OrderDeleted"}]}`, nil},
		{"exists", `{"detail":{"changed":[{"exists":true}]}}`, nil},
		{"equals-ignore-case", `{"detail":{"order":{"channel":[{"equals-ignore-case":"RETAIL"}]}}}`, nil},
		{"wildcard", `{"source":[{"wildcard":"com.anycompany.*"}]}`, nil},
		{"$or", `{"$or":[{"source":["a"]},{"detail-type":["b"]}]}`, eventbus.ErrUnsupportedPattern},
		{"numeric", `{"detail":{"total":[{"numeric":[">",100]}]}}`, eventbus.ErrUnsupportedPattern},
		{"suffix", `{"source":[{"suffix":".orders"}]}`, eventbus.ErrUnsupportedPattern},
		{"cidr", `{"detail":{"ip":[{"cidr":"10.0.0.0/24"}]}}`, eventbus.ErrUnsupportedPattern},
		{"anything-but number", `{"detail":{"n":[{"anything-but":[1,2]}]}}`, eventbus.ErrUnsupportedPattern},
		{"anything-but prefix", `{"source":[{"anything-but":{"prefix":"aws."}}]}`, eventbus.ErrUnsupportedPattern},
		{"prefix ignoring case", `{"source":[{"prefix":{"equals-ignore-case":"COM."}}]}`, eventbus.ErrUnsupportedPattern},
		{"not JSON", `{"source":`, eventbus.ErrInvalidPattern},
		{"not an object", `["a"]`, eventbus.ErrInvalidPattern},
		{"empty", `{}`, eventbus.ErrInvalidPattern},
		{"bare value", `{"source":"com.anycompany.orders"}`, eventbus.ErrInvalidPattern},
		{"empty list", `{"source":[]}`, eventbus.ErrInvalidPattern},
		{"unknown kind", `{"source":[{"regex":"a.*"}]}`, eventbus.ErrInvalidPattern},
		{"two kinds in one object", `{"source":[{"prefix":"a","wildcard":"b*"}]}`, eventbus.ErrInvalidPattern},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eventbus.CompilePattern(tc.pattern)
			if tc.want == nil && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMatcherEvaluatesEventBridgePatterns(t *testing.T) {
	rules := []eventbus.RuleConfig{
		{Name: "created", Bus: "default", Pattern: `{"source":["com.anycompany.orders"],"detail-type":["OrderCreated"]}`},
		{Name: "not-deleted", Bus: "default", Pattern: `{"detail-type":[{"anything-but":"OrderDeleted"}]}`},
		{Name: "new-service-ids", Bus: "default", Pattern: `{"detail":{"order":{"id":[{"prefix":"ord_"}]}}}`},
		{Name: "updates", Bus: "default", Pattern: `{"detail":{"changed":{"status":[{"exists":true}]}}}`},
		{Name: "wholesale", Bus: "default", Pattern: `{"detail":{"order":{"channel":[{"equals-ignore-case":"WHOLESALE"}]}}}`},
		{Name: "any-anycompany", Bus: "default", Pattern: `{"source":[{"wildcard":"com.anycompany.*"}]}`},
		{Name: "other-bus", Bus: "audit", Pattern: `{"source":["com.anycompany.orders"]}`},
	}
	m, err := eventbus.NewMatcher(rules)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		event string
		want  []string
	}{
		{"created retail", `{"source":"com.anycompany.orders","detail-type":"OrderCreated","detail":{"order":{"id":"42","channel":"retail"}}}`,
			[]string{"created", "not-deleted", "any-anycompany"}},
		{"created wholesale new id", `{"source":"com.anycompany.orders","detail-type":"OrderCreated","detail":{"order":{"id":"ord_01","channel":"Wholesale"}}}`,
			[]string{"created", "not-deleted", "new-service-ids", "wholesale", "any-anycompany"}},
		{"status change", `{"source":"com.anycompany.orders","detail-type":"OrderStatusChanged","detail":{"order":{"id":"7"},"changed":{"status":"shipped"}}}`,
			[]string{"not-deleted", "updates", "any-anycompany"}},
		{"deleted", `{"source":"com.anycompany.orders","detail-type":"OrderDeleted","detail":{"order":{"id":"7"}}}`,
			[]string{"any-anycompany"}},
		{"foreign source", `{"source":"com.example.billing","detail-type":"OrderDeleted","detail":{}}`, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idx, err := m.Match("default", []byte(tc.event))
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, i := range idx {
				got = append(got, rules[i].Name)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("matched rules (-want +got):\n%s", d)
			}
		})
	}
	idx, err := m.Match("audit", []byte(`{"source":"com.anycompany.orders","detail-type":"X","detail":{}}`))
	if err != nil || len(idx) != 1 || rules[idx[0]].Name != "other-bus" {
		t.Errorf("audit bus: %v %v", idx, err)
	}
}

func TestConfigRefusesUnsupportedPatternNamingTheRule(t *testing.T) {
	cfg := eventbus.DefaultConfig()
	cfg.Rules = []eventbus.RuleConfig{{
		Name:    "big-orders",
		Pattern: `{"detail":{"order":{"total":[{"numeric":[">",100]}]}}}`,
		Targets: []eventbus.TargetConfig{{URL: "http://127.0.0.1:8091/events"}},
	}}
	err := cfg.Validate()
	if !errors.Is(err, eventbus.ErrUnsupportedPattern) {
		t.Fatalf("err = %v, want ErrUnsupportedPattern", err)
	}
	for _, want := range []string{`"rules[0].pattern"`, `rule "big-orders"`, "numeric"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
