package awsconf

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/anycompany/strangler/internal/jsonstr"
)

// fastCodec is the SDK's JSON protocol with hand-written request encoders
// for the two calls the cdc and the backfill make by the hundred thousand:
// PutEvents and TransactWriteItems. The SDK's encoder walks a schema per
// member and escapes strings a rune at a time; for these two it was a
// tenth of the cdc's CPU. Strings are written as encoding/json writes them
// (jsonstr): the services read the same text as from the SDK's encoder.
// Everything else, and any input using a member the encoders do not know
// (they say so by returning false), goes to the SDK's own encoder;
// responses are the SDK's but for successful PutEvents answers. Signing,
// retries, endpoints and errors are untouched: only the request body and
// the two headers the protocol sets are written here.
type fastCodec struct {
	smithyhttp.ClientProtocol
	// target is the X-Amz-Target prefix, contentType the protocol's.
	target, contentType string
	// size is the last body's size: the next one's buffer starts there.
	size atomic.Int64
}

func (c *fastCodec) SerializeRequest(ctx context.Context, schema *smithy.OperationSchema, in smithy.Serializable, req *smithyhttp.Request) error {
	var (
		body []byte
		ok   bool
		op   string
	)
	// The buffer is made only for a call encoded here: the client's other
	// calls (GetItem, Query, …) go to the SDK's encoder with nothing spent.
	switch v := in.(type) {
	case *eventbridge.PutEventsInput:
		body, ok = appendPutEvents(c.buf(), v)
		op = "PutEvents"
	case *dynamodb.TransactWriteItemsInput:
		body, ok = appendTransactWriteItems(c.buf(), v)
		op = "TransactWriteItems"
	}
	if !ok {
		return c.ClientProtocol.SerializeRequest(ctx, schema, in, req)
	}
	c.size.Store(int64(len(body)))
	req.Method = http.MethodPost
	if req.URL.Path == "" {
		req.URL.Path = "/"
	}
	req.Header.Set("X-Amz-Target", c.target+"."+op)
	req.Header.Set("Content-Type", c.contentType)
	sreq, err := req.SetStream(bytes.NewReader(body))
	if err != nil {
		return err
	}
	*req = *sreq
	return nil
}

// buf is an empty buffer with room for a body the size of the last one.
func (c *fastCodec) buf() []byte { return make([]byte, 0, c.size.Load()+512) }

// DeserializeResponse reads a successful PutEvents answer itself (its
// entries' ids and error codes: the SDK's schema walk took 20 us a call);
// everything else is the SDK's.
func (c *fastCodec) DeserializeResponse(ctx context.Context, schema *smithy.OperationSchema, types *smithy.TypeRegistry, resp *smithyhttp.Response, out smithy.Deserializable) error {
	pe, ok := out.(*eventbridge.PutEventsOutput)
	if !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return c.ClientProtocol.DeserializeResponse(ctx, schema, types, resp, out)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return &smithy.DeserializationError{Err: fmt.Errorf("PutEvents answer: %w", err)}
	}
	if a, ok := readPutEventsAnswer(raw); ok {
		pe.FailedEntryCount, pe.Entries = a.FailedEntryCount, a.Entries
		return nil
	}
	var body struct {
		Entries []struct {
			EventID      *string `json:"EventId"`
			ErrorCode    *string `json:"ErrorCode"`
			ErrorMessage *string `json:"ErrorMessage"`
		} `json:"Entries"`
		FailedEntryCount int32 `json:"FailedEntryCount"`
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return &smithy.DeserializationError{Err: fmt.Errorf("PutEvents answer: %w", err)}
		}
	}
	pe.FailedEntryCount = body.FailedEntryCount
	if body.Entries != nil {
		pe.Entries = make([]ebtypes.PutEventsResultEntry, len(body.Entries))
		for i, e := range body.Entries {
			pe.Entries[i] = ebtypes.PutEventsResultEntry{EventId: e.EventID, ErrorCode: e.ErrorCode, ErrorMessage: e.ErrorMessage}
		}
	}
	return nil
}

