package cdc_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/awsconf"
)

// stallProxy stands between one cdc and DynamoDB Local or the bus,
// speaking their protocols unchanged, and plays a stalled process: while
// stalled it holds every call, as a paused process never sends them; on
// resume it fails the held calls (they never left) and forwards again. It
// records when it forwarded each data write (a write naming the orders
// table, or a PutEvents) and each attempt to take or renew the lease.
type stallProxy struct {
	srv   *httptest.Server
	table string

	mu     sync.Mutex
	stall  chan struct{} // nil, or closed by resume
	writes []time.Time
	leases []time.Time
}

func newStallProxy(t *testing.T, upstream, table string) *stallProxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{table: table}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) }}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		stall := p.stall
		p.mu.Unlock()
		if stall != nil {
			<-stall
			http.Error(w, `{"__type":"com.amazon.coral.service#ServiceUnavailableException","message":"stalled"}`, http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		target := r.Header.Get("X-Amz-Target")
		write := strings.HasSuffix(target, ".PutEvents") ||
			(strings.HasSuffix(target, "Item") || strings.HasSuffix(target, "Items")) && !strings.HasSuffix(target, "GetItem") &&
				bytes.Contains(body, []byte(`"`+p.table+`"`))
		lease := strings.HasSuffix(target, ".PutItem") && bytes.Contains(body, []byte(`{"S":"lease"}`))
		p.mu.Lock()
		if write {
			p.writes = append(p.writes, time.Now())
		}
		if lease {
			p.leases = append(p.leases, time.Now())
		}
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *stallProxy) stallAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stall = make(chan struct{})
}

func (p *stallProxy) resume() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.stall)
	p.stall = nil
	return time.Now()
}

// writesBetween counts data writes forwarded in [from, to).
func (p *stallProxy) writesBetween(from, to time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return between(p.writes, from, to)
}

// leaseCallsSince counts the attempts to take or renew the lease forwarded
// since from.
func (p *stallProxy) leaseCallsSince(from time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return between(p.leases, from, time.Now())
}

