package downstream

import (
	"slices"
	"sync"
	"time"
)

// Interests says which order events each service reacts to: inventory
// reserves stock on OrderCreated and releases it on OrderCancelled;
// accounting books OrderCreated and OrderCancelled and follows
// OrderStatusChanged (shipped orders are invoiced). Other detail types
// (OrderUpdated, OrderDeleted) are acknowledged and ignored.
func Interests() map[Service][]string {
	return map[Service][]string{
		Inventory:  {"OrderCreated", "OrderCancelled"},
		Accounting: {"OrderCreated", "OrderCancelled", "OrderStatusChanged"},
	}
}

// interested returns the services that react to detailType, in a fixed order.
func interested(detailType string) []Service {
	var out []Service
	in := Interests()
	for _, svc := range Services() {
		if slices.Contains(in[svc], detailType) {
			out = append(out, svc)
		}
	}
	return out
}

// inbox remembers the order events delivered through the bus: at most max
// event ids, oldest forgotten first, so a redelivered event_id (the bus
// retried, the cdc replayed) is recognised and dropped. The zero value is
// not usable; make one with newInbox. It must not be copied.
type inbox struct {
	mu      sync.Mutex
	max     int
	fifo    []string          // event ids, oldest first; fifo[head:] are live
	head    int               // index of the oldest live id in fifo
	seen    map[string]string // event id -> order id
	byOrder map[string][]EventRecord
	counts  EventCounts
	events  map[Service]int64
	sources map[string]SourceCounts
}

func newInbox(limit int) *inbox {
	return &inbox{max: limit, seen: map[string]string{}, byOrder: map[string][]EventRecord{}, events: map[Service]int64{}, sources: map[string]SourceCounts{}}
}

// add records ev for each of services unless its event id was seen. It
// reports whether ev is a duplicate.
func (b *inbox) add(ev EventRecord, services []Service) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	sc := b.sources[ev.Source]
	defer func() { b.sources[ev.Source] = sc }()
	if _, dup := b.seen[ev.EventID]; dup {
		b.counts.Duplicates++
		sc.Duplicates++
		return true
	}
	b.counts.Received++
	sc.Received++
	if len(services) == 0 {
		b.counts.Ignored++
	}
	if len(b.seen) == b.max {
		b.evictOldest()
	}
	b.seen[ev.EventID] = ev.OrderID
	b.fifo = append(b.fifo, ev.EventID)
	for _, svc := range services {
		r := ev
		r.Service = svc
		b.byOrder[ev.OrderID] = append(b.byOrder[ev.OrderID], r)
		b.events[svc]++
	}
	return false
}

func (b *inbox) evictOldest() {
	id := b.fifo[b.head]
	b.fifo[b.head] = ""
	b.head++
	if b.head > len(b.fifo)/2 { // compact so the slice does not grow forever
		b.fifo = append(b.fifo[:0], b.fifo[b.head:]...)
		b.head = 0
	}
	orderID := b.seen[id]
	delete(b.seen, id)
	recs := slices.DeleteFunc(b.byOrder[orderID], func(r EventRecord) bool { return r.EventID == id })
	if len(recs) == 0 {
		delete(b.byOrder, orderID)
	} else {
		b.byOrder[orderID] = recs
	}
}

// invalid counts an event refused as malformed; failed one refused by a fault.
func (b *inbox) invalid() { b.mu.Lock(); b.counts.Invalid++; b.mu.Unlock() }
func (b *inbox) failed()  { b.mu.Lock(); b.counts.Failed++; b.mu.Unlock() }

// byOrderID returns the events recorded for orderID, oldest first; never nil.
func (b *inbox) byOrderID(orderID string) []EventRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]EventRecord{}, b.byOrder[orderID]...)
}

// snapshot returns the counts and the events recorded per service.
func (b *inbox) snapshot() (EventCounts, map[Service]int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	per := map[Service]int64{}
	for k, v := range b.events {
		per[k] = v
	}
	counts := b.counts
	if len(b.sources) > 0 {
		counts.Sources = make(map[string]SourceCounts, len(b.sources))
		for k, v := range b.sources {
			counts.Sources[k] = v
		}
	}
	return counts, per
}

// reset forgets every event and zeroes the counts.
func (b *inbox) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fifo, b.head = nil, 0
	b.seen = map[string]string{}
	b.byOrder = map[string][]EventRecord{}
	b.counts = EventCounts{}
	b.events = map[Service]int64{}
	b.sources = map[string]SourceCounts{}
}

// EventRecord is one order event a service recorded, as GET /events lists it.
type EventRecord struct {
	Service Service `json:"service"`
	// Source is the event's source: com.anycompany.orders (the cdc, legacy
	// changes) or com.anycompany.orders.service (the new service's relay).
	Source     string `json:"source,omitempty"`
	EventID    string `json:"event_id"`
	DetailType string `json:"detail_type"`
	OrderID    string `json:"order_id"`
	// SourcePosition is detail.source_position as sent (a number or a string).
	SourcePosition any       `json:"source_position,omitempty"`
	BusEventID     string    `json:"bus_event_id"`
	ReceivedAt     time.Time `json:"received_at"`
}

// EventRecords is the body of GET /events?order_id=.
type EventRecords struct {
	Items []EventRecord `json:"items"`
}

// EventCounts are the events POST /events answered since start (or the
// last reset).
type EventCounts struct {
	// Received counts events seen for the first time (recorded, or ignored).
	Received int64 `json:"received"`
	// Duplicates counts events whose detail.event_id was already seen; dropped.
	Duplicates int64 `json:"duplicates"`
	// Ignored counts the Received events no service reacts to.
	Ignored int64 `json:"ignored"`
	// Invalid counts bodies refused with 400 (not an envelope, no event_id).
	Invalid int64 `json:"invalid"`
	// Failed counts events answered 503 by a fault of an interested service.
	Failed int64 `json:"failed"`
	// Sources splits Received and Duplicates by the events' source (absent
	// before the first event).
	Sources map[string]SourceCounts `json:"sources,omitempty"`
}

// SourceCounts are the events of one source POST /events took.
type SourceCounts struct {
	Received   int64 `json:"received"`
	Duplicates int64 `json:"duplicates"`
}