// readPutEventsAnswer reads the plain PutEvents answer, as encoding/json
// would read it into PutEventsOutput: an object of Entries (objects of
// EventId, ErrorCode and ErrorMessage, each a string or null) and
// FailedEntryCount. ok is false for anything else (another member, a
// string with an escape, a number out of int32's range), which
// encoding/json then reads: json.Unmarshal took a sixth of a PutEvents
// call's own CPU.
func readPutEventsAnswer(b []byte) (out eventbridge.PutEventsOutput, ok bool) {
	r := answerReader{b: b}
	if !r.byte('{') {
		return out, false
	}
	if r.byte('}') {
		return out, r.end()
	}
	for {
		key, ok := r.str()
		if !ok || !r.byte(':') {
			return out, false
		}
		switch {
		case key == "FailedEntryCount":
			if out.FailedEntryCount, ok = r.int32(); !ok {
				return out, false
			}
		case key == "Entries" && out.Entries == nil:
			if out.Entries, ok = r.entries(); !ok {
				return out, false
			}
		default:
			return out, false
		}
		if r.byte('}') {
			return out, r.end()
		}
		if !r.byte(',') {
			return out, false
		}
	}
}

type answerReader struct {
	b []byte
	i int
}

func (r *answerReader) space() {
	for r.i < len(r.b) && (r.b[r.i] == ' ' || r.b[r.i] == '\t' || r.b[r.i] == '\n' || r.b[r.i] == '\r') {
		r.i++
	}
}

// byte consumes c (after space) if it is next.
func (r *answerReader) byte(c byte) bool {
	r.space()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *answerReader) end() bool {
	r.space()
	return r.i == len(r.b)
}

// str reads a string of printable ASCII without escapes.
func (r *answerReader) str() (string, bool) {
	if !r.byte('"') {
		return "", false
	}
	start := r.i
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '"':
			r.i++
			return string(r.b[start : r.i-1]), true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", false
		}
		r.i++
	}
	return "", false
}

// strOrNull reads a string or null (nil).
func (r *answerReader) strOrNull() (*string, bool) {
	r.space()
	if bytes.HasPrefix(r.b[r.i:], []byte("null")) {
		r.i += 4
		return nil, true
	}
	s, ok := r.str()
	return &s, ok
}

// int32 reads a non-negative integer in int32's range, without a leading
// zero.
func (r *answerReader) int32() (int32, bool) {
	r.space()
	start, n := r.i, int64(0)
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		n = n*10 + int64(r.b[r.i]-'0')
		r.i++
		if n > math.MaxInt32 {
			return 0, false
		}
	}
	if r.i == start || r.b[start] == '0' && r.i-start > 1 {
		return 0, false
	}
	return int32(n), true
}

func (r *answerReader) entries() ([]ebtypes.PutEventsResultEntry, bool) {
	if !r.byte('[') {
		return nil, false
	}
	out := make([]ebtypes.PutEventsResultEntry, 0, 10)
	if r.byte(']') {
		return out, true
	}
	for {
		var e ebtypes.PutEventsResultEntry
		if !r.byte('{') {
			return nil, false
		}
		if !r.byte('}') {
			for {
				key, ok := r.str()
				if !ok || !r.byte(':') {
					return nil, false
				}
				var dst **string
				switch key {
				case "EventId":
					dst = &e.EventId
				case "ErrorCode":
					dst = &e.ErrorCode
				case "ErrorMessage":
					dst = &e.ErrorMessage
				default:
					return nil, false
				}
				if *dst != nil {
					return nil, false // a repeat: encoding/json's rules
				}
				if *dst, ok = r.strOrNull(); !ok {
					return nil, false
				}
				if r.byte('}') {
					break
				}
				if !r.byte(',') {
					return nil, false
				}
			}
		}
		out = append(out, e)
		if r.byte(']') {
			return out, true
		}
		if !r.byte(',') {
			return nil, false
		}
	}
}

