package downstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/problem"
)

// Client is a typed client of a running stand-in, for tests and scripts:
// ask what a service received, read the counts, inject faults. The zero
// value is not usable; make one with NewClient. It is safe for concurrent use.
type Client struct {
	base       string
	adminToken config.Secret
	hc         *http.Client
}

// NewClient returns a client of the stand-in at baseURL ("http://127.0.0.1:8091")
// that authenticates admin calls with adminToken. hc nil means http.DefaultClient.
func NewClient(baseURL string, adminToken config.Secret, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), adminToken: adminToken, hc: hc}
}

// Received returns what svc recorded for orderID, oldest first; an empty
// slice means the service never heard of the order (or has forgotten it,
// see max_records).
func (c *Client) Received(ctx context.Context, svc Service, orderID string) ([]Record, error) {
	var path string
	switch svc {
	case Inventory:
		path = "/inventory/v1/reservations"
	case Accounting:
		path = "/accounting/v1/entries"
	default:
		return nil, fmt.Errorf("unknown service %q: use %q or %q", svc, Inventory, Accounting)
	}
	var out Records
	if err := c.do(ctx, http.MethodGet, path+"?order_id="+url.QueryEscape(orderID), false, nil, &out); err != nil {
		return nil, fmt.Errorf("listing %s records of order %s: %w", svc, orderID, err)
	}
	return out.Items, nil
}

// Events returns the order events the services recorded for orderID
// (POST /events, duplicates dropped), oldest first.
func (c *Client) Events(ctx context.Context, orderID string) ([]EventRecord, error) {
	var out EventRecords
	if err := c.do(ctx, http.MethodGet, "/events?order_id="+url.QueryEscape(orderID), false, nil, &out); err != nil {
		return nil, fmt.Errorf("listing events of order %s: %w", orderID, err)
	}
	return out.Items, nil
}

// Stats returns the counts of both services.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var out Stats
	if err := c.do(ctx, http.MethodGet, "/admin/stats", true, nil, &out); err != nil {
		return Stats{}, fmt.Errorf("reading stats: %w", err)
	}
	return out, nil
}

// SetFaults sets the fault of each service present in fs and returns the
// faults now in force.
func (c *Client) SetFaults(ctx context.Context, fs Faults) (Faults, error) {
	var out Faults
	if err := c.do(ctx, http.MethodPut, "/admin/faults", true, fs, &out); err != nil {
		return Faults{}, fmt.Errorf("setting faults: %w", err)
	}
	return out, nil
}

// ClearFaults heals both services.
func (c *Client) ClearFaults(ctx context.Context) error {
	if err := c.do(ctx, http.MethodDelete, "/admin/faults", true, nil, nil); err != nil {
		return fmt.Errorf("clearing faults: %w", err)
	}
	return nil
}

// Reset forgets every record and zeroes the counts of both services.
func (c *Client) Reset(ctx context.Context) error {
	if err := c.do(ctx, http.MethodDelete, "/admin/records", true, nil, nil); err != nil {
		return fmt.Errorf("resetting records: %w", err)
	}
	return nil
}

// do sends one call and decodes a 2xx answer into out (when not nil). Any
// other answer is returned as a *problem.Problem.
func (c *Client) do(ctx context.Context, method, path string, admin bool, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if admin {
		req.Header.Set("Authorization", "Bearer "+c.adminToken.Reveal())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return problem.ReadResponse(resp, 64<<20, out)
}
