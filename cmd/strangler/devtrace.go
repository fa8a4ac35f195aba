package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/devstack/downstream"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/sinkauth"
	"github.com/anycompany/strangler/internal/tracing"
	"github.com/anycompany/strangler/migrator"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/orders/outbox"
	"github.com/anycompany/strangler/orders/relay"
	"github.com/anycompany/strangler/proxy"
)

func newDevTraceCmd(a *app) *cobra.Command {
	var o traceOptions
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Send one create through proxy, order service, relay, bus and consumers, and print its span tree",
		Long: `Run the proxy, the new order service, its outbox relay, the event bus, the
order processor and the downstream stand-ins in this process, each the real
part on a loopback port of its own, over fresh tables in the local stack's
DynamoDB (deleted at the end). Every part has its own tracer provider (its
name as service.name); all export to one in-memory exporter. One order is
created through the proxy; once the downstream stand-ins consumed its
OrderCreated and OrderStatusChanged events, the trace is printed as a tree:
each span's name, part, span id and parent.`,
		Example: `  strangler dev trace
  strangler dev trace --dynamodb-url http://127.0.0.1:8000 --timeout 60s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := a.logger()
			if err != nil {
				return err
			}
			spans, err := traceOneCreate(cmd.Context(), o, log)
			if err != nil {
				return err
			}
			printSpanTree(a.stdout, spans)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DynamoDB, "dynamodb-url", "http://127.0.0.1:8000", "DynamoDB endpoint of the local stack (fresh tables are created and deleted)")
	f.StringVar(&o.Legacy, "legacy-url", "http://127.0.0.1:8080", "the proxy's legacy backend (never called: the create route is in mode new)")
	f.DurationVar(&o.Timeout, "timeout", 60*time.Second, "how long the whole run may take")
	return cmd
}

// traceOptions configure traceOneCreate.
type traceOptions struct {
	// DynamoDB is the local stack's endpoint. Legacy is the proxy's legacy
	// backend, never called. Timeout bounds the whole run.
	DynamoDB, Legacy string
	Timeout          time.Duration
}

// traceWanted are the spans a complete trace of one create holds: the
// trace is read once each of them ended.
var traceWanted = []string{
	"proxy create-order", "POST /v1/orders", "publish OrderCreated", "consume OrderCreated",
	"process OrderCreated", "publish OrderStatusChanged", "consume OrderStatusChanged",
}

// spanWaiter exports through a simple span processor and signals each
// ended span, so the run waits on the spans, not on a clock.
type spanWaiter struct {
	sdktrace.SpanProcessor
	ended chan struct{}
}

// OnEnd exports s, then signals (without blocking) that a span ended.
func (w spanWaiter) OnEnd(s sdktrace.ReadOnlySpan) {
	w.SpanProcessor.OnEnd(s)
	select {
	case w.ended <- struct{}{}:
	default:
	}
}

// traceOneCreate runs the parts, creates one order through the proxy and
// returns the spans of its trace once every traceWanted span ended.
func traceOneCreate(ctx context.Context, o traceOptions, log *slog.Logger) (tracetest.SpanStubs, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	exp := tracetest.NewInMemoryExporter()
	waiter := spanWaiter{SpanProcessor: sdktrace.NewSimpleSpanProcessor(exp), ended: make(chan struct{}, 1)}
	tp := func(part string) *sdktrace.TracerProvider {
		return sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(waiter), sdktrace.WithResource(tracing.Resource(part)))
	}
	r := &traceRun{log: log}
	defer r.stop()
	proxyURL, apiKey, err := r.start(ctx, o, tp)
	if err != nil {
		return nil, err
	}
	body := `{"customer_id":"cust-trace","currency":"USD","items":[{"sku":"CLN-1001","name":"All-purpose cleaner 1 L","quantity":2,"unit_price":"4.99"}],` +
		`"shipping_address":{"name":"Ana Díaz","line1":"12 Rue de la Paix","city":"Paris","postal_code":"75002","country":"FR"}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, proxyURL+"/v1/orders", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("creating an order through the proxy: %w", err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("creating an order through the proxy: %d %s", resp.StatusCode, answer)
	}
	for {
		spans := createTrace(exp.GetSpans())
		if missing := missingSpans(spans); len(missing) == 0 {
			return spans, nil
		} else if ctx.Err() != nil {
			return nil, fmt.Errorf("the trace lacks %s after %s (is the stack up? `make stack-up`): %w", strings.Join(missing, ", "), o.Timeout, ctx.Err())
		}
		select {
		case <-waiter.ended:
		case <-ctx.Done():
		}
	}
}

// createTrace is the spans of the create's trace (that of the proxy's
// span): the proxy's health checks of the order service are traces of
// their own.
func createTrace(spans tracetest.SpanStubs) tracetest.SpanStubs {
	i := slices.IndexFunc(spans, func(s tracetest.SpanStub) bool { return s.Name == traceWanted[0] })
	if i < 0 {
		return nil
	}
	id := spans[i].SpanContext.TraceID()
	return slices.DeleteFunc(spans, func(s tracetest.SpanStub) bool { return s.SpanContext.TraceID() != id })
}

// missingSpans lists the traceWanted spans spans lacks.
func missingSpans(spans tracetest.SpanStubs) []string {
	var missing []string
	for _, name := range traceWanted {
		if !slices.ContainsFunc(spans, func(s tracetest.SpanStub) bool { return s.Name == name }) {
			missing = append(missing, name)
		}
	}
	return missing
}

// traceRun is the parts of one traceOneCreate: what stop ends and deletes.
type traceRun struct {
	log    *slog.Logger
	stops  []func() // run in reverse order
	wg     sync.WaitGroup
	ddb    *dynamodb.Client
	tables []string
}

// secret is a random credential of this run.
func secret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// serve serves h on a loopback port until stop.
func (r *traceRun) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	r.wg.Go(func() { _ = srv.Serve(ln) })
	r.stops = append(r.stops, func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

// goRun runs fn until stop; an error before the stop is logged.
func (r *traceRun) goRun(name string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	r.stops = append(r.stops, cancel)
	r.wg.Go(func() {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("a part stopped", "part", name, "err", err)
		}
	})
}

// stop ends the parts and deletes the run's tables.
func (r *traceRun) stop() {
	for i := len(r.stops) - 1; i >= 0; i-- {
		r.stops[i]()
	}
	r.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, t := range r.tables {
		if _, err := r.ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(t)}); err != nil {
			r.log.Warn("deleting a table of the trace run failed", "table", t, "err", err)
		}
	}
}

