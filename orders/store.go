package orders

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/orderitem"
	"github.com/anycompany/strangler/internal/retry"
	"github.com/anycompany/strangler/internal/tracing"
	"github.com/anycompany/strangler/orders/outbox"
)

// Store errors callers tell apart, besides orderapi's (ErrNotFound there
// also covers a tombstone).
var (
	// ErrContended: a change lost its race more often than TransactAttempts
	// allows; retrying later may succeed.
	ErrContended = errors.New("the order changed concurrently too often")
)

// DynamoAPI is the part of the DynamoDB client the Store uses.
type DynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoAPI = (*dynamodb.Client)(nil)

// Store keeps the new service's orders in the DynamoDB orders table, in the
// item format the migrator and the cdc write (orderitem), and records every
// change in the outbox of the service table in the same TransactWriteItems.
// The zero value is not usable; make one with NewStore. It is safe for
// concurrent use and must not be copied.
type Store struct {
	api     DynamoAPI
	table   string
	index   string
	service string
	shards  int
	races   retry.Policy
	ids     *IDs
	seq     outbox.Sequencer
	now     func() time.Time
	onRetry func(op string)
}

// StoreOptions configure a Store.
type StoreOptions struct {
	// Table, Index and ServiceTable name the orders table, its listing GSI
	// and the service table. Required.
	Table, Index, ServiceTable string
	// Shards is the outbox shard count. Required: at least 1.
	Shards int
	// Attempts bounds the attempts of a change that keeps losing races,
	// waiting retry.Races() between them. Optional: defaults to 8.
	Attempts int
	// IDs hands out order ids. Optional: defaults to NewIDs(nil).
	IDs *IDs
	// Now is the clock. Optional: defaults to time.Now.
	Now func() time.Time
	// Sleep waits between attempts. Optional: defaults to clock.Sleep.
	Sleep func(context.Context, time.Duration) error
	// OnRetry is told of every lost race, by operation (metrics). Optional.
	OnRetry func(op string)
}

