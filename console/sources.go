package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/proxy"
	"github.com/anycompany/strangler/proxy/plan"
	"github.com/anycompany/strangler/proxy/shadow"
)

// ProxyAdmin is the part of the proxy's admin API the console calls
// (*proxy.AdminClient, the client the CLI uses, so an action leaves the same
// audit trail as 'strangler route').
type ProxyAdmin interface {
	Routes(ctx context.Context) (proxy.RoutesView, error)
	SetRoute(ctx context.Context, route string, req proxy.SetRouteRequest) (proxy.RouteState, error)
	Plan(ctx context.Context, route string, req proxy.PlanRequest) (plan.Status, error)
	Audit(ctx context.Context, route string, limit int) ([]proxy.AuditEntry, error)
	History(ctx context.Context, route string) (proxy.HistoryView, error)
}

var _ ProxyAdmin = (*proxy.AdminClient)(nil)

// auditLimit is how many audit entries a snapshot carries (filtered in the page).
const auditLimit = 200

// Snapshot is everything a page shows, read from the parts when asked; the
// console keeps none of it. A value may be copied.
type Snapshot struct {
	At     time.Time         `json:"at"`
	Phase  string            `json:"phase"`
	Routes *proxy.RoutesView `json:"routes,omitempty"`
	// LastRollback is the newest rollback of any plan, or nil.
	LastRollback *Rollback             `json:"last_rollback,omitempty"`
	Diffs        *shadow.Report        `json:"diffs,omitempty"`
	Audit        []proxy.AuditEntry    `json:"audit"`
	Backfill     *Backfill             `json:"backfill,omitempty"`
	Verify       *control.VerifyResult `json:"verify,omitempty"`
	// DeadLetters are the first of DeadLetterCount dead letters.
	DeadLetters     []DeadLetter `json:"dead_letters,omitempty"`
	DeadLetterCount int          `json:"dead_letter_count"`
	// DeadLetterAudit is the dead letters' audit log, newest first.
	DeadLetterAudit []DeadLetterAudit `json:"dead_letter_audit,omitempty"`
	// DeadLettersShown says the console reads dead letters at all.
	DeadLettersShown bool         `json:"dead_letters_shown"`
	CDC              *PartFigures `json:"cdc,omitempty"`
	Syncback         *PartFigures `json:"syncback,omitempty"`
	// Errors names each part that could not be read and why.
	Errors map[string]string `json:"errors,omitempty"`
}

// Backfill is the backfill's progress with its pace and the time left
// (ETASeconds is 0 when done or unknown).
type Backfill struct {
	control.BackfillProgress
	RowsPerSecond float64 `json:"rows_per_second"`
	ETASeconds    float64 `json:"eta_seconds"`
}

// ControlReader is what the console reads of the control table.
type ControlReader interface {
	control.Querier
	control.ItemGetter
}

// Rollback is a plan's rollback as the overview shows it.
type Rollback struct {
	Route  string    `json:"route"`
	At     time.Time `json:"at"`
	Step   int       `json:"step"`
	Weight float64   `json:"weight"`
	Reason string    `json:"reason"`
}

// PartFigures are a part's figures: its strangler_* metric samples, keyed
// name{label="value",...} (histograms as _count, _sum and _p99), and its
// /status answer when it has one. The page turns counters into rates
// between two snapshots.
type PartFigures struct {
	Metrics map[string]float64 `json:"metrics"`
	Status  json.RawMessage    `json:"status,omitempty"`
}

// reader reads the parts. Never copy one.
type reader struct {
	admin    ProxyAdmin
	adminURL string
	token    string
	cdcURL   string
	sbURL    string
	http     *http.Client
	timeout  time.Duration
	now      func() time.Time
	ddb      ControlReader
	mig      MigrationConfig
	dead     DeadLetters
}

// snapshot reads every part at once; a part that fails is named in Errors.
func (rd *reader) snapshot(ctx context.Context) Snapshot {
	ctx, cancel := context.WithTimeout(ctx, rd.timeout)
	defer cancel()
	s := Snapshot{At: rd.now(), Audit: []proxy.AuditEntry{}, Errors: map[string]string{}}
	var mu sync.Mutex
	fail := func(part string, err error) {
		mu.Lock()
		s.Errors[part] = err.Error()
		mu.Unlock()
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		v, err := rd.admin.Routes(ctx)
		if err != nil {
			fail("proxy", err)
			return
		}
		s.Routes = &v
	})
	wg.Go(func() {
		var rep shadow.Report
		if err := rd.getJSON(ctx, rd.adminURL+"/admin/diffs", rd.token, &rep); err != nil {
			fail("diffs", err)
			return
		}
		s.Diffs = &rep
	})
	wg.Go(func() {
		a, err := rd.admin.Audit(ctx, "", auditLimit)
		if err != nil {
			fail("audit", err)
			return
		}
		s.Audit = append(s.Audit, a...)
	})
	for _, p := range []struct {
		name, url string
		into      **PartFigures
	}{{"cdc", rd.cdcURL, &s.CDC}, {"syncback", rd.sbURL, &s.Syncback}} {
		if p.url == "" {
			continue
		}
		wg.Go(func() {
			f, err := rd.part(ctx, p.url)
			if err != nil {
				fail(p.name, err)
			}
			*p.into = f
		})
	}
	if rd.ddb != nil && rd.mig.ControlTable != "" {
		wg.Go(func() {
			if err := rd.migration(ctx, &s); err != nil {
				fail("migration", err)
			}
		})
	}
	if rd.dead != nil {
		s.DeadLettersShown = true
		wg.Go(func() {
			if err := rd.deadLetters(ctx, &s); err != nil {
				fail("deadletters", err)
			}
		})
	}
	wg.Wait()
	s.Phase = phase(s.Routes)
	s.LastRollback = lastRollback(s.Routes)
	return s
}

