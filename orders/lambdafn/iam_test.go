package lambdafn_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/awsiam"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/orders/lambdafn"
	"github.com/anycompany/strangler/orders/outbox"
)

// TestLeastPrivilege runs every path of the three functions with the IAM
// recorder on their clients (cold start, create, replay, get, list, accept,
// publish, dead-letter) and compares what they called with the grants of
// internal/awsiam/observed.json, which the template's policies are made
// from: no call without a grant (it would be denied on AWS), no grant
// without a call (more than least privilege).
func TestLeastPrivilege(t *testing.T) {
	f := newFixture(t, nil)
	dir := t.TempDir()
	rec := awsiam.NewRecorder(dir, "")
	ddb := dynamodb.New(f.ddb.Options(), func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, rec.Middleware) })
	eb := eventbridge.New(f.bus.SDK.Options(), func(o *eventbridge.Options) { o.APIOptions = append(o.APIOptions, rec.Middleware) })

	fn, err := lambdafn.StartOrders(t.Context(), f.cfg, ddb, quiet()) // the cold start checks the tables
	if err != nil {
		t.Fatal(err)
	}
	api := lambda.NewHandler(fn.Handle)
	proc := lambda.NewHandler(lambdafn.NewProcessor(orders.BuildProcessor(f.cfg, ddb, quiet()), nil).Handle)
	r := lambdafn.BuildRelay(f.rcfg, lambdafn.RelayAPIs{DynamoDB: ddb, EventBridge: eb}, nil, nil, quiet())
	pub := lambda.NewHandler(lambdafn.NewOutbox(r, f.rcfg.Shards, nil, quiet()).Handle)

	call := func(method, path, query, body string, hdr ...string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		var resp events.APIGatewayV2HTTPResponse
		ev := apiEvent(method, path, query, retailKey, body)
		if len(hdr) == 2 {
			ev = withHeader(t, ev, hdr[0], hdr[1])
		}
		if err := invoke(t, api, ev, &resp); err != nil || resp.StatusCode >= 500 {
			t.Fatalf("%s %s: %v %d %s", method, path, err, resp.StatusCode, resp.Body)
		}
		return resp
	}
	created := call("POST", "/v1/orders", "", fmt.Sprintf(orderBody, "cust-iam"), "idempotency-key", "iam-1")
	call("POST", "/v1/orders", "", fmt.Sprintf(orderBody, "cust-iam"), "idempotency-key", "iam-1") // the replay reads the key
	var o order.Order
	decode(t, created.Body, &o)
	call("GET", "/v1/orders/"+o.ID, "", "")
	call("GET", "/v1/orders", "customer_id=cust-iam", "")
	keys := f.outboxKeys(t)
	var out orders.Outcome
	if err := invoke(t, proc, eventBridgeEvent("ev-iam", outbox.DefaultSource, "OrderCreated", f.detailOf(t, keys[0])), &out); err != nil || out.Result != "accepted" {
		t.Fatalf("processing: %+v %v", out, err)
	}
	call("POST", "/v1/orders/"+o.ID+"/cancel", "", "")
	malformed := streamRec{op: "INSERT", pk: keys[0].pk, sk: "00000000000000000002#ord_malformed"}
	f.putRaw(t, malformed)
	if err := invoke(t, pub, streamEvent(t, f.cfg.ServiceTable, append(f.outboxKeys(t), malformed)...), nil); err != nil {
		t.Fatal(err)
	}
	if len(f.outboxKeys(t)) != 0 || len(f.bus.Accepted(t)) != 3 {
		t.Fatalf("the outbox function left %v and the bus took %d events, want none left and 3", f.outboxKeys(t), len(f.bus.Accepted(t)))
	}

	got, err := awsiam.Merge(dir)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := awsiam.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{lambdafn.PartOrders, lambdafn.PartProcessor, lambdafn.PartOutbox} {
		var seen []awsiam.Grant
		for _, g := range got {
			if g.Part == part {
				seen = append(seen, g)
			}
		}
		if diff := cmp.Diff(obs.Of(part), seen); diff != "" {
			t.Errorf("%s: observed.json's grants (-) and the calls made (+) differ; re-record (docs/aws.md):\n%s", part, diff)
		}
	}
}

// withHeader adds a header to an API Gateway event.
func withHeader(t *testing.T, ev, name, value string) string {
	t.Helper()
	var m map[string]any
	decode(t, ev, &m)
	m["headers"].(map[string]any)[name] = value
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
}

// putRaw writes an outbox item with no detail (never publishable).
func (f *fixture) putRaw(t *testing.T, k streamRec) {
	t.Helper()
	if _, err := f.ddb.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(f.cfg.ServiceTable), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: k.pk}, "sk": &types.AttributeValueMemberS{Value: k.sk},
	}}); err != nil {
		t.Fatal(err)
	}
}