// appendPutEvents encodes a PutEvents request of entries with Source,
// DetailType, Detail, EventBusName, Resources and TraceHeader; false for
// anything else (Time, EndpointId).
func appendPutEvents(b []byte, in *eventbridge.PutEventsInput) ([]byte, bool) {
	if in.EndpointId != nil {
		return nil, false
	}
	b = append(b, `{"Entries":[`...)
	for i, e := range in.Entries {
		if e.Time != nil {
			return nil, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		first := true
		b = appendString(b, "Detail", e.Detail, &first)
		b = appendString(b, "DetailType", e.DetailType, &first)
		b = appendString(b, "EventBusName", e.EventBusName, &first)
		b = appendString(b, "Source", e.Source, &first)
		b = appendString(b, "TraceHeader", e.TraceHeader, &first)
		if e.Resources != nil {
			b = appendKey(b, "Resources", &first)
			b = appendStrings(b, e.Resources)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), true
}

// appendTransactWriteItems encodes TransactWriteItems of Puts (every member
// of Put but ReturnValuesOnConditionCheckFailure) with ClientRequestToken;
// false for anything else (Update, Delete, ConditionCheck, consumed
// capacity or metrics).
func appendTransactWriteItems(b []byte, in *dynamodb.TransactWriteItemsInput) ([]byte, bool) {
	if in.ReturnConsumedCapacity != "" || in.ReturnItemCollectionMetrics != "" {
		return nil, false
	}
	b = append(b, '{')
	first := true
	b = appendString(b, "ClientRequestToken", in.ClientRequestToken, &first)
	if in.TransactItems != nil {
		b = appendKey(b, "TransactItems", &first)
		b = append(b, '[')
		for i, it := range in.TransactItems {
			p := it.Put
			if p == nil || it.Update != nil || it.Delete != nil || it.ConditionCheck != nil || p.ReturnValuesOnConditionCheckFailure != "" {
				return nil, false
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"Put":{`...)
			pf := true
			b = appendString(b, "ConditionExpression", p.ConditionExpression, &pf)
			if p.ExpressionAttributeNames != nil {
				b = appendKey(b, "ExpressionAttributeNames", &pf)
				b = append(b, '{')
				nf := true
				for k, v := range p.ExpressionAttributeNames {
					b = appendKey(b, k, &nf)
					b = jsonstr.Append(b, v)
				}
				b = append(b, '}')
			}
			var ok bool
			if p.ExpressionAttributeValues != nil {
				b = appendKey(b, "ExpressionAttributeValues", &pf)
				if b, ok = appendAttrMap(b, p.ExpressionAttributeValues); !ok {
					return nil, false
				}
			}
			if p.Item != nil {
				b = appendKey(b, "Item", &pf)
				if enc, isEnc := encodedOf(p.Item); isEnc {
					b = append(b, enc...)
				} else if b, ok = appendAttrMap(b, p.Item); !ok {
					return nil, false
				}
			}
			b = appendString(b, "TableName", p.TableName, &pf)
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	}
	return append(b, '}'), true
}

// appendAttrMap encodes a map of attribute values; false for a value of a
// kind it does not know (the SDK's UnknownUnionMember, nil).
func appendAttrMap(b []byte, m map[string]ddbtypes.AttributeValue) ([]byte, bool) {
	b = append(b, '{')
	first := true
	for k, v := range m {
		b = appendKey(b, k, &first)
		var ok bool
		if b, ok = appendAttr(b, v); !ok {
			return nil, false
		}
	}
	return append(b, '}'), true
}

func appendAttr(b []byte, v ddbtypes.AttributeValue) ([]byte, bool) {
	switch t := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		b = append(b, `{"S":`...)
		b = jsonstr.Append(b, t.Value)
	case *ddbtypes.AttributeValueMemberN:
		b = append(b, `{"N":`...)
		b = jsonstr.Append(b, t.Value)
	case *ddbtypes.AttributeValueMemberBOOL:
		b = append(b, `{"BOOL":`...)
		b = appendBool(b, t.Value)
	case *ddbtypes.AttributeValueMemberNULL:
		b = append(b, `{"NULL":`...)
		b = appendBool(b, t.Value)
	case *ddbtypes.AttributeValueMemberB:
		b = append(b, `{"B":`...)
		b = appendBlob(b, t.Value)
	case *ddbtypes.AttributeValueMemberM:
		b = append(b, `{"M":`...)
		var ok bool
		if b, ok = appendAttrMap(b, t.Value); !ok {
			return nil, false
		}
	case *ddbtypes.AttributeValueMemberL:
		b = append(b, `{"L":[`...)
		for i, e := range t.Value {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendAttr(b, e); !ok {
				return nil, false
			}
		}
		b = append(b, ']')
	case *ddbtypes.AttributeValueMemberSS:
		b = append(b, `{"SS":`...)
		b = appendStrings(b, t.Value)
	case *ddbtypes.AttributeValueMemberNS:
		b = append(b, `{"NS":`...)
		b = appendStrings(b, t.Value)
	case *ddbtypes.AttributeValueMemberBS:
		b = append(b, `{"BS":[`...)
		for i, e := range t.Value {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendBlob(b, e)
		}
		b = append(b, ']')
	default:
		return nil, false
	}
	return append(b, '}'), true
}

// appendString appends the member name: v, unless v is nil.
func appendString(b []byte, name string, v *string, first *bool) []byte {
	if v == nil {
		return b
	}
	return jsonstr.Append(appendKey(b, name, first), *v)
}

func appendKey(b []byte, k string, first *bool) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = jsonstr.Append(b, k)
	return append(b, ':')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonstr.Append(b, s)
	}
	return append(b, ']')
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendBlob is v in base64, or null for a nil v (as the SDK writes it).
func appendBlob(b []byte, v []byte) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, '"')
}

// DynamoDBSDKCodec is an option of Endpoint.DynamoDB: every request
// encoded by the SDK's own encoder, without fastCodec (for benchmark
// references that measure the bare SDK).
func DynamoDBSDKCodec(o *dynamodb.Options) { o.Protocol = sdkCodec(o.Protocol) }

// EventBridgeSDKCodec is DynamoDBSDKCodec for Endpoint.EventBridge.
func EventBridgeSDKCodec(o *eventbridge.Options) { o.Protocol = sdkCodec(o.Protocol) }

func sdkCodec(p smithyhttp.ClientProtocol) smithyhttp.ClientProtocol {
	if f, ok := p.(*fastCodec); ok {
		return f.ClientProtocol
	}
	return p
}

// encodedTag names the one attribute of an EncodedItem: not a name a
// mapping gives an attribute (a NUL byte starts it).
const encodedTag = "\x00strangler:encoded-item"

// EncodedItem carries an item already in DynamoDB's JSON wire form (an
// attribute map, as codec.AppendItemJSON writes it) as the Item of a Put
// of TransactWriteItems: the fast codec writes its bytes as they are,
// which spares building the item's attributes and walking them again. Only
// a client of Endpoint.DynamoDB with the fast codec (HasFastCodec) can
// send one: the SDK's own encoder does not know it.
func EncodedItem(b []byte) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{encodedTag: &ddbtypes.UnknownUnionMember{Tag: encodedTag, Value: b}}
}

// encodedOf is the bytes of an EncodedItem.
func encodedOf(item map[string]ddbtypes.AttributeValue) ([]byte, bool) {
	if len(item) != 1 {
		return nil, false
	}
	u, ok := item[encodedTag].(*ddbtypes.UnknownUnionMember)
	if !ok || u.Tag != encodedTag {
		return nil, false
	}
	return u.Value, true
}

// HasFastCodec reports that c encodes TransactWriteItems itself, so its
// Puts may carry EncodedItems.
func HasFastCodec(c *dynamodb.Client) bool {
	_, ok := c.Options().Protocol.(*fastCodec)
	return ok
}

// withFastCodec wraps the client's protocol (set before option functions
// run) in fastCodec; version is the JSON protocol's, 1.0 or 1.1.
func withFastCodec(p *smithyhttp.ClientProtocol, target, version string) {
	if *p != nil {
		*p = &fastCodec{ClientProtocol: *p, target: target, contentType: "application/x-amz-json-" + version}
	}
}