// migration reads the backfill's progress and verify's last result.
func (rd *reader) migration(ctx context.Context, s *Snapshot) error {
	p, ok, err := control.LoadBackfillProgress(ctx, rd.ddb, rd.mig.ControlTable, rd.mig.BackfillJob)
	if err != nil {
		return err
	}
	if ok {
		s.Backfill = pace(p, s.At)
	}
	v, ok, err := control.LoadVerifyResult(ctx, rd.ddb, rd.mig.ControlTable, rd.mig.Table)
	if err != nil {
		return err
	}
	if ok {
		s.Verify = &v
	}
	return nil
}

// pace adds the rows per second since the job was created and the time
// left at that pace.
func pace(p control.BackfillProgress, now time.Time) *Backfill {
	b := &Backfill{BackfillProgress: p}
	end := now
	if p.State == "done" {
		end = p.Updated
	}
	if el := end.Sub(p.Created).Seconds(); el > 0 && !p.Created.IsZero() {
		b.RowsPerSecond = float64(p.RowsDone) / el
	}
	if p.State != "done" && b.RowsPerSecond > 0 && p.TotalRows > p.RowsDone {
		b.ETASeconds = float64(p.TotalRows-p.RowsDone) / b.RowsPerSecond
	}
	return b
}

// part reads a part's /metrics and, when it serves one, its /status.
func (rd *reader) part(ctx context.Context, root string) (*PartFigures, error) {
	root = strings.TrimRight(root, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, root+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("building GET %s/metrics: %w", root, err)
	}
	resp, err := rd.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s/metrics: %w", root, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", root, resp.Status)
	}
	m, err := parseMetrics(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s/metrics: %w", root, err)
	}
	f := &PartFigures{Metrics: m}
	var st json.RawMessage
	if err := rd.getJSON(ctx, root+"/status", "", &st); err == nil {
		f.Status = st
	}
	return f, nil
}

func (rd *reader) getJSON(ctx context.Context, url, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("building GET %s: %w", url, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := rd.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if err := problem.ReadResponse(resp, 16<<20, out); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// parseMetrics reads Prometheus text and keeps the strangler_* samples.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing Prometheus text: %w", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "strangler_") {
			continue
		}
		for _, m := range f.GetMetric() {
			key := name + labels(m.GetLabel())
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				h := m.GetHistogram()
				sfx := labels(m.GetLabel())
				out[name+"_count"+sfx] = float64(h.GetSampleCount())
				out[name+"_sum"+sfx] = h.GetSampleSum()
				out[name+"_p99"+sfx] = histQuantile(h, 0.99)
			}
		}
	}
	return out, nil
}

func labels(ls []*dto.LabelPair) string {
	if len(ls) == 0 {
		return ""
	}
	parts := make([]string, 0, len(ls))
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// histQuantile is the upper bound of the bucket holding quantile q (0 when
// empty): coarse, but it is what the histogram knows.
func histQuantile(h *dto.Histogram, q float64) float64 {
	n := h.GetSampleCount()
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	for _, b := range h.GetBucket() {
		if float64(b.GetCumulativeCount()) >= rank {
			return b.GetUpperBound()
		}
	}
	return 0
}

// phase names the migration's phase from the routes' modes.
func phase(v *proxy.RoutesView) string {
	if v == nil || len(v.Routes) == 0 {
		return "unknown (the proxy cannot be read)"
	}
	var modes []proxy.Mode
	for _, r := range v.Routes {
		modes = append(modes, r.State.Mode)
	}
	all := func(m proxy.Mode) bool {
		return !slices.ContainsFunc(modes, func(x proxy.Mode) bool { return x != m })
	}
	switch {
	case all(proxy.ModeLegacy):
		return "legacy: nothing sent to new yet"
	case all(proxy.ModeNew):
		return "cut over: new serves every route"
	case slices.Contains(modes, proxy.ModeCanary) || slices.Contains(modes, proxy.ModeNew):
		return "moving: traffic is shifting to new route by route"
	}
	return "shadow: new is compared with legacy, legacy answers"
}

// lastRollback finds the newest rollback in the plans' histories.
func lastRollback(v *proxy.RoutesView) *Rollback {
	if v == nil {
		return nil
	}
	var last *Rollback
	consider := func(st *plan.Status) {
		if st == nil {
			return
		}
		for _, e := range st.History {
			if e.Action == "rollback" && (last == nil || e.At.After(last.At)) {
				last = &Rollback{Route: st.Route, At: e.At, Step: e.Step, Weight: e.Weight, Reason: e.Reason}
			}
		}
	}
	for _, r := range v.Routes {
		consider(r.Plan)
	}
	return last
}
