package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/contracttest"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/migrator"
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

// created is one order created through the proxy in TestRollbackToLegacy.
type created struct {
	customer string
	id       string
	// state is the order as its owner last answered it.
	state order.Order
}

// TestRollbackToLegacy is issue 6's rollback: orders written through the
// new service while every route is at 50 % are copied back into the legacy
// table (outbox, relay, bus, sync-back); after the weight drops to 0 they
// are readable with the same content, listable and cancellable through
// legacy, and the cdc carries legacy's cancel back to DynamoDB. At the end
// the two stores are equal and no created order is lost.
func TestRollbackToLegacy(t *testing.T) {
	s := startStack(t)
	start := time.Now()
	s.setWeight(50)

	run := fmt.Sprintf("rb%d", time.Now().UnixNano()%1e9)
	var owned, legacyOwned []*created
	for i := range 60 {
		c := &created{customer: fmt.Sprintf("%s-c%02d", run, i)}
		r := s.call(s.ProxyURL, "POST", "/v1/orders", retailKey, retailBody(c.customer))
		o := r.order(t, http.StatusCreated, "creating an order through the proxy at 50 %")
		c.id, c.state = o.ID, o
		switch {
		case r.backend == "new" && strings.HasPrefix(o.ID, "ord_"):
			owned = append(owned, c)
		case r.backend == "legacy" && !strings.HasPrefix(o.ID, "ord_"):
			legacyOwned = append(legacyOwned, c)
		default:
			t.Fatalf("order %s of %s was created by backend %q", o.ID, c.customer, r.backend)
		}
	}
	t.Logf("60 customers at 50 %%: %d orders created by the new service, %d by legacy", len(owned), len(legacyOwned))
	if len(owned) == 0 || len(legacyOwned) == 0 {
		t.Fatalf("60 customers at 50 %% should split between both backends: %d new, %d legacy", len(owned), len(legacyOwned))
	}

	// The processor accepts each new order, and the sync-back copies it,
	// as accepted, into the legacy table; the cdc copies legacy's orders
	// into DynamoDB.
	eventually(t, 60*time.Second, "new orders accepted and synced back", func() string {
		for _, c := range owned {
			if c.state.Status == order.Pending {
				o := s.call(s.NewURL, "GET", "/v1/orders/"+c.id, retailKey, nil).order(t, http.StatusOK, "reading a new order from the new service")
				if o.Status == order.Pending {
					return c.id + " still pending"
				}
				if o.Status != order.Accepted || o.Version != 2 {
					t.Fatalf("order %s after processing: %s v%d, want accepted v2", c.id, o.Status, o.Version)
				}
				c.state = o
			}
			r := s.call(s.LegacyURL, "GET", "/v1/orders/"+c.id, retailKey, nil)
			if r.status == http.StatusNotFound {
				return c.id + " not in the legacy table"
			}
			if o := r.order(t, http.StatusOK, "reading a synced-back order from legacy"); o.Version != c.state.Version {
				return fmt.Sprintf("%s is v%d in legacy, v%d in the new service", c.id, o.Version, c.state.Version)
			}
		}
		for _, c := range legacyOwned {
			if r := s.call(s.NewURL, "GET", "/v1/orders/"+c.id, retailKey, nil); r.status != http.StatusOK {
				return fmt.Sprintf("legacy order %s not in DynamoDB yet (%d)", c.id, r.status)
			}
		}
		return ""
	})

	t.Logf("accepted and synced back after %v", time.Since(start).Round(time.Millisecond))

	// Roll back: every route to 0 %.
	s.setWeight(0)

	for _, c := range owned {
		// Legacy serves it, with the new service's content.
		got := s.call(s.LegacyURL, "GET", "/v1/orders/"+c.id, retailKey, nil).order(t, http.StatusOK, "legacy GET of "+c.id)
		if d := cmp.Diff(c.state, got); d != "" {
			t.Errorf("legacy serves %s differently from the new service (-new +legacy):\n%s", c.id, d)
		}
		// Through the proxy an ord_ id still goes to its owner.
		r := s.call(s.ProxyURL, "GET", "/v1/orders/"+c.id, retailKey, nil)
		if got := r.order(t, http.StatusOK, "proxy GET of "+c.id); r.backend != "new" || !cmp.Equal(c.state, got) {
			t.Errorf("proxy GET of %s at 0 %%: backend %s, order %+v; want new, %+v", c.id, r.backend, got, c.state)
		}
		// Listing goes by customer, to legacy now, which has the order.
		for _, base := range []string{s.ProxyURL, s.LegacyURL} {
			r := s.call(base, "GET", "/v1/orders?customer_id="+c.customer, retailKey, nil)
			if base == s.ProxyURL && r.backend != "legacy" {
				t.Errorf("list of %s at 0 %% went to %q, want legacy", c.customer, r.backend)
			}
			var page struct{ Orders []order.Order }
			if r.status != http.StatusOK || json.Unmarshal(r.body, &page) != nil {
				t.Fatalf("list of %s via %s: %d %s", c.customer, base, r.status, r.body)
			}
			if d := cmp.Diff([]order.Order{c.state}, page.Orders); d != "" {
				t.Errorf("list of %s via %s (-want +got):\n%s", c.customer, base, d)
			}
		}
		// Legacy cancels it.
		cancelled := s.call(s.LegacyURL, "POST", "/v1/orders/"+c.id+"/cancel", retailKey, nil).order(t, http.StatusOK, "legacy cancel of "+c.id)
		if cancelled.ID != c.id || cancelled.Status != order.Cancelled || cancelled.Version != c.state.Version+1 {
			t.Fatalf("legacy cancel of %s: %s %s v%d; want %s cancelled v%d", c.id, cancelled.ID, cancelled.Status, cancelled.Version, c.id, c.state.Version+1)
		}
		c.state = cancelled
	}
	// Legacy's own orders are served by legacy again.
	for _, c := range legacyOwned {
		r := s.call(s.ProxyURL, "GET", "/v1/orders/"+c.id, retailKey, nil)
		if got := r.order(t, http.StatusOK, "proxy GET of "+c.id); r.backend != "legacy" || !cmp.Equal(c.state, got) {
			t.Errorf("proxy GET of legacy order %s at 0 %%: backend %s, order %+v; want legacy, %+v", c.id, r.backend, got, c.state)
		}
	}

	// The cdc carries legacy's cancels back to DynamoDB: the new service
	// (and the proxy, which sends ord_ ids to it) then answers them
	// cancelled, one version on, with legacy's content.
	eventually(t, 60*time.Second, "legacy's cancels reach DynamoDB", func() string {
		for _, c := range owned {
			got := s.call(s.NewURL, "GET", "/v1/orders/"+c.id, retailKey, nil).order(t, http.StatusOK, "new service GET of "+c.id)
			if got.Version < c.state.Version {
				return fmt.Sprintf("%s is %s v%d in DynamoDB, want cancelled v%d", c.id, got.Status, got.Version, c.state.Version)
			}
			if d := cmp.Diff(c.state, got); d != "" {
				t.Fatalf("DynamoDB holds %s differently from legacy's cancel (-legacy +dynamodb):\n%s", c.id, d)
			}
		}
		return ""
	})
	t.Logf("cancels in DynamoDB after %v", time.Since(start).Round(time.Millisecond))
	for _, c := range owned {
		r := s.call(s.ProxyURL, "GET", "/v1/orders/"+c.id, retailKey, nil)
		if got := r.order(t, http.StatusOK, "proxy GET of "+c.id); !cmp.Equal(c.state, got) {
			t.Errorf("proxy GET of %s after the cancel (-legacy +proxy):\n%s", c.id, cmp.Diff(c.state, got))
		}
	}

	// Both stores equal, and every created order in both with the same
	// content.
	var ids bytes.Buffer
	for _, c := range append(append([]*created(nil), owned...), legacyOwned...) {
		fmt.Fprintln(&ids, c.id)
	}
	idsFile := filepath.Join(t.TempDir(), "created.txt")
	if err := os.WriteFile(idsFile, ids.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := migrator.Env{Log: s.Log, Out: io.Discard}
	var out bytes.Buffer
	eventually(t, 30*time.Second, "verify equal", func() string {
		out.Reset()
		rep, err := migrator.RunVerify(t.Context(), s.Migrator, migrator.VerifyOptions{Sample: 100}, migrator.Env{Log: s.Log, Out: &out})
		if err != nil || !rep.Equal() {
			return fmt.Sprintf("%v\n%s", err, out.String())
		}
		if rep.RowsChecked != 60 {
			t.Fatalf("verify checked %d rows, want the 60 orders:\n%s", rep.RowsChecked, out.String())
		}
		return ""
	})
	t.Logf("verify equal after %v", time.Since(start).Round(time.Millisecond))
	rep, err := migrator.RunVerify(t.Context(), s.Migrator, migrator.VerifyOptions{IDs: idsFile}, env)
	if err != nil || !rep.Equal() || rep.Missing+rep.Extra+rep.Lost != 0 {
		t.Fatalf("verify --ids of the 60 created orders: %v, report %+v", err, rep)
	}
}

func retailBody(customer string) map[string]any {
	return map[string]any{
		"customer_id": customer,
		"currency":    "USD",
		"items": []map[string]any{
			{"sku": "CLN-1001", "name": "All-purpose cleaner 1 L", "quantity": 2, "unit_price": "4.99"},
			{"sku": "RTL-2002", "name": "Lavender hand soap 🌿", "quantity": 3, "unit_price": "3.10"},
		},
		"shipping_address": map[string]any{
			"name": "Ana Díaz", "line1": "12 Rue de la Paix", "city": "Paris", "postal_code": "75002", "country": "FR",
		},
		"notes": "rollback ✨",
	}
}
