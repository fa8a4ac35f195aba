package loadgen

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/order"
)

func TestMixSelectionIsDeterministicForASeed(t *testing.T) {
	p := newPicker(DefaultConfig().Mix)
	seq := func(seed uint64) []Op {
		out := make([]Op, 500)
		for i := range out {
			out[i] = p.pick(opRand(seed, uint64(i)))
		}
		return out
	}
	if d := cmp.Diff(seq(42), seq(42)); d != "" {
		t.Errorf("same seed, different sequences (-first +second):\n%s", d)
	}
	if cmp.Equal(seq(42), seq(43)) {
		t.Error("seeds 42 and 43 gave the same sequence")
	}
}

func TestMixFollowsTheWeights(t *testing.T) {
	for _, m := range []Mix{
		DefaultConfig().Mix,
		{Create: 1},
		{Get: 3, List: 1},
		{Create: 0.5, Advance: 0.25, Cancel: 0.25},
	} {
		p := newPicker(m)
		const n = 200_000
		var got [numOps]float64
		for i := range uint64(n) {
			got[p.pick(opRand(1, i))]++
		}
		sum := m.Create + m.Get + m.List + m.Advance + m.Cancel
		for op, w := range map[Op]float64{OpCreate: m.Create, OpGet: m.Get, OpList: m.List, OpAdvance: m.Advance, OpCancel: m.Cancel} {
			want := w / sum
			if share := got[op] / n; math.Abs(share-want) > 0.005 {
				t.Errorf("mix %+v: %s share %.4f, want %.4f", m, op, share, want)
			}
		}
	}
}

// TestPlansAreDeterministic plans the same operations twice from one seed:
// with no orders known yet every operation is a list or a create, and both
// runs must send byte-identical requests.
func TestPlansAreDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Seed = 99
	render := func() []string {
		w := newWorkload(cfg, "run1")
		var out []string
		for i := range uint64(300) {
			c := w.plan(i)
			out = append(out, c.op.String()+" "+c.method+" "+c.path+" "+c.key+" "+string(c.body))
		}
		return out
	}
	first, second := render(), render()
	if d := cmp.Diff(first, second); d != "" {
		t.Errorf("same seed, different plans (-first +second):\n%s", d)
	}
	var creates, lists int
	for _, line := range first {
		switch {
		case strings.HasPrefix(line, "create "):
			creates++
		case strings.HasPrefix(line, "list "):
			lists++
		}
	}
	if creates == 0 || lists == 0 || creates+lists < 290 {
		t.Errorf("with no orders known, want creates and lists (and a few invalid creates), got %d creates, %d lists of %d", creates, lists, len(first))
	}
}

// TestCreatesMeetTheOrderRules checks thousands of generated creates
// against the rules the order services enforce: valid ones pass, the
// deliberately invalid ones fail.
func TestCreatesMeetTheOrderRules(t *testing.T) {
	cfg := DefaultConfig()
	w := newWorkload(cfg, "run1")
	rules := order.DefaultRules()
	var retail, wholesale, withNotes, withEmoji, invalid int
	for i := range uint64(5000) {
		r := opRand(cfg.Seed, i)
		c := w.create(r, i)
		var req order.CreateRequest
		if err := json.Unmarshal(c.body, &req); err != nil {
			t.Fatalf("create %d: body is not a create request: %v", i, err)
		}
		_, fe := rules.Validate(c.channel, req)
		if c.op == OpInvalid {
			invalid++
			if fe == nil {
				t.Errorf("create %d is meant to be invalid but passes: %s", i, c.body)
			}
			continue
		}
		if fe != nil {
			t.Fatalf("create %d (%s) is invalid: %v\n%s", i, c.channel, fe, c.body)
		}
		if c.channel == order.Retail {
			retail++
		} else {
			wholesale++
		}
		if req.Notes != "" {
			withNotes++
		}
		if strings.ContainsFunc(req.Notes, func(r rune) bool { return r > 0xFFFF }) {
			withEmoji++
		}
		if !strings.HasPrefix(req.CustomerID, "cust-r-") && !strings.HasPrefix(req.CustomerID, "cust-w-") {
			t.Errorf("create %d: customer %q", i, req.CustomerID)
		}
	}
	share := float64(wholesale) / float64(retail+wholesale)
	if math.Abs(share-cfg.WholesaleShare) > 0.03 || withNotes == 0 || withEmoji == 0 || invalid == 0 {
		t.Errorf("retail %d, wholesale %d (share %.3f), with notes %d, with emoji %d, invalid %d",
			retail, wholesale, share, withNotes, withEmoji, invalid)
	}
}