// NewStore returns a store over api.
func NewStore(api DynamoAPI, o StoreOptions) *Store {
	s := &Store{
		api: api, table: o.Table, index: o.Index, service: o.ServiceTable, shards: o.Shards,
		races: retry.Policy{MaxAttempts: o.Attempts, Sleep: o.Sleep}.Or(retry.Races()), ids: o.IDs, now: o.Now, onRetry: o.OnRetry,
	}
	if s.ids == nil {
		s.ids = NewIDs(nil)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.onRetry == nil {
		s.onRetry = func(string) {}
	}
	return s
}

// Fingerprint identifies a create request for idempotency: a SHA-256 over
// the validated draft (which holds the channel) in canonical JSON.
func Fingerprint(d order.Draft) (string, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("fingerprinting the request: %w", err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// Create stores a new pending order of d, its OrderCreated outbox record
// and, with an idempotency key, the key's record, in one TransactWriteItems.
// A replay of the same request returns the stored order with Replayed set;
// the key with another request is orderapi.ErrIdempotencyConflict. With dryRun it
// builds the order it would store and writes nothing.
func (s *Store) Create(ctx context.Context, d order.Draft, idemKey string, dryRun bool) (orderapi.Created, error) {
	fp, err := Fingerprint(d)
	if err != nil {
		return orderapi.Created{}, err
	}
	for attempt := 1; ; attempt++ {
		now := s.now()
		id, err := s.ids.New(now)
		if err != nil {
			return orderapi.Created{}, err
		}
		ts := order.NewTimestamp(now)
		st := orderitem.Stored{Order: order.Order{
			ID: id, CustomerID: d.CustomerID, Channel: d.Channel, Status: order.Pending, Currency: d.Currency,
			Items: d.Items, Total: d.Total, ShippingAddress: d.ShippingAddress, Notes: d.Notes,
			CreatedAt: ts, UpdatedAt: ts, Version: 1,
		}, IdempotencyKey: idemKey}
		if dryRun {
			return orderapi.Created{Order: st.Order}, nil
		}
		item, err := orderitem.Item(st)
		if err != nil {
			return orderapi.Created{}, err
		}
		// A new order's state has no source position: 0 lets any later
		// position-guarded copy of the same key (cdc, backfill) win.
		item[codec.AttrPos] = &types.AttributeValueMemberN{Value: "0"}
		rec, err := outbox.NewRecord(outbox.Change{Order: st, DetailType: events.OrderCreated, Traceparent: tracing.Traceparent(ctx)}, s.seq.Next(now), s.shards, now)
		if err != nil {
			return orderapi.Created{}, err
		}
		writes := []types.TransactWriteItem{
			{Put: &types.Put{
				TableName: aws.String(s.table), Item: item,
				ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
				ExpressionAttributeNames: map[string]string{"#pk": codec.AttrPK},
			}},
			rec.Put(s.service),
		}
		if idemKey != "" {
			writes = append(writes, types.TransactWriteItem{Put: &types.Put{
				TableName: aws.String(s.service),
				Item: map[string]types.AttributeValue{
					outbox.PK:          control.S(outbox.IdempotencyKey(idemKey)),
					outbox.SK:          control.S("idem"),
					outbox.AttrRequest: control.S(fp),
					outbox.AttrOrderID: control.S(id),
					outbox.AttrCreated: control.S(now.UTC().Format(time.RFC3339Nano)),
				},
				ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
				ExpressionAttributeNames: map[string]string{"#pk": outbox.PK},
			}})
		}
		_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
		if err == nil {
			return orderapi.Created{Order: st.Order}, nil
		}
		reasons, cancelled := cancellation(err)
		switch {
		case cancelled && idemKey != "" && reasons.at(2) == "ConditionalCheckFailed":
			return s.replay(ctx, idemKey, fp)
		case cancelled && reasons.any("ConditionalCheckFailed", "TransactionConflict"), isConflict(err):
			// Another request with the same key is in flight (conflict), or
			// an id collided: try again.
			if err := s.retry(ctx, "create", attempt); err != nil {
				return orderapi.Created{}, err
			}
		default:
			return orderapi.Created{}, fmt.Errorf("storing order %s: %w", id, err)
		}
	}
}

// replay answers a create whose idempotency key exists.
func (s *Store) replay(ctx context.Context, key, fp string) (orderapi.Created, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.service),
		Key:            map[string]types.AttributeValue{outbox.PK: control.S(outbox.IdempotencyKey(key)), outbox.SK: control.S("idem")},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return orderapi.Created{}, fmt.Errorf("reading the idempotency record: %w", err)
	}
	if out.Item == nil {
		return orderapi.Created{}, errors.New("the idempotency record vanished after it refused the create")
	}
	if control.Str(out.Item, outbox.AttrRequest) != fp {
		return orderapi.Created{}, orderapi.ErrIdempotencyConflict
	}
	st, err := s.read(ctx, control.Str(out.Item, outbox.AttrOrderID))
	if err != nil {
		return orderapi.Created{}, fmt.Errorf("reading the order of idempotency key: %w", err)
	}
	return orderapi.Created{Order: st.Order, Replayed: true}, nil
}

// retry counts a lost race and waits before attempt+1, or gives up.
func (s *Store) retry(ctx context.Context, op string, attempt int) error {
	s.onRetry(op)
	if s.races.Last(attempt) {
		return fmt.Errorf("%s after %d attempts: %w", op, attempt, ErrContended)
	}
	if err := s.races.Wait(ctx, attempt); err != nil {
		return fmt.Errorf("%s: waiting to retry: %w", op, err)
	}
	return nil
}

// validID reports whether id can be a key of the orders table; anything
// else cannot exist.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// read returns the order id of any channel (strongly consistent).
func (s *Store) read(ctx context.Context, id string) (orderitem.Stored, error) {
	if !validID(id) {
		return orderitem.Stored{}, orderapi.ErrNotFound
	}
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{codec.AttrPK: control.S(id)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return orderitem.Stored{}, fmt.Errorf("reading order %s: %w", id, err)
	}
	if out.Item == nil {
		return orderitem.Stored{}, orderapi.ErrNotFound
	}
	st, err := orderitem.FromItem(out.Item)
	if errors.Is(err, orderitem.ErrTombstone) {
		return st, orderapi.ErrNotFound
	}
	if err != nil {
		return st, fmt.Errorf("decoding order %s: %w", id, err)
	}
	return st, nil
}

// Get returns the order id of channel ch.
func (s *Store) Get(ctx context.Context, ch order.Channel, id string) (order.Order, error) {
	st, err := s.read(ctx, id)
	if err != nil {
		return order.Order{}, err
	}
	if st.Channel != ch {
		return order.Order{}, orderapi.ErrNotFound
	}
	return st.Order, nil
}

// cursor is the decoded form of a list cursor: the index key of the last
// order returned (the customer is the query's).
type cursor struct {
	PK      string `json:"p"`
	Created string `json:"t"`
}

func encodeCursor(o order.Order) string {
	b, _ := json.Marshal(cursor{PK: o.ID, Created: o.CreatedAt.String()})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, orderapi.ErrBadCursor
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || !validID(c.PK) {
		return cursor{}, orderapi.ErrBadCursor
	}
	if _, err := time.Parse(time.RFC3339Nano, c.Created); err != nil {
		return cursor{}, orderapi.ErrBadCursor
	}
	return c, nil
}

// List returns up to limit orders of customer in channel ch, newest first,
// after cursor (empty for the first page). It queries the customer's
// partition of the GSI newest first; other channels' orders and tombstones
// are filtered out, so it reads on until it has limit+1 orders (the extra
// one only says whether another page exists) or the partition ends.
func (s *Store) List(ctx context.Context, ch order.Channel, customer string, limit int, after string) (orderapi.Page, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		IndexName:              aws.String(s.index),
		KeyConditionExpression: aws.String("#cust = :cust"),
		FilterExpression:       aws.String("#ch = :ch AND attribute_not_exists(#del)"),
		ExpressionAttributeNames: map[string]string{
			"#cust": orderitem.AttrCustomerID, "#ch": orderitem.AttrChannel, "#del": codec.AttrDeleted,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":cust": control.S(customer), ":ch": control.S(string(ch)),
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(limit + 1)),
	}
	if after != "" {
		c, err := decodeCursor(after)
		if err != nil {
			return orderapi.Page{}, err
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			codec.AttrPK: control.S(c.PK), orderitem.AttrCustomerID: control.S(customer), orderitem.AttrCreatedAt: control.S(c.Created),
		}
	}
	p := orderapi.Page{Orders: []order.Order{}}
	for len(p.Orders) <= limit {
		out, err := s.api.Query(ctx, in)
		if err != nil {
			return orderapi.Page{}, fmt.Errorf("listing orders: %w", err)
		}
		for _, item := range out.Items {
			st, err := orderitem.FromItem(item)
			if errors.Is(err, orderitem.ErrTombstone) {
				continue
			}
			if err != nil {
				return orderapi.Page{}, fmt.Errorf("listing orders: %w", err)
			}
			p.Orders = append(p.Orders, st.Order)
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(p.Orders) > limit {
		p.Orders = p.Orders[:limit]
		p.NextCursor = encodeCursor(p.Orders[limit-1])
	}
	return p, nil
}

// Cancel cancels the order unless it shipped. Cancelling a cancelled order
// changes nothing and returns it.
func (s *Store) Cancel(ctx context.Context, ch order.Channel, id string, dryRun bool) (order.Order, error) {
	o, _, err := s.transition(ctx, ch, id, order.Cancelled, events.OrderCancelled, dryRun, func(from order.Status) (bool, error) {
		if from == order.Cancelled {
			return false, nil
		}
		if !from.CanCancel() {
			return false, &orderapi.TransitionError{From: from, To: order.Cancelled}
		}
		return true, nil
	})
	return o, err
}

// Advance moves the order to next along accepted -> processing -> shipped.
func (s *Store) Advance(ctx context.Context, ch order.Channel, id string, next order.Status, dryRun bool) (order.Order, error) {
	o, _, err := s.transition(ctx, ch, id, next, events.OrderStatusChanged, dryRun, func(from order.Status) (bool, error) {
		if !from.CanAdvance(next) {
			return false, &orderapi.TransitionError{From: from, To: next}
		}
		return true, nil
	})
	return o, err
}

// Accept moves a pending order of any channel to accepted (the order
// processor's step). An order that is no longer pending is left alone:
// changed is false.
func (s *Store) Accept(ctx context.Context, id string) (o order.Order, changed bool, err error) {
	return s.transition(ctx, "", id, order.Accepted, events.OrderStatusChanged, false, func(from order.Status) (bool, error) {
		return from == order.Pending, nil
	})
}

// transition reads the order (of channel ch, or any when ch is empty), asks
// allow whether to change it, and if so sets the status, bumps the version
// and stamps updated_at, together with the change's outbox record, in one
// TransactWriteItems conditioned on the status and version it read. A lost
// race reads again and retries.
func (s *Store) transition(ctx context.Context, ch order.Channel, id string, to order.Status, detailType string, dryRun bool,
	allow func(order.Status) (bool, error)) (order.Order, bool, error) {
	for attempt := 1; ; attempt++ {
		st, err := s.read(ctx, id)
		if err != nil {
			return order.Order{}, false, err
		}
		if ch != "" && st.Channel != ch {
			return order.Order{}, false, orderapi.ErrNotFound
		}
		change, err := allow(st.Status)
		if err != nil || !change {
			return st.Order, false, err
		}
		prev := st.Order
		now := s.now()
		next := st
		next.Status, next.Version = to, prev.Version+1
		next.UpdatedAt = order.NewTimestamp(now)
		if !next.UpdatedAt.After(prev.UpdatedAt.Time) {
			// updated_at never goes back or stands still, even if the clock does.
			next.UpdatedAt = order.NewTimestamp(prev.UpdatedAt.Add(time.Microsecond))
		}
		if dryRun {
			return next.Order, true, nil
		}
		rec, err := outbox.NewRecord(outbox.Change{Order: next, DetailType: detailType, Traceparent: tracing.Traceparent(ctx), Previous: map[string]any{
			orderitem.AttrStatus:    string(prev.Status),
			orderitem.AttrUpdatedAt: prev.UpdatedAt.String(),
			orderitem.AttrVersion:   prev.Version,
		}}, s.seq.Next(now), s.shards, now)
		if err != nil {
			return order.Order{}, false, err
		}
		update := types.TransactWriteItem{Update: &types.Update{
			TableName:           aws.String(s.table),
			Key:                 map[string]types.AttributeValue{codec.AttrPK: control.S(id)},
			UpdateExpression:    aws.String("SET #st = :to, #ver = :v1, #upd = :upd"),
			ConditionExpression: aws.String("attribute_exists(#pk) AND attribute_not_exists(#del) AND #st = :from AND #ver = :v0"),
			ExpressionAttributeNames: map[string]string{
				"#pk": codec.AttrPK, "#del": codec.AttrDeleted, "#st": orderitem.AttrStatus,
				"#ver": orderitem.AttrVersion, "#upd": orderitem.AttrUpdatedAt,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":to":   control.S(string(to)),
				":from": control.S(string(prev.Status)),
				":v0":   &types.AttributeValueMemberN{Value: strconv.FormatUint(uint64(prev.Version), 10)},
				":v1":   &types.AttributeValueMemberN{Value: strconv.FormatUint(uint64(next.Version), 10)},
				":upd":  control.S(next.UpdatedAt.String()),
			},
		}}
		_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems: []types.TransactWriteItem{update, rec.Put(s.service)},
		})
		if err == nil {
			return next.Order, true, nil
		}
		reasons, cancelled := cancellation(err)
		if !(cancelled && reasons.any("ConditionalCheckFailed", "TransactionConflict")) && !isConflict(err) {
			return order.Order{}, false, fmt.Errorf("updating order %s: %w", id, err)
		}
		// The order changed since it was read (or another transaction holds
		// it): read it again and decide anew.
		if err := s.retry(ctx, string(to), attempt); err != nil {
			return order.Order{}, false, err
		}
	}
}

