package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/proxy/plan"
)

// AdminClient calls a proxy's admin API (the 'strangler route' CLI). It is
// safe for concurrent use; the zero value is not usable: set BaseURL and Token.
type AdminClient struct {
	// BaseURL is the admin API's root, e.g. http://127.0.0.1:8089. Required.
	BaseURL string
	// Token is the admin bearer token. Required.
	Token string
	// HTTP sends the calls. Optional: defaults to http.DefaultClient.
	HTTP *http.Client
}

func (c *AdminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("building %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if err := problem.ReadResponse(resp, 16<<20, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// Routes returns GET /admin/routes.
func (c *AdminClient) Routes(ctx context.Context) (RoutesView, error) {
	var v RoutesView
	return v, c.do(ctx, http.MethodGet, "/admin/routes", nil, &v)
}

// SetRoute calls PUT /admin/routes/{route}.
func (c *AdminClient) SetRoute(ctx context.Context, route string, req SetRouteRequest) (RouteState, error) {
	var st RouteState
	return st, c.do(ctx, http.MethodPut, "/admin/routes/"+url.PathEscape(route), req, &st)
}

// Plan calls POST /admin/routes/{route}/plan.
func (c *AdminClient) Plan(ctx context.Context, route string, req PlanRequest) (plan.Status, error) {
	var st plan.Status
	return st, c.do(ctx, http.MethodPost, "/admin/routes/"+url.PathEscape(route)+"/plan", req, &st)
}

// Audit returns GET /admin/audit, newest first.
func (c *AdminClient) Audit(ctx context.Context, route string, limit int) ([]AuditEntry, error) {
	q := url.Values{}
	if route != "" {
		q.Set("route", route)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var v struct {
		Entries []AuditEntry `json:"entries"`
	}
	return v.Entries, c.do(ctx, http.MethodGet, "/admin/audit?"+q.Encode(), nil, &v)
}
