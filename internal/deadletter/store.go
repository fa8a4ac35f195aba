package deadletter

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/control"
)

// Sizes of the stored payload: inline in the record up to inlineMax (the
// rest of a DynamoDB item of 400 KB is the record's other attributes),
// compressed above it, and in parts of partMax when still too large.
const (
	inlineMax = 300 << 10
	partMax   = 350 << 10
	// maxReason bounds a reason: it explains, the payload redoes.
	maxReason = 8 << 10
)

// Attribute names of a record.
const (
	attrKind, attrKey, attrReason, attrPos = "kind", "key", "reason", "position"
	attrAt, attrAttempts, attrSize         = "at_ms", "attempts", "size"
	attrEnc, attrParts, attrPayload        = "enc", "parts", "payload"
	attrItemWritten                        = "item_written"
)

func pk(src Source) string      { return "deadletter#" + string(src) }
func partPK(src Source) string  { return pk(src) + "#part" }
func auditPK(src Source) string { return pk(src) + "#audit" }
func partSK(id string, n int) string {
	return id + "#" + fmt.Sprintf("%04d", n)
}

// SinkAPI is the part of the DynamoDB client a Sink uses.
type SinkAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// API is the part of the DynamoDB client a Store uses.
type API interface {
	SinkAPI
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Sink records the dead letters of one source. It is safe for concurrent
// use.
type Sink struct {
	api    SinkAPI
	table  string
	source Source
	now    func() time.Time
}

// NewSink returns the sink of source's dead letters in the control table
// (now nil: time.Now).
func NewSink(api SinkAPI, table string, source Source, now func() time.Time) *Sink {
	if now == nil {
		now = time.Now
	}
	return &Sink{api: api, table: table, source: source, now: now}
}

// Add records r (its Source is the sink's; At, when zero, now). It is
// durable when Add returns nil.
func (s *Sink) Add(ctx context.Context, r Record) error { return s.Move(ctx, r, nil) }

// Move records r and, in the same transaction, does also (the outbox
// relay deletes the record it dead-letters): either both happen or
// neither. Parts of a large payload are written first.
func (s *Sink) Move(ctx context.Context, r Record, also *types.TransactWriteItem) error {
	r.Source = s.source
	if r.At.IsZero() {
		r.At = s.now()
	}
	if err := checkID(r.ID); err != nil {
		return err
	}
	head, parts, err := encode(r)
	if err != nil {
		return err
	}
	for n, p := range parts {
		item := map[string]types.AttributeValue{control.PK: control.S(partPK(r.Source)), control.SK: control.S(partSK(r.ID, n)), "data": &types.AttributeValueMemberB{Value: p}}
		if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
			return fmt.Errorf("recording part %d of dead letter %s/%s: %w", n, r.Source, r.ID, err)
		}
	}
	if also == nil {
		_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: head})
	} else {
		_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String(s.table), Item: head}}, *also,
		}})
	}
	if err != nil {
		return fmt.Errorf("recording dead letter %s/%s: %w", r.Source, r.ID, err)
	}
	return nil
}

