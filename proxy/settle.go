package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// orderPath is where both backends answer an order with its version: the
// order API's GET /v1/orders/{id} (shared/DESIGN.md, "Order HTTP API").
const orderPath = "/v1/orders/"

// settlePoll is how often a held write asks both backends again.
const settlePoll = 20 * time.Millisecond

// inflight counts the group writes of each order in flight to each backend
// on this replica, so a write whose order changed owner waits until the old
// owner answered every earlier one. The zero value is ready; never copy one.
type inflight struct {
	mu sync.Mutex
	n  map[inflightKey]int
}

type inflightKey struct {
	id string
	b  Backend
}

// add counts one write of id to b and returns its release.
func (f *inflight) add(id string, b Backend) func() {
	k := inflightKey{id, b}
	f.mu.Lock()
	if f.n == nil {
		f.n = map[inflightKey]int{}
	}
	f.n[k]++
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		if f.n[k]--; f.n[k] <= 0 {
			delete(f.n, k)
		}
		f.mu.Unlock()
	}
}

func (f *inflight) busy(id string, b Backend) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[inflightKey{id, b}] > 0
}

// writeOwner holds a group write on the existing order id bound for to,
// when the group's last flip moved that order and its settle window is
// open, until the order settled: no write of it is in flight here to the
// previous owner, and both backends report the same version (the cdc or
// the sync-back delivered the previous owner's last change). Then (or at
// once) it counts the write in flight and returns its release. Past the
// group's settle_wait it fails with ErrNotSettled and nothing was sent.
func (p *Proxy) writeOwner(r *http.Request, rt *Route, id string, to Backend) (func(), error) {
	g := rt.group
	from := BackendLegacy
	if Bucket(id) < g.prevThreshold {
		from = BackendNew
	}
	if from != to && p.now().Before(g.settleUntil) {
		deadline := p.now().Add(g.cfg.SettleWait)
		for {
			ok, why := p.settled(r, id, from, to)
			if ok {
				break
			}
			if !p.now().Before(deadline) {
				p.log.Warn("write held past settle_wait: refused", "group", g.cfg.Name, "order", id, "from", from, "to", to, "why", why)
				return nil, fmt.Errorf("%w (order %s, %s to %s: %s)", ErrNotSettled, id, from, to, why)
			}
			if err := p.sleep(r.Context(), settlePoll); err != nil {
				return nil, err
			}
		}
	}
	return p.writes.add(id, to), nil
}

// settled reports whether order id has settled from one owner to another,
// and if not why.
func (p *Proxy) settled(r *http.Request, id string, from, to Backend) (bool, string) {
	if p.writes.busy(id, from) {
		return false, "a write to " + string(from) + " is in flight"
	}
	ups := p.ups.Load()
	fv, fok, err := p.version(r, ups.of(from), id)
	if err != nil {
		return false, err.Error()
	}
	if !fok {
		return true, "" // the old owner has no such order: nothing to deliver
	}
	tv, tok, err := p.version(r, ups.of(to), id)
	switch {
	case err != nil:
		return false, err.Error()
	case !tok:
		return false, fmt.Sprintf("%s has version %d, %s has no such order yet", from, fv, to)
	case tv != fv:
		return false, fmt.Sprintf("%s has version %d, %s has %d", from, fv, to, tv)
	}
	return true, ""
}

// version reads order id from up with the client's credentials (orders
// belong to a channel); ok is false when up has no such order for them.
func (p *Proxy) version(r *http.Request, up *Upstream, id string) (v uint64, ok bool, err error) {
	u := *up.url
	u.Path = orderPath + url.PathEscape(id)
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	resp, err := up.transport.RoundTrip(req)
	if err != nil {
		return 0, false, fmt.Errorf("reading order %s from %s: %w", id, up.name, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		_, _ = io.Copy(io.Discard, resp.Body)
		return 0, false, nil
	default:
		_, _ = io.Copy(io.Discard, resp.Body)
		return 0, false, fmt.Errorf("reading order %s from %s: %s", id, up.name, resp.Status)
	}
	var o struct {
		Version uint64 `json:"version"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&o); err != nil {
		return 0, false, fmt.Errorf("reading order %s from %s: %w", id, up.name, err)
	}
	return o.Version, true, nil
}

// of returns backend b's upstream.
func (u *upstreams) of(b Backend) *Upstream {
	if b == BackendNew {
		return u.new
	}
	return u.legacy
}
