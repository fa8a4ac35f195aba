package mysqlsource

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"

	"vitess.io/vitess/go/mysql/replication"
)

// writeOpts are the settings a transaction is written with.
type writeOpts struct {
	sid          replication.SID
	gtidMode     bool
	fullMetadata bool
	compress     bool
	v8           bool
	version      uint32
	commitMicros uint64
	held         bool
	// maxSize is max_binlog_size: the file rotates after a transaction
	// that reaches it.
	maxSize int
}

// innerEvent is an event before it is placed in a file.
type innerEvent struct {
	typ   byte
	flags uint16
	body  []byte
}

// appendTxn writes t as one transaction: its GTID event (anonymous when
// gtid_mode is OFF), then BEGIN, a table map and rows event per change,
// and XID; or the DDL's query event alone. With compression the events
// after the GTID event travel in one TRANSACTION_PAYLOAD_EVENT.
func (l *binlogLog) appendTxn(t Txn, o writeOpts) (replication.Mysql56GTID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	inner, err := l.innerEvents(t, o)
	if err != nil {
		return replication.Mysql56GTID{}, err
	}
	var rest []innerEvent
	if o.compress || t.Compressed {
		var raw []byte
		for _, e := range inner {
			raw = append(raw, l.enc.packet(e.typ, e.flags, e.body, 0, false)...)
		}
		pb, err := payloadBody(raw)
		if err != nil {
			return replication.Mysql56GTID{}, fmt.Errorf("compressing a transaction: %w", err)
		}
		rest = []innerEvent{{typ: evTransactionPayload, body: pb}}
	} else {
		rest = inner
	}
	restLen := 0
	for _, e := range rest {
		restLen += headerLen + len(e.body) + crcLen
	}
	var g replication.Mysql56GTID
	typ := byte(evAnonymousGTID)
	if o.gtidMode {
		typ = evGTID
		g = replication.Mysql56GTID{Server: o.sid, Sequence: l.lastGNO(o.sid) + 1}
	}
	l.seq++
	gb := gtidBody(g.Server, g.Sequence, l.seq, o.commitMicros, 0, o.version, o.v8)
	for i := 0; i < 3; i++ { // the length counts the GTID event, whose size depends on it
		total := uint64(restLen + headerLen + len(gb) + crcLen)
		gb = gtidBody(g.Server, g.Sequence, l.seq, o.commitMicros, total, o.version, o.v8)
	}
	l.put(typ, 0, gb, g)
	for _, e := range rest {
		l.put(e.typ, e.flags, e.body, g)
	}
	if o.gtidMode {
		l.executed = l.executed.AddGTID(g).(replication.Mysql56GTIDSet)
		if o.held {
			l.held[g] = true
		}
	}
	if _, size := l.current(); o.maxSize > 0 && size >= o.maxSize {
		l.rotateLocked() // as MySQL, after the transaction that filled the file
	}
	l.wake()
	return g, nil
}

// lastGNO is the highest sequence number of sid in the executed set.
func (l *binlogLog) lastGNO(sid replication.SID) int64 {
	var last int64
	for _, part := range strings.Split(l.executed.String(), ",") {
		uuid, ivs, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !strings.EqualFold(uuid, sid.String()) {
			continue
		}
		for _, iv := range strings.Split(ivs, ":") {
			_, end, found := strings.Cut(iv, "-")
			if !found {
				end = iv
			}
			var n int64
			fmt.Sscan(end, &n)
			if n > last {
				last = n
			}
		}
	}
	return last
}

func (l *binlogLog) innerEvents(t Txn, o writeOpts) ([]innerEvent, error) {
	if t.DDL != "" {
		return []innerEvent{{typ: evQuery, body: l.enc.queryBody(t.Schema, t.DDL)}}, nil
	}
	out := []innerEvent{{typ: evQuery, body: l.enc.queryBody(t.Schema, "BEGIN")}}
	for _, ch := range t.Changes {
		id := l.tableID(ch.Table)
		tm := l.enc.tableMapBody(id, ch.Table, o.fullMetadata, o.v8)
		for i := 0; i < len(ch.Rows); {
			j := i
			for j < len(ch.Rows) && kind(ch.Rows[j]) == kind(ch.Rows[i]) {
				j++
			}
			out = append(out, innerEvent{typ: evTableMap, body: tm})
			rb, err := l.enc.rowsBody(kind(ch.Rows[i]), id, ch.Table, ch.Rows[i:j], true)
			if err != nil {
				return nil, err
			}
			out = append(out, innerEvent{typ: kind(ch.Rows[i]), body: rb})
			i = j
		}
	}
	l.xid++
	return append(out, innerEvent{typ: evXID, body: xidBody(l.xid)}), nil
}

func kind(r Row) byte {
	switch {
	case r.Before == nil:
		return binlogWriteRows
	case r.After == nil:
		return binlogDeleteRows
	}
	return binlogUpdateRows
}

// tableID is the table's id: one per table definition, a new one when
// the definition changes (as MySQL assigns one each time it opens a
// changed table).
func (l *binlogLog) tableID(t *Table) uint64 {
	key := fmt.Sprintf("%s.%s%v", t.Schema, t.Name, t.Columns)
	if id, ok := l.tableIDs[key]; ok {
		return id
	}
	id := uint64(len(l.tableIDs) + 100)
	l.tableIDs[key] = id
	return id
}

// patchPos sets an event's log_pos and recomputes its checksum.
func patchPos(b []byte, pos uint32, crc bool) []byte {
	binary.LittleEndian.PutUint32(b[13:17], pos)
	if crc {
		binary.LittleEndian.PutUint32(b[len(b)-crcLen:], crc32.ChecksumIEEE(b[:len(b)-crcLen]))
	}
	return b
}
