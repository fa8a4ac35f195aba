package proxy

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/anycompany/strangler/internal/problem"
)

// History defaults: a sample every 10 s for the last hour.
const (
	defaultHistoryEvery = 10 * time.Second
	historySamples      = 360
	// historyWindow is the span each sample's figures cover: the last
	// minute, as GET /admin/routes's last_60s, so a chart seeded from the
	// history goes on with the live figures without a jump.
	historyWindow = 60 * time.Second
)

// HistorySample is one route's or write group's figures at a moment: each
// backend's over the minute before At.
type HistorySample struct {
	At     time.Time     `json:"at"`
	Legacy WindowFigures `json:"legacy"`
	New    WindowFigures `json:"new"`
}

// HistoryView is the answer of GET /admin/routes/{route}/history: the
// samples oldest first, one every EverySeconds.
type HistoryView struct {
	Route        string          `json:"route"`
	EverySeconds float64         `json:"every_s"`
	Samples      []HistorySample `json:"samples"`
}

// ring keeps the last len(buf) samples. The zero value holds nothing; make
// one with make(…, n) in buf. Never copy one.
type ring struct {
	buf  []HistorySample
	next int // where the next sample goes
	full bool
}

func (r *ring) add(s HistorySample) {
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// samples returns a copy, oldest first.
func (r *ring) samples() []HistorySample {
	if !r.full {
		return append([]HistorySample{}, r.buf[:r.next]...)
	}
	return append(append(make([]HistorySample, 0, len(r.buf)), r.buf[r.next:]...), r.buf[:r.next]...)
}

// History keeps, per route and per write group, the last historySamples
// samples of its figures in memory (an hour at the default 10 s), so that
// a console opened late still charts what came before. It is bounded: a
// ring per name, and names gone from the table are dropped. Never copy one.
type History struct {
	stats *Stats
	now   func() time.Time
	every time.Duration
	size  int
	mu    sync.Mutex
	rings map[string]*ring
}

// NewHistory returns an empty History reading stats, sampled every every
// (Run), keeping size samples per name.
func NewHistory(stats *Stats, now func() time.Time, every time.Duration, size int) *History {
	return &History{stats: stats, now: now, every: every, size: size, rings: map[string]*ring{}}
}

// sample records one sample of each unit: name -> the routes whose
// figures it sums (a route itself, or a write group's members).
func (h *History) sample(units map[string][]string) {
	now := h.now()
	since := now.Add(-historyWindow + time.Second)
	h.mu.Lock()
	defer h.mu.Unlock()
	for name := range h.rings {
		if _, ok := units[name]; !ok {
			delete(h.rings, name)
		}
	}
	for name, routes := range units {
		r, ok := h.rings[name]
		if !ok {
			r = &ring{buf: make([]HistorySample, h.size)}
			h.rings[name] = r
		}
		r.add(HistorySample{At: now, Legacy: figures(h.stats.Window(BackendLegacy, since, routes...)),
			New: figures(h.stats.Window(BackendNew, since, routes...))})
	}
}

func figures(ws WindowStats) WindowFigures {
	return WindowFigures{Requests: ws.Requests, Errors: ws.Errors5xx, P50ms: ms(ws.P50), P99ms: ms(ws.P99)}
}

// Samples returns name's samples, oldest first, and whether name is known.
func (h *History) Samples(name string) ([]HistorySample, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.rings[name]
	if !ok {
		return nil, false
	}
	return r.samples(), true
}

// Run samples units() every h.every until ctx ends.
func (h *History) Run(ctx context.Context, units func() map[string][]string) error {
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			h.sample(units())
		}
	}
}

// historyUnits lists every route of the table (the unmatched one too) and
// every write group, with the routes whose figures each one sums.
func (s *Switch) historyUnits() map[string][]string {
	t := s.Table()
	out := map[string][]string{t.unmatched.Name(): {t.unmatched.Name()}}
	for _, r := range t.routes {
		out[r.Name()] = []string{r.Name()}
	}
	for name, g := range t.groups {
		out[name] = g.members
	}
	return out
}

func (a *Admin) history(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("route")
	if a.hist == nil {
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "No history", "this proxy keeps no history"))
		return
	}
	samples, ok := a.hist.Samples(name)
	if !ok {
		if _, known := a.sw.historyUnits()[name]; !known {
			problem.Write(w, problem.New(http.StatusNotFound, "Unknown route", fmt.Sprintf("route or write group %q: %v", name, ErrUnknownRoute)))
			return
		}
		samples = []HistorySample{} // not sampled yet
	}
	writeJSON(w, http.StatusOK, HistoryView{Route: name, EverySeconds: a.hist.every.Seconds(), Samples: samples})
}

// History returns GET /admin/routes/{route}/history.
func (c *AdminClient) History(ctx context.Context, route string) (HistoryView, error) {
	var v HistoryView
	return v, c.do(ctx, http.MethodGet, "/admin/routes/"+url.PathEscape(route)+"/history", nil, &v)
}
