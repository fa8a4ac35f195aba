package loadgen

import (
	"math/rand/v2"
	"sync"

	"github.com/anycompany/strangler/internal/order"
)

// tracked is an order the generator created, with the status it last saw.
type tracked struct {
	id      string
	channel order.Channel
	status  order.Status
	// pending: the service answered the create with pending (the new
	// service accepts asynchronously); the pool counts it as accepted, and
	// a first advance may still meet a 409.
	pending bool
}

// replayable is a keyed create that a later call may repeat.
type replayable struct {
	id      string
	channel order.Channel
	key     string
	body    []byte
}

// pool remembers the orders the generator created so reads, advances and
// cancels aim at real ids. An order taken out for a state change (checkout)
// is invisible to other state changes until it is put back, so a 409 is
// always a surprise. Each list is bounded; the oldest entries are
// overwritten. The zero value is not usable; make one with newPool. It must
// not be copied.
type pool struct {
	mu       sync.Mutex
	max      int
	recent   []tracked // every created order, a ring, for gets
	next     int       // ring position of recent
	byStatus map[order.Status][]tracked
	overflow map[order.Status]int // ring positions of full byStatus lists
	replays  []replayable
	nextRep  int
}

func newPool(max int) *pool {
	return &pool{max: max, byStatus: map[order.Status][]tracked{}, overflow: map[order.Status]int{}}
}

// created remembers a new order (and its request, when it may be replayed).
func (p *pool) created(t tracked, rep *replayable) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.recent) < p.max {
		p.recent = append(p.recent, t)
	} else {
		p.recent[p.next] = t
		p.next = (p.next + 1) % p.max
	}
	p.putLocked(t)
	if rep != nil {
		if len(p.replays) < p.max {
			p.replays = append(p.replays, *rep)
		} else {
			p.replays[p.nextRep] = *rep
			p.nextRep = (p.nextRep + 1) % p.max
		}
	}
}

// anyOrder returns a random created order, for a read.
func (p *pool) anyOrder(r *rand.Rand) (tracked, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.recent) == 0 {
		return tracked{}, false
	}
	return p.recent[r.IntN(len(p.recent))], true
}

// replay returns a random keyed create.
func (p *pool) replay(r *rand.Rand) (replayable, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.replays) == 0 {
		return replayable{}, false
	}
	return p.replays[r.IntN(len(p.replays))], true
}

// checkout takes a random order in one of statuses out of the pool.
func (p *pool) checkout(r *rand.Rand, statuses ...order.Status) (tracked, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range statuses {
		n += len(p.byStatus[s])
	}
	if n == 0 {
		return tracked{}, false
	}
	k := r.IntN(n)
	for _, s := range statuses {
		list := p.byStatus[s]
		if k >= len(list) {
			k -= len(list)
			continue
		}
		t := list[k]
		list[k] = list[len(list)-1]
		p.byStatus[s] = list[:len(list)-1]
		return t, true
	}
	return tracked{}, false // unreachable: k < n
}

// put returns a checked-out order with the status it now has.
func (p *pool) put(t tracked) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.putLocked(t)
}

func (p *pool) putLocked(t tracked) {
	if t.status == order.Cancelled {
		return // nothing more to do with it but read it
	}
	list := p.byStatus[t.status]
	if len(list) < p.max {
		p.byStatus[t.status] = append(list, t)
		return
	}
	i := p.overflow[t.status]
	list[i] = t
	p.overflow[t.status] = (i + 1) % p.max
}
