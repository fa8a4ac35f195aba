package cfn_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/cfn"
)

// spec is the reference configuration's spec (configs/*.yaml).
func spec() cfn.Spec {
	g := func(part, action, res string) cfn.Grant { return cfn.Grant{Part: part, Action: action, Resource: res} }
	return cfn.Spec{
		Name: "strangler", OrdersTable: "orders", OrdersIndex: "by_customer", IndexPartition: "customer_id", IndexSort: "created_at",
		TTLAttribute: "expires_at", ServiceTable: "orders_service", ControlTable: "strangler_control",
		CDCSource: "com.anycompany.orders", ServiceSource: "com.anycompany.orders.service", OutboxShards: 4,
		Rules: []cfn.Rule{
			{Name: "orders-to-downstream", Pattern: `{"source":["com.anycompany.orders","com.anycompany.orders.service"]}`,
				Targets: []cfn.Target{{Name: "downstream", Username: "strangler-bus", MaxAttempts: 10}}},
			{Name: "service-created-to-processor", Pattern: `{"source":["com.anycompany.orders.service"],"detail-type":["OrderCreated"]}`,
				Targets: []cfn.Target{{Name: "processor", Function: cfn.PartProcessor, MaxAttempts: 20}}},
			{Name: "service-to-syncback", Pattern: `{"source":["com.anycompany.orders.service"]}`,
				Targets: []cfn.Target{{Name: "syncback", APIKeyHeader: "X-Strangler-Sink-Key", MaxAttempts: 20}}},
		},
		ProxyReplicas: 3, ProxyPort: 8088, ProxyAdminPort: 8089, LogRetentionDays: 30, ThrottleBurst: 200, ThrottleRate: 100,
		Grants: []cfn.Grant{
			g("orders", "dynamodb:GetItem", cfn.ResOrdersTable), g("orders", "dynamodb:Query", cfn.ResOrdersIndex),
			g("outbox", "events:PutEvents", cfn.ResBus), g("cdc", "dynamodb:PutItem", cfn.ResControlTable),
		},
	}
}

func build(t *testing.T, s cfn.Spec) []byte {
	t.Helper()
	tpl, err := cfn.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tpl.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestRoundTrip: the template goformation writes parses back through
// goformation into the same template; the counts by type are what the
// configuration asks for.
func TestRoundTrip(t *testing.T) {
	raw := build(t, spec())
	back, err := goformation.ParseJSONWithOptions(raw, &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: cloudformation.EncoderIntrinsics})
	if err != nil {
		t.Fatalf("goformation cannot read its own template: %v", err)
	}
	raw2, err := back.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw2, &b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("the round trip changed the template (-written +read back):\n%s", diff)
	}
	counts := cfn.Counts(back)
	want := map[string]int{
		"AWS::DynamoDB::Table": 3, "AWS::Lambda::Function": 3, "AWS::Events::EventBus": 1, "AWS::Events::Rule": 3,
		"AWS::Events::ApiDestination": 2, "AWS::Events::Connection": 2, "AWS::SQS::Queue": 5, "AWS::ECS::TaskDefinition": 3,
		"AWS::ECS::Service": 2, "AWS::ApiGatewayV2::Api": 1, "AWS::ElasticLoadBalancingV2::LoadBalancer": 1,
		"AWS::Lambda::EventSourceMapping": 1, "AWS::CloudWatch::Dashboard": 1,
	}
	for typ, n := range want {
		if counts[typ] != n {
			t.Errorf("%d %s, want %d", counts[typ], typ, n)
		}
	}
	// 6 part roles, the events role and the task execution role.
	if counts["AWS::IAM::Role"] != 8 {
		t.Errorf("%d roles, want 8", counts["AWS::IAM::Role"])
	}
	types := slices.Sorted(maps.Keys(counts))
	var sb strings.Builder
	for _, typ := range types {
		fmt.Fprintf(&sb, "  %-45s %d\n", typ, counts[typ])
	}
	t.Logf("resources by type:\n%s", sb.String())
}

// TestChecksPass: the generated template passes the project's checks.
func TestChecksPass(t *testing.T) {
	for _, err := range cfn.Check(build(t, spec())) {
		t.Error(err)
	}
}