// start runs every part, tp giving each its tracer provider, and returns
// the proxy's URL and the API key of the order API.
func (r *traceRun) start(ctx context.Context, o traceOptions, tp func(part string) *sdktrace.TracerProvider) (proxyURL, apiKey string, err error) {
	ep := awsconf.Local(o.DynamoDB)
	if r.ddb, err = ep.DynamoDB(ctx); err != nil {
		return "", "", err
	}
	run := "trace_" + secret()[:8]
	idx := migrator.DefaultConfig().Index
	ocfg := orders.DefaultConfig()
	ocfg.DynamoDB, ocfg.Table, ocfg.Index, ocfg.ServiceTable = ep, run+"_orders", idx.Name, run+"_service"
	apiKey = secret()
	ocfg.APIKeys, ocfg.AdminToken = orderapi.APIKeys{{Key: config.Secret(apiKey), Channel: "retail"}}, config.Secret(secret())
	ocfg.Processor.Auth = sinkauth.APIKey("X-Strangler-Sink-Key", secret())
	if err := ocfg.Validate(); err != nil {
		return "", "", err
	}
	r.tables = append(r.tables, ocfg.Table)
	if _, err := ddbtable.Ensure(ctx, r.ddb, migrator.OrdersSpec(ocfg.Table, idx)); err != nil {
		return "", "", fmt.Errorf("the orders table (is the stack up? `make stack-up`): %w", err)
	}
	r.tables = append(r.tables, ocfg.ServiceTable, run+"_control")
	if err := orders.Init(ctx, r.ddb, ocfg, r.log); err != nil {
		return "", "", err
	}

	// The consumers, then the bus that delivers to them.
	dcfg := downstream.DefaultConfig()
	dcfg.EventsAuth = sinkauth.Basic("strangler-bus", secret())
	downURL, err := r.serve(downstream.New(dcfg, r.log.With("part", "downstream"), downstream.WithTracer(tp("downstream"))).Handler())
	if err != nil {
		return "", "", err
	}
	proc := orders.BuildProcessor(ocfg, r.ddb, r.log.With("part", "processor"))
	proc.Trace(tp("processor"))
	procURL, err := r.serve(proc.Handler())
	if err != nil {
		return "", "", err
	}
	busURL, err := r.startBus(dcfg.EventsAuth, downURL, ocfg.Processor.Auth, procURL)
	if err != nil {
		return "", "", err
	}

	// The relay, the order service and the proxy in front.
	rcfg := relay.DefaultConfig()
	rcfg.DynamoDB, rcfg.EventBridge = ep, awsconf.Local(busURL)
	rcfg.Table, rcfg.ControlTable, rcfg.Shards = ocfg.ServiceTable, run+"_control", ocfg.Outbox.Shards
	rcfg.Poll.MinInterval, rcfg.Poll.MaxInterval = 10*time.Millisecond, 100*time.Millisecond
	rcfg.Lease.Owner, rcfg.ProgressInterval, rcfg.MetricsListen = run, 0, ""
	if err := rcfg.Validate(); err != nil {
		return "", "", err
	}
	r.goRun("relay", func(ctx context.Context) error {
		return relay.Run(ctx, rcfg, relay.Env{Log: r.log.With("part", "relay"), Registry: prometheus.NewRegistry(), Tracer: tp("relay")})
	})
	newURL, err := r.serve(orders.Build(ocfg, r.ddb, r.log.With("part", "orders")).Traced(tp("orders")))
	if err != nil {
		return "", "", err
	}
	pcfg := proxy.DefaultConfig()
	pcfg.Admin.Token = config.Secret(secret())
	pcfg.Backends.Legacy, pcfg.Backends.New = o.Legacy, newURL
	pcfg.Control.Table, pcfg.ReloadInterval = "", 0
	pcfg.Routes = []proxy.RouteConfig{{Name: "create-order", Match: "POST /v1/orders", Mode: proxy.ModeNew}}
	if err := pcfg.Validate(); err != nil {
		return "", "", err
	}
	px, err := proxy.New(ctx, pcfg, proxy.Deps{Logger: r.log.With("part", "proxy"), Tracer: tp("proxy")})
	if err != nil {
		return "", "", err
	}
	r.goRun("proxy", px.Run)
	proxyURL, err = r.serve(px.Handler())
	return proxyURL, apiKey, err
}