// encode is r's record item and the parts of its payload (none when the
// payload fits inline).
func encode(r Record) (map[string]types.AttributeValue, [][]byte, error) {
	payload, err := json.Marshal(r.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding dead letter %s/%s: %w", r.Source, r.ID, err)
	}
	reason := r.Reason
	if len(reason) > maxReason {
		reason = reason[:maxReason] + "… (reason cut; the payload is whole)"
	}
	head := map[string]types.AttributeValue{
		control.PK: control.S(pk(r.Source)), control.SK: control.S(r.ID),
		attrKind: control.S(string(r.Kind)), attrKey: control.S(r.Key), attrReason: control.S(reason),
		attrAt: control.N(r.At.UnixMilli()), attrAttempts: control.N(int64(r.Attempts)), attrSize: control.N(int64(len(payload))),
	}
	if r.Position != "" {
		head[attrPos] = control.S(r.Position)
	}
	if len(payload) <= inlineMax {
		head[attrPayload] = &types.AttributeValueMemberB{Value: payload}
		return head, nil, nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(payload); err != nil {
		return nil, nil, fmt.Errorf("compressing dead letter %s/%s: %w", r.Source, r.ID, err)
	}
	if err := zw.Close(); err != nil {
		return nil, nil, fmt.Errorf("compressing dead letter %s/%s: %w", r.Source, r.ID, err)
	}
	head[attrEnc] = control.S("gzip")
	gz := buf.Bytes()
	if len(gz) <= inlineMax {
		head[attrPayload] = &types.AttributeValueMemberB{Value: gz}
		return head, nil, nil
	}
	var parts [][]byte
	for len(gz) > 0 {
		n := min(partMax, len(gz))
		parts, gz = append(parts, gz[:n]), gz[n:]
	}
	head[attrParts] = control.N(int64(len(parts)))
	return head, parts, nil
}

// Store reads and removes dead letters of every source; it is what the
// operator's commands use. It is safe for concurrent use.
type Store struct {
	api   API
	table string
	now   func() time.Time
}

// NewStore returns the dead letters of the control table (now nil:
// time.Now).
func NewStore(api API, table string, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{api: api, table: table, now: now}
}

// Sink is the store's sink for src.
func (s *Store) Sink(src Source) *Sink { return NewSink(s.api, s.table, src, s.now) }

// List returns src's dead letters without their payloads (Size says how
// large each is), oldest first.
func (s *Store) List(ctx context.Context, src Source) ([]Record, error) {
	var out []Record
	err := s.query(ctx, pk(src), "", false, func(items []map[string]types.AttributeValue, _ int) error {
		for _, it := range items {
			out = append(out, decodeHead(src, it))
		}
		return nil
	}, headAttrs...)
	if err != nil {
		return nil, fmt.Errorf("listing the %s dead letters: %w", src, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// Count is the number of src's dead letters.
func (s *Store) Count(ctx context.Context, src Source) (int, error) {
	n := 0
	err := s.query(ctx, pk(src), "", true, func(_ []map[string]types.AttributeValue, c int) error { n += c; return nil })
	if err != nil {
		return 0, fmt.Errorf("counting the %s dead letters: %w", src, err)
	}
	return n, nil
}

// headAttrs are a record's attributes but its payload: what List reads, so
// that listing never reads the payloads (up to 300 KiB each).
var headAttrs = []string{control.PK, control.SK, attrKind, attrKey, attrReason, attrPos, attrAt, attrAttempts, attrSize, attrItemWritten}

// query pages through partition p, its sort keys beginning with prefix
// (any when empty), giving fn each page's items and count (only the count
// when count is set); attrs, when given, are the only attributes read.
func (s *Store) query(ctx context.Context, p, prefix string, count bool, fn func(items []map[string]types.AttributeValue, n int) error, attrs ...string) error {
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": control.PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": control.S(p)},
	}
	if len(attrs) > 0 {
		names := make([]string, len(attrs))
		for i, a := range attrs {
			names[i] = fmt.Sprintf("#a%d", i)
			in.ExpressionAttributeNames[names[i]] = a
		}
		in.ProjectionExpression = aws.String(strings.Join(names, ", "))
	}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :pre)")
		in.ExpressionAttributeNames["#sk"] = control.SK
		in.ExpressionAttributeValues[":pre"] = control.S(prefix)
	}
	if count {
		in.Select = types.SelectCount
	}
	for {
		out, err := s.api.Query(ctx, in)
		if err != nil {
			return err
		}
		if err := fn(out.Items, int(out.Count)); err != nil {
			return err
		}
		if in.ExclusiveStartKey = out.LastEvaluatedKey; in.ExclusiveStartKey == nil {
			return nil
		}
	}
}

// Get returns src's dead letter id with its payload; ErrNotFound (wrapped)
// when there is none.
func (s *Store) Get(ctx context.Context, src Source, id string) (Record, error) {
	if err := checkID(id); err != nil {
		return Record{}, err
	}
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), Key: key(pk(src), id)})
	if err != nil {
		return Record{}, fmt.Errorf("reading dead letter %s/%s: %w", src, id, err)
	}
	if out.Item == nil {
		return Record{}, fmt.Errorf("%w %q of source %s: list them with strangler deadletters list --source %s", ErrNotFound, id, src, src)
	}
	r := decodeHead(src, out.Item)
	data, err := s.payload(ctx, src, id, out.Item)
	if err != nil {
		return Record{}, err
	}
	if err := json.Unmarshal(data, &r.Payload); err != nil {
		return Record{}, fmt.Errorf("decoding dead letter %s/%s: %w", src, id, err)
	}
	return r, nil
}

// payload is a record's payload JSON: inline or from its parts,
// decompressed.
func (s *Store) payload(ctx context.Context, src Source, id string, head map[string]types.AttributeValue) ([]byte, error) {
	var data []byte
	if b, ok := head[attrPayload].(*types.AttributeValueMemberB); ok {
		data = b.Value
	}
	for n := range int(control.Int(head, attrParts)) {
		out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), Key: key(partPK(src), partSK(id, n))})
		if err != nil {
			return nil, fmt.Errorf("reading part %d of dead letter %s/%s: %w", n, src, id, err)
		}
		b, ok := out.Item["data"].(*types.AttributeValueMemberB)
		if !ok {
			return nil, fmt.Errorf("dead letter %s/%s: part %d of %d is missing", src, id, n, control.Int(head, attrParts))
		}
		data = append(data, b.Value...)
	}
	if control.Str(head, attrEnc) != "gzip" {
		return data, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decompressing dead letter %s/%s: %w", src, id, err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decompressing dead letter %s/%s: %w", src, id, err)
	}
	return plain, nil
}