// reasons are the per-item codes of a cancelled transaction.
type reasons []string

func (r reasons) at(i int) string {
	if i < len(r) {
		return r[i]
	}
	return ""
}

func (r reasons) any(codes ...string) bool {
	for _, c := range r {
		for _, want := range codes {
			if c == want {
				return true
			}
		}
	}
	return false
}

// cancellation returns the cancellation reasons of a cancelled transaction.
// When the service sent none in structured form it reads them from the
// message ("… [ConditionalCheckFailed, None]"), as DynamoDB Local writes it.
func cancellation(err error) (reasons, bool) {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil, false
	}
	var r reasons
	for _, cr := range tce.CancellationReasons {
		r = append(r, aws.ToString(cr.Code))
	}
	if len(r) == 0 {
		msg := tce.ErrorMessage()
		if i, j := strings.LastIndex(msg, "["), strings.LastIndex(msg, "]"); i >= 0 && j > i {
			for _, c := range strings.Split(msg[i+1:j], ",") {
				r = append(r, strings.TrimSpace(c))
			}
		}
	}
	return r, true
}

// isConflict reports a transaction conflict outside a cancellation.
func isConflict(err error) bool {
	var tc *types.TransactionConflictException
	var tip *types.TransactionInProgressException
	return errors.As(err, &tc) || errors.As(err, &tip)
}
