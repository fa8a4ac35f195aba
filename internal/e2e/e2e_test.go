package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/contracttest"
)

// TestContractThroughProxy runs the shared contract suite through the
// proxy with every order route in canary mode at 0, 50 and 100 %, the
// weight changed through the admin API between runs (no restart). At 50 %
// a customer's writes and an order's reads may be routed by different
// sticky keys, so reads are eventual across the two stores (see
// contracttest.Target.EventualReads).
func TestContractThroughProxy(t *testing.T) {
	s := startStack(t)
	for _, w := range []float64{0, 50, 100} {
		t.Run(fmt.Sprintf("weight%v", w), func(t *testing.T) {
			s.setWeight(w)
			contracttest.Run(t, contracttest.Target{
				BaseURL: s.ProxyURL, RetailKey: retailKey, WholesaleKey: wholesaleKey,
				SettleTimeout: 20 * time.Second, EventualReads: w == 50,
			})
		})
	}
}
