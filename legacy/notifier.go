package legacy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/anycompany/strangler/internal/order"
)

// Notifier tells inventory (reserve) and accounting (record) about a new
// order, synchronously and one after the other, as the monolith always did.
// It is the monolith's flaw: it runs after the commit, so a failure here
// leaves an order stored that downstream never heard of. The zero value is
// not usable; make one with NewNotifier.
type Notifier struct {
	client        *http.Client
	inventoryURL  string
	accountingURL string
	timeout       time.Duration
}

// NewNotifier returns a notifier for cfg; an empty URL skips that call.
func NewNotifier(cfg DownstreamConfig, client *http.Client) *Notifier {
	return &Notifier{client: client, inventoryURL: cfg.InventoryURL, accountingURL: cfg.AccountingURL, timeout: cfg.Timeout}
}

type reservation struct {
	OrderID string            `json:"order_id"`
	Channel order.Channel     `json:"channel"`
	Items   []reservationItem `json:"items"`
}

type reservationItem struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

type entry struct {
	OrderID    string        `json:"order_id"`
	CustomerID string        `json:"customer_id"`
	Channel    order.Channel `json:"channel"`
	Currency   string        `json:"currency"`
	Total      order.Money   `json:"total"`
}

// Reserve asks inventory to reserve o's items.
func (n *Notifier) Reserve(ctx context.Context, o order.Order) error {
	if n.inventoryURL == "" {
		return nil
	}
	r := reservation{OrderID: o.ID, Channel: o.Channel}
	for _, it := range o.Items {
		r.Items = append(r.Items, reservationItem{SKU: it.SKU, Quantity: it.Quantity})
	}
	return n.post(ctx, n.inventoryURL+"/v1/reservations", "reserve-"+o.ID, r)
}

// Record asks accounting to record o's total.
func (n *Notifier) Record(ctx context.Context, o order.Order) error {
	if n.accountingURL == "" {
		return nil
	}
	return n.post(ctx, n.accountingURL+"/v1/entries", "record-"+o.ID,
		entry{OrderID: o.ID, CustomerID: o.CustomerID, Channel: o.Channel, Currency: o.Currency, Total: o.Total})
}

func (n *Notifier) post(ctx context.Context, url, idemKey string, body any) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encoding the call to %s: %w", url, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("calling %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idemKey)
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("calling %s: %w", url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("calling %s: status %d: %s", url, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}
