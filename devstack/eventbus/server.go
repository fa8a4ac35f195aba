package eventbus

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/anycompany/strangler/internal/clock"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/problem"
)

// Server is the bus: the AWS protocol on POST /, the admin API, and the
// parts behind them. The zero value is not usable; make one with New. It
// must not be copied.
type Server struct {
	cfg        Config // defaulted
	logger     *slog.Logger
	now        func() time.Time
	newID      func() string
	buses      map[string]bool
	faults     *Injector
	matcher    *Matcher
	archive    *Archive
	dead       *DeadLetters
	dispatcher *dispatcher
	counters   *counters
	handler    http.Handler
}

// Option changes how New builds a Server; tests use them to make time,
// chance and waiting deterministic.
type Option func(*options)

type options struct {
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	random func() float64 // faults
	jitter func() float64 // retry backoff
	newID  func() string
	client *http.Client
}

// WithClock sets the clock that stamps events and records. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithSleep sets how a retry backoff is waited out; it must return early
// with ctx.Err() when ctx ends. Default: a timer raced against ctx.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) { o.sleep = sleep }
}

// WithRandom sets the source of numbers in [0,1) behind fault injection;
// it is called under a lock. Retry jitter draws from a source of its own,
// so the faults a run injects depend only on its calls. Default: a PCG
// seeded with cfg.Seed (from the clock when 0).
func WithRandom(random func() float64) Option { return func(o *options) { o.random = random } }

// WithEventIDs sets the generator of event ids. Default: random UUIDs.
func WithEventIDs(newID func() string) Option { return func(o *options) { o.newID = newID } }

// WithHTTPClient sets the client that posts to targets. Default: a
// keep-alive client that ignores proxy settings.
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.client = hc } }

func (o *options) fill(seed uint64) {
	if o.now == nil {
		o.now = time.Now
	}
	if o.sleep == nil {
		o.sleep = clock.Sleep
	}
	if seed == 0 {
		seed = uint64(o.now().UnixNano())
	}
	if o.random == nil {
		o.random = mrand.New(mrand.NewPCG(seed, 0xb05)).Float64
	}
	o.jitter = mrand.New(mrand.NewPCG(seed, 0x717)).Float64
	if o.newID == nil {
		o.newID = randomUUID
	}
}

// New builds a bus from a validated cfg: it compiles the rules and opens
// the archive and dead-letter files. It does not listen or deliver; see
// Serve. Close releases the files when Serve is not used.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Server, error) {
	cfg = cfg.withDefaults()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o.fill(cfg.Seed)
	matcher, err := NewMatcher(cfg.Rules)
	if err != nil {
		return nil, err
	}
	archive, err := OpenArchive(cfg.ArchivePath)
	if err != nil {
		return nil, err
	}
	dead, err := OpenDeadLetters(cfg.DeadLetterPath)
	if err != nil {
		_ = archive.Close()
		return nil, err
	}
	if cfg.DeadLetterTable != "" {
		ddb, err := cfg.DynamoDB.DynamoDB(context.Background())
		if err != nil {
			_ = archive.Close()
			_ = dead.Close()
			return nil, err
		}
		dead.ToTable(deadletter.NewSink(ddb, cfg.DeadLetterTable, deadletter.Bus, o.now), func(err error) {
			logger.Error("the control table refused a dead letter; it is in the dead-letter file", "file", cfg.DeadLetterPath, "err", err)
		})
	}
	s := &Server{
		cfg: cfg, logger: logger, now: o.now, newID: o.newID,
		buses:    map[string]bool{DefaultBus: true},
		faults:   NewInjector(cfg.Faults, o.random),
		matcher:  matcher,
		archive:  archive,
		dead:     dead,
		counters: newCounters(cfg.Rules),
	}
	for _, b := range cfg.Buses {
		s.buses[b] = true
	}
	sender := NewSender(o.client, o.sleep, o.jitter)
	s.dispatcher = newDispatcher(cfg.Rules, sender, dead, s.counters, o.now, logger)
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler of the protocol and the admin API.
func (s *Server) Handler() http.Handler { return s.handler }

