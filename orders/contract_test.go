package orders_test

import (
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/contracttest"
)

// TestContract runs the shared order API contract suite against the new
// service, with orders accepted the production way: outbox, relay, bus,
// processor.
func TestContract(t *testing.T) {
	e := newEnv(t)
	e.startProcessing(t)
	contracttest.Run(t, contracttest.Target{
		BaseURL: e.url, RetailKey: retailKey, WholesaleKey: wholesaleKey, SettleTimeout: 20 * time.Second,
	})
}
