package loadgen

import "math/rand/v2"

// Op is one kind of operation the generator sends.
type Op int

// The operations. Replay and Invalid are kinds of create, reported apart
// because they expect other answers.
const (
	OpCreate  Op = iota // POST /v1/orders, a new order
	OpGet               // GET /v1/orders/{id} of an order it created
	OpList              // GET /v1/orders?customer_id=…
	OpAdvance           // PATCH /v1/orders/{id} to the next status
	OpCancel            // POST /v1/orders/{id}/cancel
	OpReplay            // POST /v1/orders repeating an earlier keyed create
	OpInvalid           // POST /v1/orders with a deliberately invalid body
	numOps
)

// String names o as the report does.
func (o Op) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpGet:
		return "get"
	case OpList:
		return "list"
	case OpAdvance:
		return "advance"
	case OpCancel:
		return "cancel"
	case OpReplay:
		return "replay"
	case OpInvalid:
		return "invalid"
	}
	return "unknown"
}

// picker draws operations with the weights of a Mix. The zero value never
// picks; make one with newPicker. It may be copied.
type picker struct {
	ops []Op
	cum []float64 // cumulative weights, same order as ops
}

func newPicker(m Mix) picker {
	var p picker
	var sum float64
	for _, w := range []struct {
		op Op
		w  float64
	}{{OpCreate, m.Create}, {OpGet, m.Get}, {OpList, m.List}, {OpAdvance, m.Advance}, {OpCancel, m.Cancel}} {
		if w.w <= 0 {
			continue
		}
		sum += w.w
		p.ops = append(p.ops, w.op)
		p.cum = append(p.cum, sum)
	}
	return p
}

// pick draws one operation from r.
func (p picker) pick(r *rand.Rand) Op {
	if len(p.ops) == 0 {
		return OpCreate
	}
	x := r.Float64() * p.cum[len(p.cum)-1]
	for i, c := range p.cum {
		if x < c {
			return p.ops[i]
		}
	}
	return p.ops[len(p.ops)-1]
}

// opRand returns the random source of operation i of a run seeded with
// seed: every operation draws from its own stream, so the sequence of
// operations and bodies does not depend on which goroutine sends them.
func opRand(seed, i uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, splitmix64(i)))
}

// splitmix64 scrambles consecutive integers into well-spread seeds.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