// Stats returns the counts since start.
func (s *Server) Stats() Stats { return s.counters.snapshot() }

// Faults returns the faults in force; SetFaults replaces them.
func (s *Server) Faults() FaultConfig { return s.faults.Get() }

// SetFaults replaces the faults in force.
func (s *Server) SetFaults(f FaultConfig) { s.faults.Set(f) }

// Pending returns the events queued for or being delivered to targets.
func (s *Server) Pending() int64 { return s.dispatcher.Pending() }

// Run serves the bus on cfg.Listen until ctx ends (see Serve).
func Run(ctx context.Context, cfg Config, logger *slog.Logger, opts ...Option) error {
	s, err := New(cfg, logger, opts...)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		_ = s.Close()
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	if ln, err = cfg.TLS.Wrap(ln); err != nil {
		_ = s.Close()
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln and delivers to targets until ctx ends. Then it stops
// taking calls, gives the queues up to the shutdown timeout to deliver,
// dead-letters what is left and closes the files. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	dctx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDelivery()
	delivered := make(chan struct{})
	go func() {
		s.dispatcher.Run(dctx)
		close(delivered)
	}()

	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	s.logger.Info("event bus listening", "addr", ln.Addr().String(), "rules", len(s.cfg.Rules),
		"archive", s.cfg.ArchivePath, "dead_letters", s.cfg.DeadLetterPath,
		"fail_ratio", s.cfg.Faults.FailRatio, "throttle_ratio", s.cfg.Faults.ThrottleRatio)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			serveErr = fmt.Errorf("shutting down: %w", err)
		}
		cancel()
		if err := <-errc; serveErr == nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("serving on %s: %w", ln.Addr(), err)
		}
	}

	s.dispatcher.Close()
	drain := time.NewTimer(s.cfg.ShutdownTimeout)
	select {
	case <-delivered:
	case <-drain.C:
		s.logger.Warn("targets did not drain in time; dead-lettering the rest", "pending", s.dispatcher.Pending())
		stopDelivery()
		<-delivered
	}
	drain.Stop()
	if err := s.Close(); err != nil && serveErr == nil {
		serveErr = err
	}
	s.logger.Info("event bus stopped", "stats", s.Stats())
	return serveErr
}

// Close closes the archive and dead-letter files. Serve calls it.
func (s *Server) Close() error {
	return errors.Join(s.archive.Close(), s.dead.Close())
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{$}", s.handleAWS)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(newRegistry(s.counters), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /admin/stats", s.admin(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) }))
	mux.HandleFunc("GET /admin/faults", s.admin(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Faults()) }))
	mux.HandleFunc("PUT /admin/faults", s.admin(s.handlePutFaults))
	mux.HandleFunc("DELETE /admin/faults", s.admin(func(w http.ResponseWriter, _ *http.Request) {
		s.SetFaults(FaultConfig{})
		s.logger.Info("faults cleared")
		writeJSON(w, http.StatusOK, s.Faults())
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.New(http.StatusNotFound, "Not found",
			"no endpoint "+r.Method+" "+r.URL.Path+"; the AWS API is POST / with X-Amz-Target; see /admin/stats, /healthz, /metrics"))
	})
	return mux
}

// handleAWS routes one call of the AWS protocol on its X-Amz-Target.
func (s *Server) handleAWS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-RequestId", randomUUID())
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if !ok {
		writeAWSError(w, http.StatusBadRequest, codeUnknownOperation, fmt.Sprintf("unknown X-Amz-Target %q; this bus serves AWSEvents.PutEvents, TestEventPattern, DescribeEventBus and ListRules", target))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.counters.rejected.Add(1)
			writeAWSError(w, http.StatusBadRequest, codeValidation, "Total size of the entries in the request is over the limit.")
			return
		}
		writeAWSError(w, http.StatusBadRequest, codeSerialization, "reading the request body: "+err.Error())
		return
	}
	switch op {
	case "PutEvents":
		s.putEvents(w, body)
	case "TestEventPattern":
		s.testEventPattern(w, body)
	case "DescribeEventBus":
		s.describeEventBus(w, body)
	case "ListRules":
		s.listRules(w, body)
	default:
		writeAWSError(w, http.StatusBadRequest, codeUnknownOperation, fmt.Sprintf("operation %s is not served by this local bus; it serves PutEvents, TestEventPattern, DescribeEventBus and ListRules", op))
	}
}

