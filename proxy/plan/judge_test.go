package plan

import (
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	slo := SLO{Max5xxRatio: 0.01, MaxP99: 200 * time.Millisecond, MinRequests: 100}
	ms := time.Millisecond
	tests := []struct {
		name       string
		slo        SLO
		newW, legW Window
		want       verdict
	}{
		{name: "inside", newW: Window{1000, 5, 100 * ms}, legW: Window{1000, 0, 10 * ms}, want: inside},
		{name: "at the 5xx limit", newW: Window{1000, 10, 100 * ms}, legW: Window{1000, 0, 10 * ms}, want: inside},
		{name: "at the p99 limit", newW: Window{1000, 0, 200 * ms}, legW: Window{1000, 0, 10 * ms}, want: inside},
		{name: "5xx over limit and over legacy", newW: Window{1000, 11, 100 * ms}, legW: Window{1000, 0, 10 * ms}, want: breach},
		{name: "5xx over limit, legacy as bad", newW: Window{1000, 50, 100 * ms}, legW: Window{1000, 50, 10 * ms}, want: hold},
		{name: "5xx over limit, within 10% of legacy", newW: Window{1000, 54, 100 * ms}, legW: Window{1000, 50, 10 * ms}, want: hold},
		{name: "5xx over limit, more than 10% over legacy", newW: Window{1000, 56, 100 * ms}, legW: Window{1000, 50, 10 * ms}, want: breach},
		{name: "5xx over limit, legacy worse", newW: Window{1000, 50, 100 * ms}, legW: Window{1000, 90, 10 * ms}, want: hold},
		{name: "5xx over limit, legacy below min requests", newW: Window{1000, 50, 100 * ms}, legW: Window{99, 90, 10 * ms}, want: breach},
		{name: "5xx over limit, legacy idle", newW: Window{1000, 50, 100 * ms}, legW: Window{}, want: breach},
		{name: "p99 over limit and over legacy", newW: Window{1000, 0, 201 * ms}, legW: Window{1000, 0, 100 * ms}, want: breach},
		{name: "p99 over limit, legacy as slow", newW: Window{1000, 0, 500 * ms}, legW: Window{1000, 0, 480 * ms}, want: hold},
		{name: "p99 over limit, legacy idle", newW: Window{1000, 0, 500 * ms}, legW: Window{}, want: breach},
		{name: "p99 not judged without a limit", slo: SLO{Max5xxRatio: 0.01, MinRequests: 100}, newW: Window{1000, 0, time.Hour}, legW: Window{}, want: inside},
		{name: "breach wins over hold", newW: Window{1000, 50, 900 * ms}, legW: Window{1000, 50, 10 * ms}, want: breach},
		{name: "zero 5xx budget", slo: SLO{MinRequests: 1}, newW: Window{1000, 1, 0}, legW: Window{1000, 0, 0}, want: breach},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := slo
			if tt.slo != (SLO{}) {
				s = tt.slo
			}
			got, why := judge(s, tt.newW, tt.legW)
			if got != tt.want {
				t.Errorf("verdict %d (%s), want %d", got, why, tt.want)
			}
			if (got == inside) != (why == "") {
				t.Errorf("verdict %d with reason %q: a reason is given exactly when not inside", got, why)
			}
		})
	}
}
