// Package orderitem holds the two forms an order takes outside the HTTP API
// that the new order service, its outbox relay, its processor and the
// sync-back consumer all share:
//
//   - the DynamoDB item of the orders table, attribute for attribute the item
//     the codec (internal/codec) writes for the same row of the reference
//     legacy table, so orders copied from MySQL and orders written by the new
//     service are one kind of item, and migrate verify compares them alike;
//   - the event image: the Detail.order of an order event, keyed by column
//     name exactly as the cdc publishes a row (integers as numbers, DECIMAL
//     as a string, DATETIME as RFC 3339 UTC with microseconds, JSON columns
//     as JSON, NULL as null).
//
// Both carry the idempotency key, which the legacy table stores as a column.
package orderitem

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/order"
)

// Attribute (and event image) names of the reference mapping: the legacy
// table's column names. The key column id is the item's pk.
const (
	AttrCustomerID      = "customer_id"
	AttrChannel         = "channel"
	AttrStatus          = "status"
	AttrCurrency        = "currency"
	AttrItems           = "items"
	AttrTotal           = "total"
	AttrShippingAddress = "shipping_address"
	AttrNotes           = "notes"
	AttrIdempotencyKey  = "idempotency_key"
	AttrCreatedAt       = "created_at"
	AttrUpdatedAt       = "updated_at"
	AttrVersion         = "version"
	// ImageID is the key column's name in an event image.
	ImageID = "id"
)

// Prefix starts the id of every order the new service creates; ids without
// it are the legacy table's decimal ids.
const Prefix = "ord_"

// Stored is an order as stored: the API's order plus the idempotency key it
// was created with ("" for none). It may be copied.
type Stored struct {
	order.Order
	IdempotencyKey string
}

// ErrTombstone is an item that marks a deleted order (invariant 4): readers
// treat it as absent.
var ErrTombstone = errors.New("the order was deleted (tombstone)")

// Item encodes s as an orders-table item without the toolkit's attributes
// (src_pos, deleted, expires_at): the caller adds src_pos.
func Item(s Stored) (map[string]types.AttributeValue, error) {
	o := s.Order
	items, err := jsonAttr(AttrItems, o.Items)
	if err != nil {
		return nil, fmt.Errorf("order %s: items: %w", o.ID, err)
	}
	item := map[string]types.AttributeValue{
		codec.AttrPK:   str(o.ID),
		AttrCustomerID: str(o.CustomerID),
		AttrChannel:    str(string(o.Channel)),
		AttrStatus:     str(string(o.Status)),
		AttrCurrency:   str(o.Currency),
		AttrItems:      items,
		AttrTotal:      &types.AttributeValueMemberN{Value: o.Total.String()},
		AttrCreatedAt:  str(o.CreatedAt.String()),
		AttrUpdatedAt:  str(o.UpdatedAt.String()),
		AttrVersion:    &types.AttributeValueMemberN{Value: strconv.FormatUint(uint64(o.Version), 10)},
	}
	if o.ShippingAddress != nil {
		a, err := jsonAttr(AttrShippingAddress, o.ShippingAddress)
		if err != nil {
			return nil, fmt.Errorf("order %s: shipping_address: %w", o.ID, err)
		}
		item[AttrShippingAddress] = a
	}
	if o.Notes != "" {
		item[AttrNotes] = str(o.Notes)
	}
	if s.IdempotencyKey != "" {
		item[AttrIdempotencyKey] = str(s.IdempotencyKey)
	}
	return item, nil
}

// FromItem decodes an orders-table item, whichever writer wrote it. A
// tombstone is ErrTombstone.
func FromItem(item map[string]types.AttributeValue) (Stored, error) {
	var s Stored
	if b, ok := item[codec.AttrDeleted].(*types.AttributeValueMemberBOOL); ok && b.Value {
		return s, ErrTombstone
	}
	pk, ok := item[codec.AttrPK].(*types.AttributeValueMemberS)
	if !ok {
		return s, errors.New("item has no string pk")
	}
	o := &s.Order
	o.ID = pk.Value
	bad := func(attr string, err error) (Stored, error) {
		return Stored{}, fmt.Errorf("order %s: attribute %s: %w", o.ID, attr, err)
	}
	var err error
	if o.CustomerID, err = getS(item, AttrCustomerID, true); err != nil {
		return bad(AttrCustomerID, err)
	}
	ch, err := getS(item, AttrChannel, true)
	if err != nil {
		return bad(AttrChannel, err)
	}
	st, err := getS(item, AttrStatus, true)
	if err != nil {
		return bad(AttrStatus, err)
	}
	o.Channel, o.Status = order.Channel(ch), order.Status(st)
	if o.Currency, err = getS(item, AttrCurrency, true); err != nil {
		return bad(AttrCurrency, err)
	}
	if err := fromJSONAttr(AttrItems, item[AttrItems], &o.Items); err != nil {
		return bad(AttrItems, err)
	}
	total, ok := item[AttrTotal].(*types.AttributeValueMemberN)
	if !ok {
		return bad(AttrTotal, errors.New("missing or not a number"))
	}
	if o.Total, err = order.ParseMoney(total.Value); err != nil {
		return bad(AttrTotal, err)
	}
	if av, ok := item[AttrShippingAddress]; ok {
		if _, null := av.(*types.AttributeValueMemberNULL); !null {
			o.ShippingAddress = new(order.Address)
			if err := fromJSONAttr(AttrShippingAddress, av, o.ShippingAddress); err != nil {
				return bad(AttrShippingAddress, err)
			}
		}
	}
	if o.Notes, err = getS(item, AttrNotes, false); err != nil {
		return bad(AttrNotes, err)
	}
	if s.IdempotencyKey, err = getS(item, AttrIdempotencyKey, false); err != nil {
		return bad(AttrIdempotencyKey, err)
	}
	for _, f := range []struct {
		attr string
		ts   *order.Timestamp
	}{{AttrCreatedAt, &o.CreatedAt}, {AttrUpdatedAt, &o.UpdatedAt}} {
		v, err := getS(item, f.attr, true)
		if err != nil {
			return bad(f.attr, err)
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return bad(f.attr, err)
		}
		*f.ts = order.NewTimestamp(t)
	}
	ver, ok := item[AttrVersion].(*types.AttributeValueMemberN)
	if !ok {
		return bad(AttrVersion, errors.New("missing or not a number"))
	}
	v, err := strconv.ParseUint(ver.Value, 10, 32)
	if err != nil {
		return bad(AttrVersion, err)
	}
	o.Version = uint32(v)
	return s, nil
}