func (s *Server) putEvents(w http.ResponseWriter, body []byte) {
	if s.faults.Throttle() {
		s.counters.throttled.Add(1)
		writeAWSError(w, http.StatusBadRequest, codeThrottling, "Rate exceeded")
		return
	}
	var req PutEventsRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.counters.rejected.Add(1)
		writeAWSError(w, http.StatusBadRequest, codeSerialization, "the request body is not a valid PutEvents request: "+err.Error())
		return
	}
	if msg := checkCall(req); msg != "" {
		s.counters.rejected.Add(1)
		writeAWSError(w, http.StatusBadRequest, codeValidation, msg)
		return
	}

	now := s.now().UTC()
	inject := s.faults.FailEntries(len(req.Entries))
	resp := PutEventsResponse{Entries: make([]ResultEntry, len(req.Entries))}
	type accepted struct {
		index int
		bus   string
		env   []byte
	}
	var ok []accepted
	var records []ArchiveRecord
	for i, e := range req.Entries {
		if code, msg := checkEntry(e, s.buses); code != "" {
			resp.Entries[i] = ResultEntry{ErrorCode: code, ErrorMessage: msg}
			continue
		}
		if inject[i] {
			s.counters.injected.Add(1)
			resp.Entries[i] = ResultEntry{ErrorCode: entryInternalFailure, ErrorMessage: "Injected failure (fault injection: fail_ratio); retry this entry."}
			continue
		}
		env, id, err := s.envelope(e, now)
		if err != nil {
			resp.Entries[i] = ResultEntry{ErrorCode: entryMalformedDetail, ErrorMessage: "Detail is malformed."}
			continue
		}
		resp.Entries[i] = ResultEntry{EventID: id}
		ok = append(ok, accepted{index: i, bus: busName(e), env: env})
		records = append(records, ArchiveRecord{ArchivedAt: now, Bus: busName(e), Event: env})
	}
	if len(records) > 0 {
		if err := s.archive.Append(records); err != nil {
			s.logger.Error("archiving failed; failing the entries", "err", err)
			for _, a := range ok {
				resp.Entries[a.index] = ResultEntry{ErrorCode: entryInternalFailure, ErrorMessage: "The event could not be archived; retry this entry."}
			}
			ok = nil
		}
	}
	for _, a := range ok {
		rules, err := s.matcher.Match(a.bus, a.env)
		if err != nil { // cannot happen: the envelope is valid JSON
			s.logger.Error("matching failed", "err", err, "event", string(a.env))
			continue
		}
		for _, ri := range rules {
			s.counters.rules[ri].matched.Add(1)
			s.dispatcher.Enqueue(ri, a.env)
		}
	}
	for _, e := range resp.Entries {
		if e.ErrorCode != "" {
			resp.FailedEntryCount++
		}
	}
	s.counters.calls.Add(1)
	s.counters.accepted.Add(int64(len(ok)))
	s.counters.failed.Add(int64(resp.FailedEntryCount))
	s.logger.Debug("PutEvents", "entries", len(req.Entries), "failed", resp.FailedEntryCount)
	writeAWSJSON(w, http.StatusOK, resp)
}

// checkCall validates the call as a whole, returning the
// ValidationException message or "".
func checkCall(req PutEventsRequest) string {
	switch {
	case req.Entries == nil:
		return "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null"
	case len(req.Entries) < 1:
		return "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1"
	case len(req.Entries) > MaxEntries:
		return fmt.Sprintf("1 validation error detected: Value '[%d entries]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to %d", len(req.Entries), MaxEntries)
	}
	total := 0
	for _, e := range req.Entries {
		total += EntrySize(e)
	}
	if total > MaxRequestSize {
		return "Total size of the entries in the request is over the limit."
	}
	return ""
}

