package eventbus_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/anycompany/strangler/devstack/eventbus"
)

// TestDescribeCallsThroughTheSDK reads the bus and its rules with the SDK's
// own client, as strangler doctor does against AWS.
func TestDescribeCallsThroughTheSDK(t *testing.T) {
	target := []eventbus.TargetConfig{{URL: "http://127.0.0.1:1/events"}}
	b := newBus(t, func(c *eventbus.Config) {
		c.Buses = []string{"default", "orders"}
		c.Rules = []eventbus.RuleConfig{
			{Name: "a-created", Pattern: `{"detail-type":["OrderCreated"]}`, Targets: target},
			{Name: "a-all", Bus: "default", Pattern: `{"source":["x"]}`, Targets: target},
			{Name: "b-other", Pattern: `{"source":["y"]}`, Targets: target},
			{Name: "on-orders", Bus: "orders", Pattern: `{"source":["z"]}`, Targets: target},
		}
	})
	ctx := t.Context()

	bus, err := b.sdk.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{})
	if err != nil {
		t.Fatalf("DescribeEventBus: %v", err)
	}
	if aws.ToString(bus.Name) != "default" || aws.ToString(bus.Arn) != "arn:aws:events:us-east-1:000000000000:event-bus/default" {
		t.Errorf("default bus: %s %s", aws.ToString(bus.Name), aws.ToString(bus.Arn))
	}
	if _, err := b.sdk.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String("orders")}); err != nil {
		t.Errorf("DescribeEventBus orders: %v", err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := b.sdk.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String("nope")}, noRetry); !errors.As(err, &nf) {
		t.Errorf("DescribeEventBus nope: %v, want ResourceNotFoundException", err)
	}
	if _, err := b.sdk.ListRules(ctx, &eventbridge.ListRulesInput{EventBusName: aws.String("nope")}, noRetry); !errors.As(err, &nf) {
		t.Errorf("ListRules on bus nope: %v, want ResourceNotFoundException", err)
	}

	// Pages of two, following NextToken.
	var got []types.Rule
	in := &eventbridge.ListRulesInput{Limit: aws.Int32(2)}
	pages := 0
	for {
		out, err := b.sdk.ListRules(ctx, in)
		if err != nil {
			t.Fatalf("ListRules: %v", err)
		}
		pages++
		got = append(got, out.Rules...)
		if out.NextToken == nil || pages > 5 {
			break
		}
		in.NextToken = out.NextToken
	}
	rule := func(name, pattern string) types.Rule {
		return types.Rule{Name: aws.String(name), Arn: aws.String("arn:aws:events:us-east-1:000000000000:rule/" + name),
			EventPattern: aws.String(pattern), State: types.RuleStateEnabled, EventBusName: aws.String("default")}
	}
	want := []types.Rule{
		rule("a-created", `{"detail-type":["OrderCreated"]}`),
		rule("a-all", `{"source":["x"]}`),
		rule("b-other", `{"source":["y"]}`),
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(types.Rule{})); diff != "" || pages != 2 {
		t.Errorf("ListRules in %d pages (-want +got):\n%s", pages, diff)
	}

	out, err := b.sdk.ListRules(ctx, &eventbridge.ListRulesInput{EventBusName: aws.String("orders"), NamePrefix: aws.String("on-")})
	if err != nil || len(out.Rules) != 1 || aws.ToString(out.Rules[0].Arn) != "arn:aws:events:us-east-1:000000000000:rule/orders/on-orders" {
		t.Errorf("ListRules on orders: %+v, %v", out, err)
	}
	out, err = b.sdk.ListRules(ctx, &eventbridge.ListRulesInput{NamePrefix: aws.String("zzz")})
	if err != nil || len(out.Rules) != 0 || out.NextToken != nil {
		t.Errorf("ListRules with no match: %+v, %v", out, err)
	}
	if code, body := b.raw(t, "AWSEvents.ListRules", `{"Limit":0}`); code != 400 {
		t.Errorf("Limit 0: %d %s, want 400", code, body)
	}
}
