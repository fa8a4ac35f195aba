package eventbus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/problem"
)

// Client is a typed client of a running bus's admin API, for tests and
// scripts: read the counts, inject faults. Events go in through the AWS
// SDK (awsconf.Local(url).EventBridge). The zero value is not usable; make
// one with NewClient. It is safe for concurrent use.
type Client struct {
	base       string
	adminToken config.Secret
	hc         *http.Client
}

// NewClient returns a client of the bus at baseURL ("http://127.0.0.1:4010")
// authenticating with adminToken. hc nil means http.DefaultClient.
func NewClient(baseURL string, adminToken config.Secret, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), adminToken: adminToken, hc: hc}
}

// Stats returns the bus's counts.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var out Stats
	if err := c.do(ctx, http.MethodGet, "/admin/stats", nil, &out); err != nil {
		return Stats{}, fmt.Errorf("reading bus stats: %w", err)
	}
	return out, nil
}

// SetFaults changes the faults present in u and returns those now in force.
func (c *Client) SetFaults(ctx context.Context, u FaultsUpdate) (FaultConfig, error) {
	var out FaultConfig
	if err := c.do(ctx, http.MethodPut, "/admin/faults", u, &out); err != nil {
		return FaultConfig{}, fmt.Errorf("setting bus faults: %w", err)
	}
	return out, nil
}

// ClearFaults heals the bus.
func (c *Client) ClearFaults(ctx context.Context) error {
	if err := c.do(ctx, http.MethodDelete, "/admin/faults", nil, nil); err != nil {
		return fmt.Errorf("clearing bus faults: %w", err)
	}
	return nil
}

// do sends one admin call and decodes a 2xx answer into out (when not
// nil); any other answer is returned as a *problem.Problem.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
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
	req.Header.Set("Authorization", "Bearer "+c.adminToken.Reveal())
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return problem.ReadResponse(resp, 16<<20, out)
}