// envelope builds the delivered form of an accepted entry. It writes the
// JSON by hand: encoding/json would re-validate and re-compact Detail,
// already checked by checkEntry, which was a third of a call's cost.
func (s *Server) envelope(e RequestEntry, now time.Time) ([]byte, string, error) {
	t := now
	if e.Time != nil {
		t = e.Time.UTC()
	}
	detail := []byte(*e.Detail)
	if bytes.ContainsAny(detail, "\r\n") { // whitespace only (JSON strings cannot hold raw newlines); JSONL needs one line
		var c bytes.Buffer
		if err := json.Compact(&c, detail); err != nil {
			return nil, "", fmt.Errorf("compacting Detail: %w", err)
		}
		detail = c.Bytes()
	}
	id := s.newID()
	b := make([]byte, 0, len(detail)+256)
	b = append(b, `{"version":"0","id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"detail-type":`...)
	b = appendJSONString(b, *e.DetailType)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, *e.Source)
	b = append(b, `,"account":`...)
	b = appendJSONString(b, s.cfg.Account)
	b = append(b, `,"time":"`...)
	b = t.AppendFormat(b, envelopeTime)
	b = append(b, `","region":`...)
	b = appendJSONString(b, s.cfg.Region)
	b = append(b, `,"resources":[`...)
	for i, r := range e.Resources {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, r)
	}
	b = append(b, `],"detail":`...)
	b = append(b, detail...)
	b = append(b, '}')
	return b, id, nil
}

// appendJSONString appends s as a JSON string: plain printable ASCII as
// is, anything else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// testEventPattern serves AWSEvents.TestEventPattern with the same
// matcher the rules use.
func (s *Server) testEventPattern(w http.ResponseWriter, body []byte) {
	var req struct {
		EventPattern *string `json:"EventPattern"`
		Event        *string `json:"Event"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.EventPattern == nil || req.Event == nil {
		writeAWSError(w, http.StatusBadRequest, codeValidation, "EventPattern and Event are required strings")
		return
	}
	p, err := CompilePattern(*req.EventPattern)
	if err != nil {
		writeAWSError(w, http.StatusBadRequest, "InvalidEventPatternException", err.Error())
		return
	}
	m, err := NewMatcher([]RuleConfig{{Name: "test", Bus: DefaultBus, Pattern: p.String()}})
	if err != nil {
		writeAWSError(w, http.StatusBadRequest, "InvalidEventPatternException", err.Error())
		return
	}
	got, err := m.Match(DefaultBus, []byte(*req.Event))
	if err != nil {
		writeAWSError(w, http.StatusBadRequest, codeValidation, "Event is not a valid JSON object: "+err.Error())
		return
	}
	writeAWSJSON(w, http.StatusOK, map[string]bool{"Result": len(got) > 0})
}

// admin guards h with the admin bearer token, compared in constant time.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + s.cfg.AdminToken.Reveal())
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminToken == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized",
				"the admin API needs the header Authorization: Bearer <admin_token>"))
			return
		}
		h(w, r)
	}
}

// FaultsUpdate is the body of PUT /admin/faults: each field present
// replaces that fault; a field left out keeps its value.
type FaultsUpdate struct {
	FailRatio     *float64 `json:"fail_ratio,omitempty"`
	ThrottleRatio *float64 `json:"throttle_ratio,omitempty"`
}

func (s *Server) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	var u FaultsUpdate
	if p := problem.DecodeJSON(w, r, 4096, &u); p != nil {
		problem.Write(w, p)
		return
	}
	f := s.faults.Get()
	for _, c := range []struct {
		name string
		in   *float64
		out  *float64
	}{{"fail_ratio", u.FailRatio, &f.FailRatio}, {"throttle_ratio", u.ThrottleRatio, &f.ThrottleRatio}} {
		if c.in == nil {
			continue
		}
		if *c.in < 0 || *c.in > 1 {
			problem.Write(w, problem.Invalid(c.name, errRatio.Error()))
			return
		}
		*c.out = *c.in
	}
	s.faults.Set(f)
	s.logger.Info("faults changed", "fail_ratio", f.FailRatio, "throttle_ratio", f.ThrottleRatio)
	writeJSON(w, http.StatusOK, f)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// randomUUID returns a random (version 4) UUID, the form of EventBridge's ids.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