// startBus runs the event bus with the rules of configs/eventbus.yaml that
// reach the downstream stand-ins and the processor, retrying fast.
func (r *traceRun) startBus(downAuth sinkauth.Connection, downURL string, procAuth sinkauth.Connection, procURL string) (string, error) {
	dir, err := os.MkdirTemp("", "strangler-trace-")
	if err != nil {
		return "", err
	}
	r.stops = append(r.stops, func() { _ = os.RemoveAll(dir) })
	target := func(name, url string, conn sinkauth.Connection) []eventbus.TargetConfig {
		// A long attempt: a slow DynamoDB Local must not make a retry (a
		// second consumer span) of a delivery that was only slow.
		return []eventbus.TargetConfig{{Name: name, URL: url + "/events", Timeout: 30 * time.Second, MaxAttempts: 50,
			Backoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Connection: conn}}
	}
	bcfg := eventbus.DefaultConfig()
	bcfg.ArchivePath, bcfg.DeadLetterPath, bcfg.DeadLetterTable = filepath.Join(dir, "archive.jsonl"), filepath.Join(dir, "dead-letters.jsonl"), ""
	bcfg.ShutdownTimeout = time.Second
	bcfg.Rules = []eventbus.RuleConfig{
		{Name: "orders-to-downstream", Pattern: `{"source":["` + outbox.DefaultSource + `"]}`, Targets: target("downstream", downURL, downAuth)},
		{Name: "service-created-to-processor", Pattern: `{"source":["` + outbox.DefaultSource + `"],"detail-type":["OrderCreated"]}`, Targets: target("processor", procURL, procAuth)},
	}
	bus, err := eventbus.New(bcfg, r.log.With("part", "eventbus"))
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	r.goRun("eventbus", func(ctx context.Context) error { return bus.Serve(ctx, ln) })
	return "http://" + ln.Addr().String(), nil
}

// printSpanTree writes spans as a tree under their roots, children in
// start order: name, part (service.name), span id and parent; then one
// line counting the spans, traces and parts.
func printSpanTree(w io.Writer, spans tracetest.SpanStubs) {
	defer func() {
		var parts, traces []string
		for _, s := range slices.SortedFunc(slices.Values(spans), func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) }) {
			if v, ok := s.Resource.Set().Value("service.name"); ok && !slices.Contains(parts, v.AsString()) {
				parts = append(parts, v.AsString())
			}
			if id := s.SpanContext.TraceID().String(); !slices.Contains(traces, id) {
				traces = append(traces, id)
			}
		}
		fmt.Fprintf(w, "%d spans in %d trace(s) across %s\n", len(spans), len(traces), strings.Join(parts, ", "))
	}()
	kids := map[string][]tracetest.SpanStub{}
	byID := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID().String()] = s
	}
	var roots []tracetest.SpanStub
	for _, s := range spans {
		p := s.Parent.SpanID().String()
		if _, ok := byID[p]; ok && s.Parent.IsValid() {
			kids[p] = append(kids[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	byStart := func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) }
	slices.SortFunc(roots, byStart)
	for _, k := range kids {
		slices.SortFunc(k, byStart)
	}
	var walk func(s tracetest.SpanStub, prefix, branch string)
	walk = func(s tracetest.SpanStub, prefix, branch string) {
		part := ""
		if v, ok := s.Resource.Set().Value("service.name"); ok {
			part = v.AsString()
		}
		parent := "-"
		if s.Parent.IsValid() {
			parent = s.Parent.SpanID().String()
		}
		name := s.Name
		if p, ok := byID[parent]; ok && s.SpanKind == trace.SpanKindConsumer && p.SpanKind == trace.SpanKindProducer {
			name = "bus → " + name // the bus (EventBridge, the local bus) makes no span
		}
		fmt.Fprintf(w, "%-50s %-11s span %s  parent %s\n", prefix+branch+name, part, s.SpanContext.SpanID(), parent)
		next := prefix
		switch branch {
		case "├─ ":
			next += "│  "
		case "└─ ":
			next += "   "
		}
		k := kids[s.SpanContext.SpanID().String()]
		for i, c := range k {
			b := "├─ "
			if i == len(k)-1 {
				b = "└─ "
			}
			walk(c, next, b)
		}
	}
	for _, r := range roots {
		fmt.Fprintf(w, "trace %s\n", r.SpanContext.TraceID())
		walk(r, "", "")
	}
}
