package shadow

import (
	"cmp"
	"slices"
	"strings"
	"sync"
)

// Bounds on what one route keeps, so a route with unbounded field names
// (map keys holding ids, very long arrays are normalised already) cannot
// grow memory or metric series without limit.
const (
	maxFields     = 256       // distinct fields per route; the rest count as fieldOther
	maxSignatures = 1024      // distinct sets of mismatching fields per route
	fieldOther    = "(other)" // fields beyond maxFields
)

// stats keeps the comparison figures of every route. Its methods are safe
// for concurrent use; the zero value is not usable, make one with newStats.
type stats struct {
	samples       int
	noiseMargin   float64
	minMismatches int64

	mu     sync.Mutex
	routes map[string]*routeStats
}

// routeStats are one route's figures.
type routeStats struct {
	compared, noiseCompared, dropped, errors int64
	fields                                   map[string]*fieldStats
	// signatures counts exchanges by the set of fields on which new
	// differed, so Mismatched (exchanges with at least one reported field)
	// can be counted against the current noise figures at report time.
	signatures map[string]*signature
	// lateMismatched counts exchanges past maxSignatures, judged against
	// the figures as they were when they were compared.
	lateMismatched int64
}

type fieldStats struct {
	mismatches, noise int64
	samples           []Sample // most recent last
}

type signature struct {
	fields []string
	count  int64
}

func newStats(cfg Config) *stats {
	return &stats{samples: cfg.Samples, noiseMargin: cfg.NoiseMargin, minMismatches: int64(cfg.MinMismatches), routes: map[string]*routeStats{}}
}

func (s *stats) route(name string) *routeStats {
	r, ok := s.routes[name]
	if !ok {
		r = &routeStats{fields: map[string]*fieldStats{}, signatures: map[string]*signature{}}
		s.routes[name] = r
	}
	return r
}

// field returns name's figures, creating them; name comes from fieldName.
func (r *routeStats) field(name string) *fieldStats {
	f, ok := r.fields[name]
	if !ok {
		f = &fieldStats{}
		r.fields[name] = f
	}
	return f
}

// fieldName is the name name is counted under: itself, or fieldOther once
// the route holds maxFields fields.
func (r *routeStats) fieldName(name string) string {
	if _, ok := r.fields[name]; ok || len(r.fields) < maxFields {
		return name
	}
	return fieldOther
}

func (s *stats) dropped(route string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.route(route).dropped++
}

func (s *stats) failed(route string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.route(route).errors++
}

// record adds one compared exchange of route: mism are new-vs-legacy
// differences, noise legacy-vs-legacy ones when measured. It returns the
// field names each was counted under, for the metrics.
func (s *stats) record(route, reqPath string, mism, noise []difference, measured bool) (mismFields, noiseFields []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.route(route)
	r.compared++
	if measured {
		r.noiseCompared++
	}
	seen := map[string]bool{}
	for _, d := range mism {
		name := r.fieldName(d.field)
		if seen[name] {
			continue // one count (and sample) per field per exchange
		}
		seen[name] = true
		mismFields = append(mismFields, name)
		f := r.field(name)
		f.mismatches++
		if s.samples > 0 {
			f.samples = append(f.samples, Sample{Path: reqPath, Field: d.path, Legacy: d.a, New: d.b})
			if len(f.samples) > s.samples {
				f.samples = slices.Delete(f.samples, 0, len(f.samples)-s.samples)
			}
		}
	}
	clear(seen)
	for _, d := range noise {
		name := r.fieldName(d.field)
		if seen[name] {
			continue
		}
		seen[name] = true
		noiseFields = append(noiseFields, name)
		r.field(name).noise++
	}
	if len(mismFields) == 0 {
		return mismFields, noiseFields
	}
	slices.Sort(mismFields)
	key := strings.Join(mismFields, "\x00")
	if sig, ok := r.signatures[key]; ok {
		sig.count++
	} else if len(r.signatures) < maxSignatures {
		r.signatures[key] = &signature{fields: slices.Clone(mismFields), count: 1}
	} else if slices.ContainsFunc(mismFields, func(f string) bool { return s.reported(r, r.fields[f]) }) {
		r.lateMismatched++
	}
	return mismFields, noiseFields
}

// reported is the noise-cancelling rule: a field is a real difference when
// new disagreed with legacy on it at least minMismatches times and clearly
// more often than legacy disagreed with itself.
func (s *stats) reported(r *routeStats, f *fieldStats) bool {
	return reportable(f.mismatches, r.compared, f.noise, r.noiseCompared, s.minMismatches, s.noiseMargin)
}

// reportable says whether mismatches out of compared exceed noise out of
// noiseCompared by more than margin, with at least minMismatches
// mismatches. Without any noise measurement (writes) the noise rate is 0.
func reportable(mismatches, compared, noise, noiseCompared, minMismatches int64, margin float64) bool {
	if mismatches < minMismatches || compared == 0 {
		return false
	}
	return rate(mismatches, compared)-rate(noise, noiseCompared) > margin
}

func rate(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// report returns a snapshot of every route's figures.
func (s *stats) report() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Report{Routes: []RouteReport{}}
	for name, r := range s.routes {
		rr := RouteReport{
			Route: name, Compared: r.compared, NoiseCompared: r.noiseCompared,
			Dropped: r.dropped, Errors: r.errors, Mismatched: r.lateMismatched, Fields: []FieldReport{},
		}
		for fname, f := range r.fields {
			rr.Fields = append(rr.Fields, FieldReport{
				Field: fname, Mismatches: f.mismatches, Noise: f.noise,
				MismatchRate: rate(f.mismatches, r.compared), NoiseRate: rate(f.noise, r.noiseCompared),
				Reported: s.reported(r, f), Samples: append([]Sample{}, f.samples...),
			})
		}
		for _, sig := range r.signatures {
			if slices.ContainsFunc(sig.fields, func(f string) bool { return s.reported(r, r.fields[f]) }) {
				rr.Mismatched += sig.count
			}
		}
		rr.MismatchRate = rate(rr.Mismatched, r.compared)
		slices.SortFunc(rr.Fields, func(a, b FieldReport) int {
			switch {
			case a.Reported != b.Reported:
				if a.Reported {
					return -1
				}
				return 1
			case a.Mismatches != b.Mismatches:
				return cmp.Compare(b.Mismatches, a.Mismatches)
			}
			return strings.Compare(a.Field, b.Field)
		})
		out.Routes = append(out.Routes, rr)
	}
	slices.SortFunc(out.Routes, func(a, b RouteReport) int { return strings.Compare(a.Route, b.Route) })
	return out
}
