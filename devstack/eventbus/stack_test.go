package eventbus_test

import (
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/anycompany/strangler/internal/awsconf"
)

// TestStackBusAnswersTheSDK checks the bus that scripts/stack.sh runs
// (STRANGLER_TEST_EVENTBUS_ENDPOINT, else http://127.0.0.1:4010). It fails,
// never skips, when the stack is down. Its source matches no shipped rule,
// so nothing is delivered anywhere.
func TestStackBusAnswersTheSDK(t *testing.T) {
	url := os.Getenv("STRANGLER_TEST_EVENTBUS_ENDPOINT")
	if url == "" {
		url = "http://127.0.0.1:4010"
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the local bus at %s is unreachable (%v): run `make stack-up` (or scripts/stack.sh up)", url, err)
	}
	resp.Body.Close()
	client, err := awsconf.Local(url).EventBridge(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		{Source: aws.String("com.anycompany.stacktest"), DetailType: aws.String("Ping"), Detail: aws.String(`{"test":"` + t.Name() + `"}`)},
		{Source: aws.String("com.anycompany.stacktest"), DetailType: aws.String("Ping"), Detail: aws.String(`not json`)},
	}})
	if err != nil {
		t.Fatalf("PutEvents to the stack's bus: %v", err)
	}
	if out.FailedEntryCount != 1 || out.Entries[0].EventId == nil || aws.ToString(out.Entries[1].ErrorCode) != "MalformedDetail" {
		t.Errorf("answer: %d failed, %+v", out.FailedEntryCount, out.Entries)
	}
}
