package orderitem

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/order"
)

func sample() Stored {
	at := order.NewTimestamp(time.Date(2026, 11, 22, 10, 0, 0, 123456000, time.UTC))
	return Stored{Order: order.Order{
		ID: "ord_01JTEST", CustomerID: "cust-1", Channel: order.Retail, Status: order.Pending, Currency: "USD",
		Items: []order.Item{{SKU: "RTL-1", Name: "Soap 🧼", Quantity: 3, UnitPrice: 1250}},
		Total: 3750, ShippingAddress: &order.Address{Name: "A", Line1: "1 Main", City: "X", PostalCode: "1", Country: "US"},
		Notes: "leave at door", CreatedAt: at, UpdatedAt: at, Version: 1,
	}, IdempotencyKey: "k-1"}
}

func TestItemRoundTrip(t *testing.T) {
	for name, s := range map[string]Stored{
		"full": sample(),
		"bare": func() Stored {
			s := sample()
			s.ID, s.ShippingAddress, s.Notes, s.IdempotencyKey, s.Items = "42", nil, "", "", []order.Item{}
			return s
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			item, err := Item(s)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := item[AttrNotes]; ok && s.Notes == "" {
				t.Error("empty notes must be an absent attribute (SQL NULL)")
			}
			got, err := FromItem(item)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(s, got); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
		})
	}
}

func TestImageRoundTrip(t *testing.T) {
	s := sample()
	b, err := json.Marshal(Image(s))
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromImage(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(s, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	s.ID = "17"
	b, _ = json.Marshal(Image(s))
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if _, ok := m["id"].(float64); !ok {
		t.Errorf("a legacy id must be a JSON number in the image, got %T", m["id"])
	}
}

func TestTombstone(t *testing.T) {
	_, err := FromItem(map[string]types.AttributeValue{
		codec.AttrPK: str("9"), codec.AttrDeleted: &types.AttributeValueMemberBOOL{Value: true},
	})
	if !errors.Is(err, ErrTombstone) {
		t.Fatalf("err = %v, want ErrTombstone", err)
	}
}
