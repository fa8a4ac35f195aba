package awsconf

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// captured is what a request put on the wire.
type captured struct {
	target, contentType string
	body                any
}

// recorder answers every call with an empty success and keeps what it got.
func recorder(t *testing.T) (*httptest.Server, func() captured) {
	t.Helper()
	var (
		mu   sync.Mutex
		last captured
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("request body is not JSON: %v: %s", err, raw)
		}
		mu.Lock()
		last = captured{r.Header.Get("X-Amz-Target"), r.Header.Get("Content-Type"), body}
		mu.Unlock()
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), "PutEvents") {
			// Every third entry fails; unknown members are ignored.
			var entries []string
			failed := 0
			for i := range len(body.(map[string]any)["Entries"].([]any)) {
				if i%3 == 2 {
					failed++
					entries = append(entries, `{"ErrorCode":"InternalFailure","ErrorMessage":"boom \"`+strconv.Itoa(i)+`\" \u00e9","EventId":null}`)
					continue
				}
				entries = append(entries, `{"EventId":"e-`+strconv.Itoa(i)+`","Extra":{"a":[1,2]}}`)
			}
			_, _ = io.WriteString(w, `{"Entries":[`+strings.Join(entries, ",")+`],"FailedEntryCount":`+strconv.Itoa(failed)+`}`)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	return srv, func() captured { mu.Lock(); defer mu.Unlock(); return last }
}

// awkward holds what a JSON encoder can get wrong.
var awkward = []string{"", "plain", `quote " and \ backslash`, "new\nline\ttab\rret\x00nul\x1fus\x7fdel", "héllo wörld ✓ 🙂",
	"line\u2028sep\u2029", "bad \xff utf-8 \xc3", `{"json":"as text","n":[1,2]}`, "</script>&<>"}

