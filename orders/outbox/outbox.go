// Package outbox is the new order service's transactional outbox: the
// records the service writes in the same TransactWriteItems as the order
// change they describe, and that the relay publishes to EventBridge and then
// deletes. It also names the service table that holds them, beside the
// idempotency records of order creation:
//
//	outbox       pk "outbox#<shard>"   sk "<seq>#<order id>"
//	idempotency  pk "idem#<key>"       sk "idem"
//	dead letter  pk "dead"             sk "<seq>#<order id>"
//
// An order's records always land in one shard (by a hash of its id) and sort
// by seq, a time-ordered decimal, so the relay publishes each order's events
// in the order they happened. The relay reads a shard with strongly
// consistent queries of the base table (no index to lag behind).
//
// A record holds a whole, encoded event: its event_id is derived from seq,
// so a record published twice (the relay crashed between the bus accepting
// it and the delete) carries the same event_id both times and consumers drop
// the duplicate.
package outbox

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/orderitem"
)

// DefaultTable is the service table's default name.
const DefaultTable = "orders_service"

// DefaultSource is the Source of the new service's events
// (events.ServiceSource).
const DefaultSource = events.ServiceSource

// EventTable is the table name event ids are derived with: the same as the
// cdc's, so an order's events form one id space.
const EventTable = "orders"

// Key and attribute names of the service table.
const (
	PK = control.PK
	SK = control.SK
	// AttrOrderID, AttrDetailType, AttrDetail and AttrCreated are an outbox
	// record's order id, detail type, encoded Detail and write time (RFC 3339).
	AttrOrderID    = "order_id"
	AttrDetailType = "detail_type"
	AttrDetail     = "detail"
	AttrCreated    = "created"
	// AttrRequest is an idempotency record's request fingerprint.
	AttrRequest = "request"
	// AttrReason is a dead letter's reason.
	AttrReason = "reason"
)

// Spec is the service table's definition, on demand billing.
func Spec(name string) ddbtable.Spec {
	return ddbtable.Spec{Create: &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(PK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(SK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(PK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(SK), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	}}
}

// ShardKey is the pk of outbox shard n.
func ShardKey(n int) string { return "outbox#" + strconv.Itoa(n) }

// ShardOf is the shard of orderID's records among shards.
func ShardOf(orderID string, shards int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(orderID))
	return int(h.Sum32() % uint32(shards))
}

// IdempotencyKey is the pk of the idempotency record of key.
func IdempotencyKey(key string) string { return "idem#" + key }

// Sequencer hands out seqs: decimals of 20 digits (Unix microseconds x 1000
// plus a counter), strictly increasing within a process and time-ordered
// across processes. The zero value is ready; it must not be copied.
type Sequencer struct {
	mu   sync.Mutex
	last int64
}

// Next is the seq after the last one, not before now.
func (s *Sequencer) Next(now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := now.UnixMicro() * 1000
	if n <= s.last {
		n = s.last + 1
	}
	s.last = n
	return fmt.Sprintf("%020d", n)
}

// Record is one outbox record: an encoded event waiting to be published.
type Record struct {
	Shard      int
	Seq        string
	OrderID    string
	DetailType string
	// Detail is the encoded events.Detail.
	Detail  []byte
	Created time.Time
}

// SK is the record's sort key.
func (r Record) SK() string { return r.Seq + "#" + r.OrderID }

// Change describes an order change to record.
type Change struct {
	// Order is the order after the change.
	Order orderitem.Stored
	// DetailType is one of the events.Order* detail types.
	DetailType string
	// Previous holds, on updates, the changed columns' values before the
	// change (keyed by column name, as the event image); nil otherwise.
	Previous map[string]any
	// Traceparent is the trace context of the request or event that made
	// the change ("" when not traced); the event carries it.
	Traceparent string
}

// NewRecord builds the outbox record of c at seq, in shard of shards. The
// event's source_position is seq and its event_id derives from seq and the
// order id.
func NewRecord(c Change, seq string, shards int, now time.Time) (Record, error) {
	if c.Order.ID == "" {
		return Record{}, errors.New("outbox: the order has no id")
	}
	d := events.Detail{
		EventID:        events.ID(seq, EventTable, c.Order.ID),
		OccurredAt:     events.FormatTime(now),
		SourcePosition: strings.TrimLeft(seq, "0"),
		Order:          orderitem.Image(c.Order),
		Traceparent:    c.Traceparent,
	}
	if c.Previous != nil {
		d.Previous = c.Previous
		d.Changed = make([]string, 0, len(c.Previous))
		for k := range c.Previous {
			d.Changed = append(d.Changed, k)
		}
		slices.Sort(d.Changed)
	}
	e, err := events.NewEntry(c.Order.ID, c.DetailType, d)
	if err != nil {
		return Record{}, err
	}
	return Record{
		Shard: ShardOf(c.Order.ID, shards), Seq: seq, OrderID: c.Order.ID,
		DetailType: c.DetailType, Detail: e.Detail, Created: now.UTC(),
	}, nil
}

// Item is r as a service-table item.
func (r Record) Item() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		PK:             control.S(ShardKey(r.Shard)),
		SK:             control.S(r.SK()),
		AttrOrderID:    control.S(r.OrderID),
		AttrDetailType: control.S(r.DetailType),
		AttrDetail:     control.S(string(r.Detail)),
		AttrCreated:    control.S(r.Created.Format(time.RFC3339Nano)),
	}
}

// Put is the TransactWriteItems element that writes r (refusing to
// overwrite a record of the same key).
func (r Record) Put(table string) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                aws.String(table),
		Item:                     r.Item(),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": PK},
	}}
}

// Entry is r as an entry for events.Publisher.
func (r Record) Entry() events.Entry {
	return events.Entry{Key: r.OrderID, DetailType: r.DetailType, Detail: r.Detail, EventID: events.ID(r.Seq, EventTable, r.OrderID)}
}

// FromItem decodes a record of the service table.
func FromItem(item map[string]types.AttributeValue) (Record, error) {
	pk, sk := control.Str(item, PK), control.Str(item, SK)
	shard, ok := strings.CutPrefix(pk, "outbox#")
	if !ok {
		return Record{}, fmt.Errorf("outbox: item %q/%q is not an outbox record", pk, sk)
	}
	n, err := strconv.Atoi(shard)
	if err != nil {
		return Record{}, fmt.Errorf("outbox: item %q: bad shard: %w", pk, err)
	}
	seq, id, ok := strings.Cut(sk, "#")
	if !ok {
		return Record{}, fmt.Errorf("outbox: item %q/%q: sort key is not <seq>#<order id>", pk, sk)
	}
	r := Record{Shard: n, Seq: seq, OrderID: id, DetailType: control.Str(item, AttrDetailType), Detail: []byte(control.Str(item, AttrDetail))}
	if r.DetailType == "" || len(r.Detail) == 0 {
		return Record{}, fmt.Errorf("outbox: item %q/%q has no detail type or detail", pk, sk)
	}
	if c := control.Str(item, AttrCreated); c != "" {
		r.Created, _ = time.Parse(time.RFC3339Nano, c)
	}
	return r, nil
}
