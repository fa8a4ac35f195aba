package awsiam

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/google/go-cmp/cmp"
)

// TestCalls: each element of a transaction is its own action; a query of
// an index is on the index alone; batch writes name their tables; entries
// without a bus are on the default bus; a call naming nothing is on "*".
func TestCalls(t *testing.T) {
	for _, c := range []struct {
		name, action string
		in           any
		want         []Call
	}{
		{"transaction", "dynamodb:TransactWriteItems", &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String("a")}}, {Update: &types.Update{TableName: aws.String("b")}},
			{Delete: &types.Delete{TableName: aws.String("a")}}, {ConditionCheck: &types.ConditionCheck{TableName: aws.String("c")}},
		}}, []Call{{"p", "dynamodb:PutItem", "table/a"}, {"p", "dynamodb:UpdateItem", "table/b"}, {"p", "dynamodb:DeleteItem", "table/a"}, {"p", "dynamodb:ConditionCheckItem", "table/c"}}},
		{"index query", "dynamodb:Query", &dynamodb.QueryInput{TableName: aws.String("o"), IndexName: aws.String("by")}, []Call{{"p", "dynamodb:Query", "table/o/index/by"}}},
		{"batch", "dynamodb:BatchWriteItem", &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"x": nil, "y": nil}},
			[]Call{{"p", "dynamodb:BatchWriteItem", "table/x"}, {"p", "dynamodb:BatchWriteItem", "table/y"}}},
		{"events", "events:PutEvents", &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{}, {EventBusName: aws.String("b")}}},
			[]Call{{"p", "events:PutEvents", "event-bus/b"}, {"p", "events:PutEvents", "event-bus/default"}}},
		{"list", "dynamodb:ListTables", &dynamodb.ListTablesInput{}, []Call{{"p", "dynamodb:ListTables", "*"}}},
	} {
		if diff := cmp.Diff(c.want, Calls("p", c.action, c.in)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

// TestLogical: test tables map to the template's by their prefix, config
// names directly; deliberately wrong tables are dropped; anything else is
// an error naming it.
func TestLogical(t *testing.T) {
	for res, want := range map[string]string{
		"table/orders_testcontract_b45ea92c":                   OrdersTable,
		"table/orders_testcontract_b45ea92c/index/by_customer": OrdersIndex,
		"table/svc_testx_00aa11bb":                             ServiceTable,
		"table/orders_service":                                 ServiceTable,
		"table/proxy_testpins_0123abcd":                        ControlTable,
		"table/wrongkey_testy_0123abcd":                        "",
		"event-bus/default":                                    Bus,
		"table/cdc_orders_teststack_0123abcd":                  OrdersTable,
		"table/cdc_control_teststack_0123abcd":                 ControlTable,
	} {
		got, err := Logical(res)
		if err != nil || got != want {
			t.Errorf("Logical(%q) = %q, %v; want %q", res, got, err, want)
		}
	}
	for _, res := range []string{"*", "table/mystery_testz_0123abcd", "table/svc_testx_00aa11bb/index/i"} {
		if _, err := Logical(res); err == nil {
			t.Errorf("Logical(%q) succeeded", res)
		}
	}
}

// TestRecorder: a call a test's own code makes is not recorded, even in a
// process with a part; a call labelled with a part (as a function's
// handler labels its context) is recorded once, and Merge reads it back
// as a grant; a call on "*" does not merge.
func TestRecorder(t *testing.T) {
	dir := t.TempDir()
	r := NewRecorder(dir, "backfill")
	in := &dynamodb.GetItemInput{TableName: aws.String("orders_testr_0123abcd")}
	r.observe(context.Background(), "dynamodb:GetItem", in)
	if files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl")); len(files) != 0 {
		t.Fatalf("a test's own call was recorded: %v", files)
	}
	for range 2 {
		r.observe(WithPart(context.Background(), "orders"), "dynamodb:GetItem", in)
	}
	got, err := Merge(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Grant{{"orders", "dynamodb:GetItem", OrdersTable}}, got); diff != "" {
		t.Errorf("merged (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte(`{"part":"x","action":"a","resource":"*"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(dir); err == nil {
		t.Error("a call on * merged without complaint")
	}
}

// TestObservedLoads: the checked-in data parses and covers every part.
func TestObservedLoads(t *testing.T) {
	o, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"orders", "processor", "outbox", "cdc", "proxy", "backfill"} {
		if len(o.Of(part)) == 0 {
			t.Errorf("observed.json has no grant of %s: run scripts/iam-observe.sh", part)
		}
	}
}
