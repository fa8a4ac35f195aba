package deadletter_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/stacktest"
)

// newStore is a Store over a fresh control table of the local DynamoDB.
func newStore(t *testing.T) (*deadletter.Store, *dynamodb.Client, string) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	ddb := stacktest.DynamoDB(t)
	table := stacktest.TableName(t, ddb, "dl_control")
	if _, err := ddbtable.Ensure(context.Background(), ddb, control.Spec(table)); err != nil {
		t.Fatal(err)
	}
	return deadletter.NewStore(ddb, table, nil), ddb, table
}

// TestStoreKeepsPayloadsWhole: a payload far over DynamoDB's 400 KB item
// limit is kept whole, compressed when that is enough and split into parts
// when it is not (random bytes do not compress); list shows every record
// with its size, show gives each payload back byte for byte, and drop
// removes the record and its parts with an audit line.
func TestStoreKeepsPayloadsWhole(t *testing.T) {
	ctx := context.Background()
	store, ddb, table := newStore(t)
	random := make([]byte, 1200<<10)
	_, _ = rand.Read(random)
	details := map[string]string{
		"small":        `{"event_id":"small"}`,
		"compressible": `{"notes":"` + strings.Repeat("abc", 400<<10) + `"}`,
		"random":       `{"blob":"` + base64.StdEncoding.EncodeToString(random) + `"}`,
	}
	sink := store.Sink(deadletter.Relay)
	for id, d := range details {
		r := deadletter.Record{ID: id, Kind: deadletter.Event, Key: "ord_1", Reason: "refused: " + id,
			Payload: deadletter.Payload{Event: deadletter.NewEvent("src", "", "OrderCreated", id, "ord_1", []byte(d))}}
		if err := sink.Add(ctx, r); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	list, err := store.List(ctx, deadletter.Relay)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("listed %d dead letters, want 3", len(list))
	}
	for _, r := range list {
		if r.Size < len(details[r.ID]) || r.Reason != "refused: "+r.ID || r.Source != deadletter.Relay {
			t.Errorf("listed %+v", r)
		}
	}
	for id, d := range details {
		r, err := store.Get(ctx, deadletter.Relay, id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if got := string(r.Payload.Event.DetailBytes()); got != d {
			t.Errorf("%s: detail of %d bytes read back as %d bytes", id, len(d), len(got))
		}
	}
	if n := parts(t, ddb, table); n < 3 {
		t.Errorf("the random payload is in %d parts, want it split (>= 3)", n)
	}
	r, _ := store.Get(ctx, deadletter.Relay, "random")
	line, err := store.Remove(ctx, r, "drop", "tester", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "drop relay/random key=ord_1 by=tester") {
		t.Errorf("audit line %q", line)
	}
	if n := parts(t, ddb, table); n != 0 {
		t.Errorf("%d parts left after the drop", n)
	}
	if _, err := store.Get(ctx, deadletter.Relay, "random"); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("get after drop: %v, want ErrNotFound", err)
	}
	if _, err := store.Remove(ctx, r, "drop", "tester", ""); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("second drop: %v, want ErrNotFound", err)
	}
	if n, err := store.Count(ctx, deadletter.Relay); err != nil || n != 2 {
		t.Errorf("count %d, %v; want 2", n, err)
	}
	small, _ := store.Get(ctx, deadletter.Relay, "small")
	line2, err := store.Remove(ctx, small, "drop", "tester2", "")
	if err != nil {
		t.Fatal(err)
	}
	log, err := store.AuditLog(ctx, deadletter.Relay, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range log {
		got = append(got, a.Action+" "+a.ID+" "+a.By+" "+a.Line)
	}
	want := []string{"drop small tester2 " + line2, "drop random tester " + line}
	if diff := cmp.Diff(want, got); diff != "" || log[0].At.IsZero() {
		t.Errorf("the audit log, newest first (-want +got):\n%s", diff)
	}
}

// parts counts the payload parts stored for relay dead letters.
func parts(t *testing.T, ddb *dynamodb.Client, table string) int {
	t.Helper()
	out, err := ddb.Query(context.Background(), &dynamodb.QueryInput{TableName: aws.String(table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": control.S("deadletter#relay#part")}, Select: types.SelectCount})
	if err != nil {
		t.Fatal(err)
	}
	return int(out.Count)
}

// TestCellJSON: row cells survive JSON: NULL, empty, text and binary.
func TestCellJSON(t *testing.T) {
	in := map[string]deadletter.Cell{"null": nil, "empty": {}, "text": deadletter.Cell("héllo"), "bin": {0, 0xff, 0xfe}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]deadletter.Cell
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("%s read back (-want +got):\n%s", b, diff)
	}
	if out["null"] != nil || out["empty"] == nil {
		t.Errorf("NULL and empty are told apart: %#v", out)
	}
}

// TestBadInput: unknown sources and ids are refused with what to do.
func TestBadInput(t *testing.T) {
	if _, err := deadletter.ParseSource("kafka"); err == nil || !strings.Contains(err.Error(), "cdc, relay, backfill, bus") {
		t.Errorf("unknown source: %v", err)
	}
	store, _, _ := newStore(t)
	if _, err := store.Get(context.Background(), deadletter.CDC, "nope"); !errors.Is(err, deadletter.ErrNotFound) || !strings.Contains(err.Error(), "strangler deadletters list --source cdc") {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := store.Get(context.Background(), deadletter.CDC, ""); err == nil {
		t.Error("an empty id was accepted")
	}
}
