package downstream

import (
	"errors"
	"fmt"
	"sync"
)

// journal remembers the calls one service accepted: at most max records,
// oldest forgotten first, indexed by order id and by idempotency key. It also
// keeps the service's counts. The zero value is not usable; make one with
// newJournal. It must not be copied.
type journal struct {
	mu      sync.Mutex
	prefix  string // "res_" or "ent_"
	max     int
	ring    []entry // ring[seq % max] holds record seq while seq >= next-len
	next    uint64  // sequence number of the next record; never reset, so ids stay unique
	held    int     // records in ring
	byOrder map[string][]uint64
	byKey   map[string]uint64
	counts  Counts
}

type entry struct {
	seq         uint64
	rec         Record
	fingerprint string // the request as received, to tell a replay from a key reused for another call
}

func newJournal(prefix string, limit int) *journal {
	return &journal{
		prefix:  prefix,
		max:     limit,
		ring:    make([]entry, 0, min(limit, 1024)),
		byOrder: map[string][]uint64{},
		byKey:   map[string]uint64{},
	}
}

// errKeyReused is a known Idempotency-Key sent with another request.
var errKeyReused = errors.New("the Idempotency-Key was first used for another request")

// add records rec unless its idempotency key is known. It returns the
// record that answers the call and whether it is a duplicate. rec.ID is
// assigned here.
func (j *journal) add(rec Record, fingerprint string) (Record, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if rec.IdempotencyKey != "" {
		if seq, ok := j.byKey[rec.IdempotencyKey]; ok {
			first := j.at(seq)
			if first.fingerprint != fingerprint {
				return Record{}, false, errKeyReused
			}
			j.counts.Duplicates++
			return first.rec, true, nil
		}
	}
	seq := j.next
	j.next++
	rec.ID = fmt.Sprintf("%s%06d", j.prefix, seq+1)
	if j.held == j.max {
		j.evict(seq - uint64(j.max))
	} else {
		j.held++
	}
	e := entry{seq: seq, rec: rec, fingerprint: fingerprint}
	if len(j.ring) < j.max && int(seq%uint64(j.max)) == len(j.ring) {
		j.ring = append(j.ring, e)
	} else {
		j.ring[seq%uint64(j.max)] = e
	}
	j.byOrder[rec.OrderID] = append(j.byOrder[rec.OrderID], seq)
	if rec.IdempotencyKey != "" {
		j.byKey[rec.IdempotencyKey] = seq
	}
	j.counts.Received++
	return rec, false, nil
}

// evict forgets record seq, the oldest held.
func (j *journal) evict(seq uint64) {
	old := j.at(seq)
	seqs := j.byOrder[old.rec.OrderID]
	if len(seqs) <= 1 {
		delete(j.byOrder, old.rec.OrderID)
	} else {
		j.byOrder[old.rec.OrderID] = seqs[1:] // seqs ascend, so the oldest is first
	}
	if k := old.rec.IdempotencyKey; k != "" && j.byKey[k] == seq {
		delete(j.byKey, k)
	}
}

func (j *journal) at(seq uint64) *entry { return &j.ring[seq%uint64(j.max)] }

// failed counts a call failed on purpose.
func (j *journal) failed() {
	j.mu.Lock()
	j.counts.Failed++
	j.mu.Unlock()
}

// byOrderID returns the records of orderID, oldest first; never nil.
func (j *journal) byOrderID(orderID string) []Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	seqs := j.byOrder[orderID]
	out := make([]Record, 0, len(seqs))
	for _, s := range seqs {
		out = append(out, j.at(s).rec)
	}
	return out
}

// snapshot returns the counts and the number of records held.
func (j *journal) snapshot() (Counts, int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.counts, j.held
}

// reset forgets every record and zeroes the counts; ids keep rising.
func (j *journal) reset() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ring = j.ring[:0]
	j.held = 0
	j.byOrder = map[string][]uint64{}
	j.byKey = map[string]uint64{}
	j.counts = Counts{}
	// Restart the ring at a slot boundary so append and index agree again.
	j.next += uint64(j.max) - j.next%uint64(j.max)
}
