package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/anycompany/strangler/internal/retry"
)

// BusAPI is the part of the EventBridge client the doctor calls.
type BusAPI interface {
	DescribeEventBus(ctx context.Context, in *eventbridge.DescribeEventBusInput, opts ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error)
	ListRules(ctx context.Context, in *eventbridge.ListRulesInput, opts ...func(*eventbridge.Options)) (*eventbridge.ListRulesOutput, error)
	TestEventPattern(ctx context.Context, in *eventbridge.TestEventPatternInput, opts ...func(*eventbridge.Options)) (*eventbridge.TestEventPatternOutput, error)
}

var _ BusAPI = (*eventbridge.Client)(nil)

// maxRulePages bounds ListRules paging (100 rules a page).
const maxRulePages = 20

// busChecks checks the cdc's bus exists and which of its enabled rules
// hear each detail type the cdc publishes: a type no rule hears reaches
// no consumer.
func (d *Doctor) busChecks(ctx context.Context) ([]Check, error) {
	c := d.CDC
	name := c.Bus
	if name == "" {
		name = "default"
	}
	what := "event bus " + name
	_, err := d.Bus.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(name)}, retry.NoSDKRetryEvents)
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return []Check{{Fail, what, "it does not exist: the cdc's PutEvents calls would all fail", "create it (aws events create-event-bus --name " + name + ") or set events.bus in configs/cdc.yaml"}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing the bus %s: %w", name, err)
	}
	cs := []Check{{OK, what, "it exists and answers at " + orAWS(c.EventBridge.URL), ""}}
	rules, err := d.enabledRules(ctx, name)
	if err != nil {
		return cs, err
	}
	if len(rules) == 0 {
		return append(cs, Check{Warn, "bus rules", "the bus has no enabled rule with an event pattern: the cdc's events reach no consumer",
			fmt.Sprintf("add rules for source %s (aws events put-rule --event-bus-name %s …) and their targets", c.Source, name)}), nil
	}
	heard := map[string][]string{}
	var deaf []string
	for _, dt := range c.DetailTypes {
		ev := sampleEvent(c.Source, dt, c.EventBridge.Region)
		for _, r := range rules {
			out, err := d.Bus.TestEventPattern(ctx, &eventbridge.TestEventPatternInput{Event: aws.String(ev), EventPattern: r.EventPattern}, retry.NoSDKRetryEvents)
			if err != nil {
				return cs, fmt.Errorf("testing rule %s: %w", aws.ToString(r.Name), err)
			}
			if out.Result {
				heard[dt] = append(heard[dt], aws.ToString(r.Name))
			}
		}
		if len(heard[dt]) == 0 {
			deaf = append(deaf, dt)
		}
	}
	if len(deaf) > 0 {
		return append(cs, Check{Warn, "bus rules", fmt.Sprintf("no enabled rule of %d hears the cdc's %s events (source %s): nobody consumes them", len(rules), strings.Join(deaf, ", "), c.Source),
			"add a rule for them, or drop those types from events.rules in configs/cdc.yaml"}), nil
	}
	return append(cs, Check{OK, "bus rules", fmt.Sprintf("%d enabled rules; every event type of the cdc is heard: %s", len(rules), heardText(c.DetailTypes, heard)), ""}), nil
}

// enabledRules lists the bus's enabled rules that have an event pattern.
func (d *Doctor) enabledRules(ctx context.Context, bus string) ([]types.Rule, error) {
	var out []types.Rule
	in := &eventbridge.ListRulesInput{EventBusName: aws.String(bus)}
	for range maxRulePages {
		page, err := d.Bus.ListRules(ctx, in, retry.NoSDKRetryEvents)
		if err != nil {
			return nil, fmt.Errorf("listing the rules of bus %s: %w", bus, err)
		}
		for _, r := range page.Rules {
			if r.State == types.RuleStateEnabled && aws.ToString(r.EventPattern) != "" {
				out = append(out, r)
			}
		}
		if page.NextToken == nil {
			break
		}
		in.NextToken = page.NextToken
	}
	return out, nil
}

// sampleEvent is an event of the cdc as EventBridge hands it to rules.
func sampleEvent(source, detailType, region string) string {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": "00000000-0000-0000-0000-000000000000", "detail-type": detailType, "source": source,
		"account": "000000000000", "time": time.Unix(0, 0).UTC().Format(time.RFC3339), "region": region,
		"resources": []string{}, "detail": map[string]any{},
	})
	return string(b)
}

// heardText says which rules hear each detail type, types heard by the
// same rules together: "OrderCreated, OrderDeleted by a+b".
func heardText(detailTypes []string, heard map[string][]string) string {
	var order []string
	byRules := map[string][]string{}
	for _, t := range detailTypes {
		rs := slices.Clone(heard[t])
		slices.Sort(rs)
		k := strings.Join(rs, "+")
		if byRules[k] == nil {
			order = append(order, k)
		}
		byRules[k] = append(byRules[k], t)
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = strings.Join(byRules[k], ", ") + " by " + k
	}
	return strings.Join(parts, "; ")
}

func orAWS(url string) string {
	if url == "" {
		return "AWS"
	}
	return url
}