func TestPopularityIsSkewed(t *testing.T) {
	cfg := DefaultConfig()
	w := newWorkload(cfg, "run1")
	counts := map[string]int{}
	r := rand.New(rand.NewPCG(1, 2))
	for range 50_000 {
		counts[w.customer(r).ID]++
	}
	if counts["cust-r-0001"] < 10*max(counts["cust-r-1000"], 1) {
		t.Errorf("cust-r-0001 ordered %d times, cust-r-1000 %d: want a zipf-like skew", counts["cust-r-0001"], counts["cust-r-1000"])
	}
	if len(counts) < 1000 {
		t.Errorf("only %d distinct customers in 50,000 picks", len(counts))
	}
}

func TestPoolChecksOutAndPutsBack(t *testing.T) {
	w := newWorkload(DefaultConfig(), "run1")
	w.pool.created(tracked{id: "1", channel: order.Retail, status: order.Accepted}, nil)
	r := rand.New(rand.NewPCG(1, 1))

	c := w.plan(0)
	for i := uint64(1); c.op != OpAdvance; i++ {
		if i > 1000 {
			t.Fatal("no advance planned in 1000 operations")
		}
		if c.op == OpCancel {
			w.abandon(c) // keep order 1 for the advance
		}
		c = w.plan(i)
	}
	if c.path != "/v1/orders/1" || string(c.body) != `{"status":"processing"}` || c.method != http.MethodPatch {
		t.Fatalf("advance: %s %s %s", c.method, c.path, c.body)
	}
	if _, ok := w.pool.checkout(r, order.Accepted, order.Processing); ok {
		t.Fatal("a checked-out order must not be handed out twice")
	}
	if class := w.complete(c, http.StatusOK, nil); class != "" {
		t.Fatalf("complete: %q", class)
	}
	got, ok := w.pool.checkout(r, order.Processing)
	if !ok || got.id != "1" {
		t.Fatalf("after the advance, order 1 should be processing: %+v %v", got, ok)
	}
	if class := w.complete(call{op: OpCancel, expect: []int{200}, order: got, next: order.Cancelled}, 503, nil); class != "5xx" {
		t.Errorf("a 503 is class %q, want 5xx", class)
	}
	if _, ok := w.pool.checkout(r, order.Accepted, order.Processing, order.Shipped); ok {
		t.Error("an order whose state change failed must be forgotten for state changes")
	}
}

func TestCompleteClassifies(t *testing.T) {
	w := newWorkload(DefaultConfig(), "run1")
	for _, tc := range []struct {
		name   string
		c      call
		status int
		body   string
		want   string
	}{
		{"created", call{op: OpCreate, expect: []int{201}}, 201, `{"id":"7","status":"accepted"}`, ""},
		{"created without id", call{op: OpCreate, expect: []int{201}}, 201, `{}`, classMismatch},
		{"create refused", call{op: OpCreate, expect: []int{201}}, 400, `{}`, "4xx"},
		{"create failed", call{op: OpCreate, expect: []int{201}}, 502, ``, "5xx"},
		{"replay same id", call{op: OpReplay, expect: []int{200, 201}, wantID: "7"}, 200, `{"id":"7"}`, ""},
		{"replay other id", call{op: OpReplay, expect: []int{200, 201}, wantID: "7"}, 201, `{"id":"8"}`, classMismatch},
		{"invalid refused", call{op: OpInvalid, expect: []int{400, 422}}, 422, `{}`, ""},
		{"invalid accepted", call{op: OpInvalid, expect: []int{400, 422}}, 201, `{"id":"9"}`, "2xx"},
		{"cancel shipped refused", call{op: OpCancel, expect: []int{409}, next: order.Shipped}, 409, ``, ""},
		{"get missing", call{op: OpGet, expect: []int{200}}, 404, ``, "4xx"},
		{"redirect", call{op: OpList, expect: []int{200}}, 302, ``, "3xx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := w.complete(tc.c, tc.status, []byte(tc.body)); got != tc.want {
				t.Errorf("class %q, want %q", got, tc.want)
			}
		})
	}
}