func key(p, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{control.PK: control.S(p), control.SK: control.S(sk)}
}

// decodeHead is the record item it without its payload.
func decodeHead(src Source, it map[string]types.AttributeValue) Record {
	r := Record{
		Source: src, ID: control.Str(it, control.SK), Kind: Kind(control.Str(it, attrKind)), Key: control.Str(it, attrKey),
		Reason: control.Str(it, attrReason), Position: control.Str(it, attrPos), Size: int(control.Int(it, attrSize)),
		At: time.UnixMilli(control.Int(it, attrAt)).UTC(), Attempts: int(control.Int(it, attrAttempts)),
	}
	if b, ok := it[attrItemWritten].(*types.AttributeValueMemberBOOL); ok {
		r.ItemWritten = b.Value
	}
	return r
}

// Failed records a failed replay of r: one more attempt, the new reason,
// and whether its item is written (its event still due).
func (s *Store) Failed(ctx context.Context, r Record, reason string, itemWritten bool) error {
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(pk(r.Source), r.ID),
		UpdateExpression:          aws.String("SET #r = :r, #w = :w ADD #a :one"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#r": attrReason, "#w": attrItemWritten, "#a": attrAttempts, "#pk": control.PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": control.S(reason), ":w": &types.AttributeValueMemberBOOL{Value: itemWritten}, ":one": control.N(1)},
	})
	if err != nil {
		return fmt.Errorf("recording the failed replay of dead letter %s/%s: %w", r.Source, r.ID, err)
	}
	return nil
}

// Audit is one line of the dead letters' audit log: who replayed or
// dropped which dead letter, when, and why it was one (Line, as Remove
// returned it). It may be copied.
type Audit struct {
	At     time.Time
	Source Source
	ID     string
	Action string
	By     string
	Line   string
}

// AuditLog returns the newest limit lines of src's audit log, newest first.
func (s *Store) AuditLog(ctx context.Context, src Source, limit int) ([]Audit, error) {
	out, err := s.api.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: aws.String("#pk = :pk"), ScanIndexForward: aws.Bool(false),
		Limit:                     aws.Int32(int32(max(1, min(limit, 1000)))),
		ExpressionAttributeNames:  map[string]string{"#pk": control.PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": control.S(auditPK(src))},
	})
	if err != nil {
		return nil, fmt.Errorf("reading the %s dead letters' audit log: %w", src, err)
	}
	log := make([]Audit, 0, len(out.Items))
	for _, it := range out.Items {
		at, _, _ := strings.Cut(control.Str(it, control.SK), "#")
		t, _ := time.Parse(time.RFC3339Nano, at)
		log = append(log, Audit{At: t, Source: src, ID: control.Str(it, "id"), Action: control.Str(it, "action"),
			By: control.Str(it, "by"), Line: control.Str(it, "line")})
	}
	return log, nil
}

// Remove deletes r with an audit item (action "replay" or "drop", by whom,
// a note), both in one transaction, then its parts. It returns the audit
// line. A record already gone is ErrNotFound (wrapped).
func (s *Store) Remove(ctx context.Context, r Record, action, by, note string) (string, error) {
	at := s.now().UTC()
	line := fmt.Sprintf("%s %s %s/%s key=%s by=%s reason=%q %s", at.Format(time.RFC3339), action, r.Source, r.ID, r.Key, by, r.Reason, note)
	audit := key(auditPK(r.Source), at.Format(time.RFC3339Nano)+"#"+r.ID)
	audit["action"], audit["id"], audit["by"], audit["line"] = control.S(action), control.S(r.ID), control.S(by), control.S(line)
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: aws.String(s.table), Key: key(pk(r.Source), r.ID),
			ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": control.PK}}},
		{Put: &types.Put{TableName: aws.String(s.table), Item: audit}},
	}})
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && len(tce.CancellationReasons) > 0 && aws.ToString(tce.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		return "", fmt.Errorf("%w %q of source %s (another operator removed it?)", ErrNotFound, r.ID, r.Source)
	}
	if err != nil {
		return "", fmt.Errorf("removing dead letter %s/%s: %w", r.Source, r.ID, err)
	}
	return line, s.removeParts(ctx, r)
}

// removeParts deletes the parts of r's payload (any there are).
func (s *Store) removeParts(ctx context.Context, r Record) error {
	return s.query(ctx, partPK(r.Source), r.ID+"#", false, func(items []map[string]types.AttributeValue, _ int) error {
		for _, it := range items {
			sk := control.Str(it, control.SK)
			if _, err := strconv.Atoi(strings.TrimPrefix(sk, r.ID+"#")); err != nil {
				continue // another id's part: this id is its prefix
			}
			if _, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(partPK(r.Source), sk)}); err != nil {
				return fmt.Errorf("removing a part of dead letter %s/%s: %w", r.Source, r.ID, err)
			}
		}
		return nil
	})
}