// TestFastCodecMatchesSDK: the hand-written encoders put on the wire what
// the SDK's encoder puts there (same headers, same JSON once parsed), for
// every member they handle and the awkward strings; inputs they do not
// handle go to the SDK's encoder.
func TestFastCodecMatchesSDK(t *testing.T) {
	ctx := context.Background()
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	srv, last := recorder(t)
	clients := func(sdk bool) (*dynamodb.Client, *eventbridge.Client) {
		e := Local(srv.URL)
		var dopts []func(*dynamodb.Options)
		var eopts []func(*eventbridge.Options)
		if sdk {
			dopts, eopts = append(dopts, DynamoDBSDKCodec), append(eopts, EventBridgeSDKCodec)
		}
		d, err := e.DynamoDB(ctx, dopts...)
		if err != nil {
			t.Fatal(err)
		}
		eb, err := e.EventBridge(ctx, eopts...)
		if err != nil {
			t.Fatal(err)
		}
		return d, eb
	}
	fastD, fastEB := clients(false)
	sdkD, sdkEB := clients(true)
	if _, ok := fastD.Options().Protocol.(*fastCodec); !ok {
		t.Fatalf("the DynamoDB client's protocol is %T, want the fast codec", fastD.Options().Protocol)
	}
	if _, ok := sdkEB.Options().Protocol.(*fastCodec); ok {
		t.Fatal("EventBridgeSDKCodec, but the EventBridge client has the fast codec")
	}
	same := func(name string, fast, sdk func() error) {
		t.Helper()
		if err := fast(); err != nil {
			t.Fatalf("%s, fast codec: %v", name, err)
		}
		got := last()
		if err := sdk(); err != nil {
			t.Fatalf("%s, SDK codec: %v", name, err)
		}
		want := last()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nfast %+v\nsdk  %+v", name, got, want)
		}
	}

	var entries []ebtypes.PutEventsRequestEntry
	for _, s := range awkward {
		entries = append(entries, ebtypes.PutEventsRequestEntry{Source: aws.String("com.anycompany.orders"), DetailType: aws.String("OrderUpdated" + s),
			Detail: aws.String(`{"s":` + mustJSON(t, s) + `}`), EventBusName: aws.String("bus"), Resources: []string{"arn:a", s}, TraceHeader: aws.String(s)})
	}
	entries = append(entries, ebtypes.PutEventsRequestEntry{Detail: aws.String("{}")}, ebtypes.PutEventsRequestEntry{Resources: []string{}})
	for i := 0; i < len(entries); i += 10 {
		in := &eventbridge.PutEventsInput{Entries: entries[i:min(i+10, len(entries))]}
		var fastOut, sdkOut *eventbridge.PutEventsOutput
		same("PutEvents", func() (err error) { fastOut, err = fastEB.PutEvents(ctx, in); return err }, func() (err error) { sdkOut, err = sdkEB.PutEvents(ctx, in); return err })
		// The answer reads the same too.
		if !reflect.DeepEqual(fastOut.Entries, sdkOut.Entries) || fastOut.FailedEntryCount != sdkOut.FailedEntryCount || (len(in.Entries) >= 3 && sdkOut.FailedEntryCount == 0) {
			t.Errorf("PutEvents answer: fast %d failed %+v, sdk %d failed %+v", fastOut.FailedEntryCount, fastOut.Entries, sdkOut.FailedEntryCount, sdkOut.Entries)
		}
	}

	item := map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: "o#1"}, "n": &ddbtypes.AttributeValueMemberN{Value: "-12.50"},
		"t": &ddbtypes.AttributeValueMemberBOOL{Value: true}, "f": &ddbtypes.AttributeValueMemberBOOL{}, "null": &ddbtypes.AttributeValueMemberNULL{Value: true},
		"b": &ddbtypes.AttributeValueMemberB{Value: []byte{0, 1, 2, 255}}, "b0": &ddbtypes.AttributeValueMemberB{}, "b1": &ddbtypes.AttributeValueMemberB{Value: []byte{}},
		"ss": &ddbtypes.AttributeValueMemberSS{Value: awkward[1:]}, "ns": &ddbtypes.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"bs": &ddbtypes.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
		"l":  &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{&ddbtypes.AttributeValueMemberS{Value: "x"}, &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"k": &ddbtypes.AttributeValueMemberN{Value: "1"}}}}},
		"l0": &ddbtypes.AttributeValueMemberL{}, "m0": &ddbtypes.AttributeValueMemberM{}, "l1": &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{}},
	}
	for i, s := range awkward {
		item["s"+string(rune('a'+i))] = &ddbtypes.AttributeValueMemberS{Value: s}
		item[s] = &ddbtypes.AttributeValueMemberS{Value: "key " + s}
	}
	put := func(it map[string]ddbtypes.AttributeValue) ddbtypes.TransactWriteItem {
		return ddbtypes.TransactWriteItem{Put: &ddbtypes.Put{TableName: aws.String("orders"), Item: it,
			ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #pos < :pos"),
			ExpressionAttributeNames:  map[string]string{"#pk": "pk", "#pos": "src_pos"},
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pos": &ddbtypes.AttributeValueMemberN{Value: "42"}}}}
	}
	for name, in := range map[string]*dynamodb.TransactWriteItemsInput{
		"puts": {ClientRequestToken: aws.String("token-1"), TransactItems: []ddbtypes.TransactWriteItem{put(item), put(map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "o#2"}}),
			{Put: &ddbtypes.Put{TableName: aws.String("orders"), Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "o#3"}}}}}},
		"an update (SDK's encoder)": {ClientRequestToken: aws.String("token-2"), TransactItems: []ddbtypes.TransactWriteItem{put(item),
			{Update: &ddbtypes.Update{TableName: aws.String("orders"), Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "o#1"}}, UpdateExpression: aws.String("SET a = :a"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":a": &ddbtypes.AttributeValueMemberS{Value: "v"}}}}}},
		"consumed capacity (SDK's encoder)": {ClientRequestToken: aws.String("token-3"), ReturnConsumedCapacity: ddbtypes.ReturnConsumedCapacityTotal, TransactItems: []ddbtypes.TransactWriteItem{put(item)}},
	} {
		same("TransactWriteItems "+name, func() error { _, err := fastD.TransactWriteItems(ctx, in); return err }, func() error { _, err := sdkD.TransactWriteItems(ctx, in); return err })
	}
	// An EncodedItem goes on the wire as the item it encodes, beside items
	// given as attributes.
	enc, ok := appendAttrMap(nil, item)
	if !ok {
		t.Fatal("the test item cannot be encoded")
	}
	o2 := map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "o#2"}}
	same("TransactWriteItems with an EncodedItem",
		func() error {
			_, err := fastD.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String("t"), TransactItems: []ddbtypes.TransactWriteItem{put(EncodedItem(enc)), put(o2)}})
			return err
		},
		func() error {
			_, err := sdkD.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String("t"), TransactItems: []ddbtypes.TransactWriteItem{put(item), put(o2)}})
			return err
		})
	if !HasFastCodec(fastD) || HasFastCodec(sdkD) {
		t.Errorf("HasFastCodec: %v for the default client, %v with DynamoDBSDKCodec", HasFastCodec(fastD), HasFastCodec(sdkD))
	}
	// Without a token the SDK fills in a random one: it must be there either way.
	if _, err := fastD.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{put(item)}}); err != nil {
		t.Fatal(err)
	}
	if tok, _ := last().body.(map[string]any)["ClientRequestToken"].(string); tok == "" {
		t.Errorf("TransactWriteItems without a token: none on the wire (%v)", last().body)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadPutEventsAnswer: what the answer reader takes, it reads as
// encoding/json reads it; it takes the plain answers, leaves the rest.
func TestReadPutEventsAnswer(t *testing.T) {
	take := []string{
		`{"Entries":[{"EventId":"e-1"},{"EventId":"e-2"}],"FailedEntryCount":0}`,
		`{"FailedEntryCount":1,"Entries":[{"EventId":"e-1"},{"ErrorCode":"InternalFailure","ErrorMessage":"boom","EventId":null}]}`,
		" {\n \"Entries\" : [ { } , {\"EventId\":\"\"} ] ,\t\"FailedEntryCount\" : 2147483647 }\r\n", `{}`, `{"Entries":[]}`,
		`{"Entries":[{"EventId":null,"EventId":"x"}]}`,
	}
	leave := []string{
		``, `null`, `[]`, `{"Entries":null}`, `{"Entries":[{"EventId":"a\"b"}]}`, `{"Entries":[{"EventId":"é"}]}`,
		`{"Entries":[{"EventId":"e","Extra":1}]}`, `{"FailedEntryCount":2147483648}`, `{"FailedEntryCount":-1}`, `{"FailedEntryCount":01}`,
		`{"FailedEntryCount":1.0}`, `{"Other":1}`, `{"Entries":[],"Entries":[]}`, `{"Entries":[{"EventId":"a","EventId":"b"}]}`,
		`{"Entries":[{"EventId":"e"}]`, `{"Entries":[{"EventId":"e"}]} x`, `{"Entries":[{"EventId":"e"},]}`, `{,}`,
	}
	type entry struct {
		EventID      *string `json:"EventId"`
		ErrorCode    *string `json:"ErrorCode"`
		ErrorMessage *string `json:"ErrorMessage"`
	}
	for _, s := range take {
		got, ok := readPutEventsAnswer([]byte(s))
		if !ok {
			t.Errorf("%q: left to encoding/json", s)
			continue
		}
		var want struct {
			Entries          []entry
			FailedEntryCount int32
		}
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got.FailedEntryCount != want.FailedEntryCount || len(got.Entries) != len(want.Entries) || (got.Entries == nil) != (want.Entries == nil) {
			t.Errorf("%q: read %d failed %+v, encoding/json %d failed %+v", s, got.FailedEntryCount, got.Entries, want.FailedEntryCount, want.Entries)
			continue
		}
		for i, e := range want.Entries {
			g := got.Entries[i]
			if !reflect.DeepEqual(entry{g.EventId, g.ErrorCode, g.ErrorMessage}, e) {
				t.Errorf("%q: entry %d read %+v, encoding/json %+v", s, i, g, e)
			}
		}
	}
	for _, s := range leave {
		if _, ok := readPutEventsAnswer([]byte(s)); ok {
			t.Errorf("%q: taken, should be left to encoding/json", s)
		}
	}
}
