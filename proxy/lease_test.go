package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/proxy"
	"github.com/anycompany/strangler/proxy/plan"
)

// partitionable is DynamoDB Local's client with a switch that cuts this
// replica off it (every call fails as an unreachable endpoint would): the
// fault injection of a replica that died without releasing its lease.
type partitionable struct {
	*dynamodb.Client
	down atomic.Bool
}

var errUnreachable = errors.New("injected: dial tcp 127.0.0.1:8000: connection refused")

func (p *partitionable) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if p.down.Load() {
		return nil, errUnreachable
	}
	return p.Client.Query(ctx, in, opts...)
}

func (p *partitionable) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if p.down.Load() {
		return nil, errUnreachable
	}
	return p.Client.PutItem(ctx, in, opts...)
}

func (p *partitionable) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if p.down.Load() {
		return nil, errUnreachable
	}
	return p.Client.GetItem(ctx, in, opts...)
}

func (p *partitionable) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if p.down.Load() {
		return nil, errUnreachable
	}
	return p.Client.DeleteItem(ctx, in, opts...)
}

func (p *partitionable) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if p.down.Load() {
		return nil, errUnreachable
	}
	return p.Client.TransactWriteItems(ctx, in, opts...)
}

// waitFor polls cond every 50 ms until it holds or limit passes
// (DynamoDB Local is shared and sometimes slow: limits are generous).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPlanLeaseOneDriver: two replicas on one control table (DynamoDB
// Local). The first holds the plan lease and drives the plan; the second
// refuses plan actions naming the holder, reports the saved plan and
// applies the plan's weights from the control table while serving traffic.
// When the holder is cut off from DynamoDB and stopped (it cannot release
// its lease), the second takes the lease over once it lapses, restores the
// plan (paused at its first step), accepts the resume and drives it to the
// end.
func TestPlanLeaseOneDriver(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	p := plan.Plan{Steps: []float64{10, 50, 100}, Bake: 400 * time.Millisecond, SLO: plan.SLO{Max5xxRatio: 0.05, MinRequests: 5}}
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, "",
		proxy.RouteConfig{Name: "get-order", Match: "GET /v1/orders/{id}", Mode: proxy.ModeLegacy, Sticky: "path:id", Plan: &p})
	// Long enough that a renewal on a busy machine (DynamoDB Local shared
	// with other tests) does not let the lease lapse under its holder.
	cfg.Control.PlanLease = 3 * time.Second

	ddbA := &partitionable{Client: stacktest.DynamoDB(t)}
	a := startProxy(t, cfg, proxy.Deps{PlanTick: 20 * time.Millisecond, DynamoDB: ddbA, Owner: "replica-a"})
	b := startProxy(t, cfg, proxy.Deps{PlanTick: 20 * time.Millisecond, Owner: "replica-b"})
	ctx := context.Background()

	driver := func(h *harness) proxy.PlanDriverView {
		v, err := h.client().Routes(ctx)
		if err != nil {
			t.Fatalf("routes: %v", err)
		}
		return v.PlanDriver
	}
	if d := driver(a); !d.Driving || d.Holder != "replica-a" {
		t.Fatalf("replica a: plan driver %+v, want driving as replica-a", d)
	}
	waitFor(t, 10*time.Second, "replica b to see replica-a holding the lease", func() bool {
		d := driver(b)
		return !d.Driving && d.Holder == "replica-a"
	})
	_, err := b.client().Plan(ctx, "get-order", proxy.PlanRequest{Action: "start", Actor: "alice", Reason: "test"})
	if err == nil || !strings.Contains(err.Error(), "replica-a holds the plan lease") {
		t.Fatalf("plan start on the non-holder: %v, want a refusal naming replica-a", err)
	}

	// Traffic through both replicas; only the holder's figures judge the plan.
	replicas := []*harness{a, b}
	stop := loadUntilStopped(len(replicas), func(w, i int) string { return fmt.Sprintf("%s/v1/orders/%d-%d", replicas[w].url, w, i) }, 2*time.Millisecond, nil)
	defer stop()

	weight := func(h *harness) float64 {
		r, _ := h.srv.Switch().Table().Route("get-order")
		return r.State().Weight
	}
	if st, err := a.client().Plan(ctx, "get-order", proxy.PlanRequest{Action: "start", Actor: "alice", Reason: "test"}); err != nil || st.Weight != 10 {
		t.Fatalf("plan start on the holder: %+v, %v", st, err)
	}
	// Paused at its first step, so that the takeover happens mid-plan
	// whatever the timing.
	if st, err := a.client().Plan(ctx, "get-order", proxy.PlanRequest{Action: "pause", Actor: "alice", Reason: "test"}); err != nil || st.State != plan.StatePaused {
		t.Fatalf("plan pause on the holder: %+v, %v", st, err)
	}
	waitFor(t, 15*time.Second, "replica b to apply the plan's weight from the control table", func() bool { return weight(b) == 10 })
	if _, ok := b.srv.Plans().Status("get-order"); ok {
		t.Fatalf("replica b's own controller has the plan: two drivers")
	}
	waitFor(t, 10*time.Second, "replica b to report the saved plan, paused", func() bool {
		v, err := b.client().Routes(ctx)
		if err != nil {
			return false
		}
		for _, r := range v.Routes {
			if r.Name == "get-order" && r.Plan != nil {
				return r.Plan.State == plan.StatePaused && r.Plan.Weight == 10
			}
		}
		return false
	})
	if _, err := b.client().Plan(ctx, "get-order", proxy.PlanRequest{Action: "resume", Actor: "alice", Reason: "test"}); err == nil {
		t.Fatalf("plan resume on the non-holder was accepted")
	}

	// Replica a dies: cut off from DynamoDB, then stopped (its release fails).
	ddbA.down.Store(true)
	a.stop(t)
	cut := time.Now()
	waitFor(t, 20*time.Second, "replica b to take the plan lease over", func() bool { return driver(b).Driving })
	t.Logf("replica b took the plan lease over %v after replica a was cut off", time.Since(cut).Round(10*time.Millisecond))
	if d := driver(b); d.Holder != "replica-b" {
		t.Fatalf("replica b: plan driver %+v", d)
	}
	if st, ok := b.srv.Plans().Status("get-order"); !ok || st.State != plan.StatePaused || st.Step != 0 {
		t.Fatalf("replica b restored the plan as %+v (found %v), want paused at step 1", st, ok)
	}
	if _, err := b.client().Plan(ctx, "get-order", proxy.PlanRequest{Action: "resume", Actor: "alice", Reason: "test"}); err != nil {
		t.Fatalf("plan resume on the new holder: %v", err)
	}
	waitFor(t, 15*time.Second, "replica b to drive the plan to 100 %", func() bool {
		st, ok := b.srv.Plans().Status("get-order")
		return ok && st.State == plan.StateDone && weight(b) == 100
	})
}