func between(times []time.Time, from, to time.Time) int {
	n := 0
	for _, at := range times {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n
}

// labelled is the value of the series of a one-label counter vector whose
// label is value.
func labelled(reg *prometheus.Registry, name, value string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if l := m.GetLabel(); len(l) == 1 && l[0].GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// gauge is the value of an unlabelled gauge or counter.
func gauge(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		if m := mf.GetMetric()[0]; m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		} else {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// waitFor fails t, naming what, unless ok holds within the time given.
func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	if !eventually(within, ok) {
		t.Fatalf("%s: not within %v", what, within)
	}
}

// eventually checks cond every 50 ms until it holds or within has passed,
// and reports whether it held: for a caller that explains a miss itself.
func eventually(within time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(within); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

func (f *fixture) leaseOwner() string {
	out, err := f.ddb.GetItem(context.Background(), leaseKey(f))
	if err != nil || out.Item == nil {
		return ""
	}
	return itemString(out.Item, "owner")
}

// TestStackLeaseLostStandby: leader a stalls (every call it makes is held)
// past its lease; standby b takes over and carries on. When a wakes up it
// forwards no write to the orders table or the bus (its writes in flight
// are refused by its own fence, the SDK's retries included), goes back to
// standby instead of exiting, and takes over again from the checkpoint when
// b stops. Then someone steals the lease in the control table: a stops
// writing and waits again, and resumes once the thief's lease is gone.
// DynamoDB ends equal to MySQL and every change has its event.
func TestStackLeaseLostStandby(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	f.cfg.Apply.MaxBatch = 200 // many batches in flight across the stall
	from := f.current()
	ddbProxy := newStallProxy(t, f.cfg.DynamoDB.URL, f.cfg.Table)
	busProxy := newStallProxy(t, f.bus.URL, f.cfg.Table)
	cfgA := f.cfg
	cfgA.DynamoDB = awsconf.Local(ddbProxy.srv.URL)
	cfgA.EventBridge = awsconf.Local(busProxy.srv.URL)
	saved := f.cfg
	f.cfg = cfgA
	a := f.start(cdc.Options{From: from}, "a")
	f.cfg = saved
	waitFor(t, "a leads", 30*time.Second, func() bool { return gauge(a.reg, "strangler_cdc_leader") == 1 })
	b := f.start(cdc.Options{From: from}, "b")

	changes := f.workload(300, 2)
	f.verify(60 * time.Second)

	// a stalls mid-stream; b takes over once a's lease ran out.
	ddbProxy.stallAll()
	busProxy.stallAll()
	stalledAt := time.Now()
	changes += f.workload(300, 2)
	waitFor(t, "b takes the lease", 30*time.Second, func() bool { return f.leaseOwner() == "b" })
	t.Logf("b took over %v after a stalled (ttl %v)", time.Since(stalledAt).Round(time.Millisecond), f.cfg.Lease.TTL)
	resumedAt := ddbProxy.resume()
	busProxy.resume()
	waitFor(t, "a back to standby", 30*time.Second, func() bool {
		return gauge(a.reg, "strangler_cdc_lease_lost_total") >= 1 && gauge(a.reg, "strangler_cdc_leader") == 0
	})
	changes += f.workload(100, 1)
	f.verify(60 * time.Second)
	select {
	case err := <-a.done:
		t.Fatalf("a exited after losing its lease: %v", err)
	default:
	}
	if n := ddbProxy.writesBetween(resumedAt, time.Now()) + busProxy.writesBetween(resumedAt, time.Now()); n != 0 {
		t.Errorf("a forwarded %d writes after it lost its lease", n)
	}

	// b stops (releasing the lease): a takes over from the checkpoint.
	b.stop(t)
	waitFor(t, "a leads again", 30*time.Second, func() bool { return gauge(a.reg, "strangler_cdc_leader") == 1 })
	again := time.Now()
	changes += f.workload(100, 1)
	f.verify(60 * time.Second)
	if ddbProxy.writesBetween(again, time.Now()) == 0 {
		t.Error("a wrote nothing after taking the lease again")
	}

	// The lease is stolen in the control table: a notices at its next
	// renewal, stops writing and waits; it leads again once the thief's
	// lease is deleted.
	if _, err := f.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(f.cfg.ControlTable), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "cdc#orders"}, "sk": &types.AttributeValueMemberS{Value: "lease"},
		"owner":    &types.AttributeValueMemberS{Value: "thief"},
		"until_ms": &types.AttributeValueMemberN{Value: "99999999999999"},
	}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a notices the theft", 30*time.Second, func() bool { return gauge(a.reg, "strangler_cdc_lease_lost_total") >= 2 })
	noticed := time.Now()
	changes += f.workload(50, 0)
	// a, a standby again, polls the lease every TTL/4: a TTL's worth of
	// polls after the workload, and it forwarded none of the workload.
	loaded := time.Now()
	waitFor(t, "a polls the lease as a standby", 30*time.Second, func() bool { return ddbProxy.leaseCallsSince(loaded) >= 4 })
	if n := ddbProxy.writesBetween(noticed, time.Now()) + busProxy.writesBetween(noticed, time.Now()); n != 0 {
		t.Errorf("a forwarded %d writes while the thief held the lease", n)
	}
	if _, err := f.ddb.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(f.cfg.ControlTable), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "cdc#orders"}, "sk": &types.AttributeValueMemberS{Value: "lease"},
	}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a leads after the theft", 30*time.Second, func() bool { return gauge(a.reg, "strangler_cdc_leader") == 1 })
	f.verify(60 * time.Second)
	evs := f.waitEvents(changes, 60*time.Second)
	dups := f.checkEvents(evs, changes)
	t.Logf("%d events for %d changes, %d duplicates", len(evs), changes, dups)
}