// Image is s as the Detail.order of an event: keyed by column name, as the
// cdc publishes the row s would be in the legacy table. A legacy (decimal)
// id is a number, a new-service id a string.
func Image(s Stored) map[string]any {
	o := s.Order
	var id any = o.ID
	if n, err := strconv.ParseUint(o.ID, 10, 64); err == nil {
		id = n
	}
	img := map[string]any{
		ImageID:             id,
		AttrCustomerID:      o.CustomerID,
		AttrChannel:         string(o.Channel),
		AttrStatus:          string(o.Status),
		AttrCurrency:        o.Currency,
		AttrItems:           o.Items,
		AttrTotal:           o.Total.String(),
		AttrShippingAddress: nil,
		AttrNotes:           nil,
		AttrIdempotencyKey:  nil,
		AttrCreatedAt:       o.CreatedAt.String(),
		AttrUpdatedAt:       o.UpdatedAt.String(),
		AttrVersion:         o.Version,
	}
	if o.ShippingAddress != nil {
		img[AttrShippingAddress] = o.ShippingAddress
	}
	if o.Notes != "" {
		img[AttrNotes] = o.Notes
	}
	if s.IdempotencyKey != "" {
		img[AttrIdempotencyKey] = s.IdempotencyKey
	}
	return img
}

// imageWire is the decoding form of an image.
type imageWire struct {
	ID              json.RawMessage `json:"id"`
	CustomerID      string          `json:"customer_id"`
	Channel         order.Channel   `json:"channel"`
	Status          order.Status    `json:"status"`
	Currency        string          `json:"currency"`
	Items           []order.Item    `json:"items"`
	Total           order.Money     `json:"total"`
	ShippingAddress *order.Address  `json:"shipping_address"`
	Notes           *string         `json:"notes"`
	IdempotencyKey  *string         `json:"idempotency_key"`
	CreatedAt       order.Timestamp `json:"created_at"`
	UpdatedAt       order.Timestamp `json:"updated_at"`
	Version         uint32          `json:"version"`
}

// FromImage decodes an event's Detail.order (as raw JSON) back to the
// stored order. Unknown columns are ignored.
func FromImage(raw json.RawMessage) (Stored, error) {
	var w imageWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return Stored{}, fmt.Errorf("decoding the event's order image: %w", err)
	}
	var id string
	if err := json.Unmarshal(w.ID, &id); err != nil {
		var n uint64
		if err := json.Unmarshal(w.ID, &n); err != nil {
			return Stored{}, fmt.Errorf("the event's order image has no usable id (%s): want a string or an unsigned integer", w.ID)
		}
		id = strconv.FormatUint(n, 10)
	}
	if id == "" {
		return Stored{}, errors.New("the event's order image has an empty id")
	}
	s := Stored{Order: order.Order{
		ID: id, CustomerID: w.CustomerID, Channel: w.Channel, Status: w.Status, Currency: w.Currency,
		Items: w.Items, Total: w.Total, ShippingAddress: w.ShippingAddress,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, Version: w.Version,
	}}
	if w.Notes != nil {
		s.Notes = *w.Notes
	}
	if w.IdempotencyKey != nil {
		s.IdempotencyKey = *w.IdempotencyKey
	}
	return s, nil
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// getS reads string attribute k; absent is "" unless required.
func getS(item map[string]types.AttributeValue, k string, required bool) (string, error) {
	switch v := item[k].(type) {
	case *types.AttributeValueMemberS:
		return v.Value, nil
	case nil:
		if required {
			return "", errors.New("missing")
		}
		return "", nil
	case *types.AttributeValueMemberNULL:
		if required {
			return "", errors.New("null")
		}
		return "", nil
	default:
		return "", fmt.Errorf("a %T, want a string", v)
	}
}

// jsonAttr encodes v as the codec encodes column col holding its JSON
// (objects as M, arrays as L, numbers as N, strings as S): one path for
// orders the new service writes and rows the backfill and the cdc copy.
func jsonAttr(col string, v any) (types.AttributeValue, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	c := codec.Column{Name: col, Attribute: col, Type: codec.JSON}
	canonical, err := c.FromText(b, false)
	if err != nil {
		return nil, err
	}
	return c.Attr(canonical)
}

// fromJSONAttr decodes column col's attribute av into v through the JSON
// the codec reads it as.
func fromJSONAttr(col string, av types.AttributeValue, v any) error {
	if av == nil {
		return errors.New("missing")
	}
	canonical, err := codec.Column{Name: col, Attribute: col, Type: codec.JSON}.FromAttr(av)
	if err != nil {
		return err
	}
	b, err := json.Marshal(canonical)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