// TestChecksCatch: each check finds the fault it is for.
func TestChecksCatch(t *testing.T) {
	for _, c := range []struct {
		name, want string
		mutate     func(res map[string]any)
	}{
		{"dangling Ref", "does not define", func(res map[string]any) {
			prop(res, "OrdersFunction")["Role"] = map[string]any{"Fn::GetAtt": []any{"NoSuchRole", "Arn"}}
		}},
		{"dangling Sub", "does not define", func(res map[string]any) {
			prop(res, "OrdersFunction")["Description"] = map[string]any{"Fn::Sub": "${Nowhere}"}
		}},
		{"function without log group", "no log group", func(res map[string]any) { delete(prop(res, "OutboxFunction"), "LoggingConfig") }},
		{"log group kept forever", "forever", func(res map[string]any) { delete(prop(res, "OrdersFunctionLogs"), "RetentionInDays") }},
		{"queue without redrive policy", "no redrive policy", func(res map[string]any) { delete(prop(res, "OutboxFunctionDLQ"), "RedriveAllowPolicy") }},
		{"queue nobody uses", "nobody's dead-letter queue", func(res map[string]any) {
			res["Orphan"] = map[string]any{"Type": "AWS::SQS::Queue", "Properties": map[string]any{"RedriveAllowPolicy": map[string]any{}}}
		}},
		{"open security group", "admits the internet", func(res map[string]any) {
			prop(res, "CdcSecurityGroup")["SecurityGroupIngress"] = []any{map[string]any{"IpProtocol": "tcp", "CidrIp": "0.0.0.0/0"}}
		}},
		{"public task", "public IP", func(res map[string]any) {
			dig(prop(res, "CdcService"), "NetworkConfiguration", "AwsvpcConfiguration")["AssignPublicIp"] = "ENABLED"
		}},
		{"function URL", "function URL", func(res map[string]any) {
			res["Url"] = map[string]any{"Type": "AWS::Lambda::Url", "Properties": map[string]any{"AuthType": "NONE"}}
		}},
		{"wildcard action", "name each action", func(res map[string]any) {
			st := asList(dig(asList(prop(res, "OrdersRole")["Policies"])[0].(map[string]any), "PolicyDocument")["Statement"])[0].(map[string]any)
			st["Action"] = []any{"dynamodb:*"}
		}},
		{"wildcard resource", "name each resource", func(res map[string]any) {
			st := asList(dig(asList(prop(res, "OrdersRole")["Policies"])[0].(map[string]any), "PolicyDocument")["Statement"])[0].(map[string]any)
			st["Resource"] = "*"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tpl map[string]any
			if err := json.Unmarshal(build(t, spec()), &tpl); err != nil {
				t.Fatal(err)
			}
			c.mutate(tpl["Resources"].(map[string]any))
			raw, _ := json.Marshal(tpl)
			errs := cfn.Check(raw)
			found := false
			for _, err := range errs {
				found = found || strings.Contains(err.Error(), c.want)
			}
			if !found {
				t.Errorf("no finding containing %q; found %v", c.want, errs)
			}
		})
	}
}

func prop(res map[string]any, name string) map[string]any {
	return res[name].(map[string]any)["Properties"].(map[string]any)
}

func dig(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

func asList(v any) []any { return v.([]any) }

// TestSpecRefused: a spec the template cannot be made from is refused,
// naming what is wrong.
func TestSpecRefused(t *testing.T) {
	for _, c := range []struct {
		want   string
		mutate func(*cfn.Spec)
	}{
		{"OrdersTable is required", func(s *cfn.Spec) { s.OrdersTable = "" }},
		{"log retention", func(s *cfn.Spec) { s.LogRetentionDays = 8 }},
		{"one of them", func(s *cfn.Spec) { s.Rules[0].Targets[0].APIKeyHeader = "X-Key" }},
		{"not a target this template has", func(s *cfn.Spec) { s.Rules[1].Targets[0].Function = "cdc" }},
	} {
		s := spec()
		c.mutate(&s)
		if _, err := cfn.Build(s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v", c.want, err)
		}
	}
}

// TestTraceEnv: the functions and the proxy task take their exporter and
// OTLP endpoint from the TraceExporter and OtlpEndpoint parameters, and
// tracing is off unless the stack says otherwise.
func TestTraceEnv(t *testing.T) {
	var tpl struct {
		Parameters map[string]struct {
			Default       any
			AllowedValues []string
		}
		Resources map[string]struct {
			Type       string
			Properties struct {
				Environment          struct{ Variables map[string]any }
				ContainerDefinitions []struct {
					Name        string
					Environment []struct {
						Name  string
						Value any
					}
				}
			}
		}
	}
	if err := json.Unmarshal(build(t, spec()), &tpl); err != nil {
		t.Fatal(err)
	}
	p := tpl.Parameters["TraceExporter"]
	if p.Default != "none" || !slices.Equal(p.AllowedValues, []string{"none", "stdout", "otlp"}) {
		t.Errorf("TraceExporter: default %v, allowed %v", p.Default, p.AllowedValues)
	}
	want := map[string]any{
		"STRANGLER_TRACE_EXPORTER":    map[string]any{"Ref": "TraceExporter"},
		"OTEL_EXPORTER_OTLP_ENDPOINT": map[string]any{"Ref": "OtlpEndpoint"},
	}
	traced := 0
	for name, r := range tpl.Resources {
		got := map[string]any{}
		switch r.Type {
		case "AWS::Lambda::Function":
			got = r.Properties.Environment.Variables
		case "AWS::ECS::TaskDefinition":
			if c := r.Properties.ContainerDefinitions; len(c) == 0 || c[0].Name != "proxy" {
				continue
			}
			for _, kv := range r.Properties.ContainerDefinitions[0].Environment {
				got[kv.Name] = kv.Value
			}
		default:
			continue
		}
		traced++
		for k, v := range want {
			if diff := cmp.Diff(v, got[k]); diff != "" {
				t.Errorf("%s: %s (-want +got):\n%s", name, k, diff)
			}
		}
	}
	if traced != 4 {
		t.Errorf("%d traced functions and tasks, want 4 (three functions, the proxy)", traced)
	}
}
