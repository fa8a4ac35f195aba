package proxy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestChangedKeysAndRestart: changedKeys names each changed key as in
// configs/proxy.yaml, and exactly the listeners, the tokens, control
// table, group, plan lease and DynamoDB endpoint need a restart; the
// Reloader keeps their running values.
func TestChangedKeysAndRestart(t *testing.T) {
	a := DefaultConfig()
	b := a
	b.Listen = "127.0.0.1:1"
	b.Admin.Token = "x"
	b.Force.Token = "y"
	b.Backends.New = "http://127.0.0.1:2"
	b.Transport.DialTimeout = time.Minute
	b.Health.Interval = time.Minute
	b.Circuit.Probes = 9
	b.Control.Poll = time.Minute
	b.Control.Table = "other"
	b.Control.PlanLease = time.Minute
	b.DynamoDB.URL = "http://127.0.0.1:3"
	b.MaxBodyBytes = 4096
	b.GOGC = 100
	b.Routes = []RouteConfig{{Name: "r", Match: "GET /x"}}

	got := changedKeys(a, b)
	want := []string{"listen", "admin.token", "force.token", "backends.new", "max_body_bytes", "transport.dial_timeout", "health.interval",
		"circuit.probes", "control.table", "control.poll", "control.plan_lease", "dynamodb.url", "routes", "gogc"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("changed keys (-want +got):\n%s", diff)
	}
	var restart []string
	for _, k := range got {
		if _, ok := restartKey(k); ok {
			restart = append(restart, k)
		}
	}
	if diff := cmp.Diff([]string{"listen", "admin.token", "force.token", "control.table", "control.plan_lease", "dynamodb.url"}, restart); diff != "" {
		t.Fatalf("restart keys (-want +got):\n%s", diff)
	}
	keepRestartKeys(&b, a)
	left := changedKeys(a, b)
	for _, k := range left {
		if _, ok := restartKey(k); ok {
			t.Errorf("%s still differs after keepRestartKeys", k)
		}
	}
	if len(left) != len(got)-len(restart) {
		t.Errorf("after keepRestartKeys %v differ, want the %d live keys", left, len(got)-len(restart))
	}
}
