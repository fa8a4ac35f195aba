package mysqlsource

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"vitess.io/vitess/go/mysql/replication"
)

// Table is a table as the source's table map events declare it.
type Table struct {
	Schema, Name string
	Columns      []Column
	// PrimaryKey are the indexes of the primary key's columns (FULL
	// metadata's SIMPLE_PRIMARY_KEY).
	PrimaryKey []int
}

// Row is one row change: Before is nil on inserts, After on deletes. The
// values are in the table's column order, nil for NULL (see appendValue
// for the Go types taken).
type Row struct {
	Before, After []any
}

// Change is one rows event's worth of a transaction: rows of one table.
type Change struct {
	Table *Table
	Rows  []Row
}

// Txn is a transaction to append to the binlog: DML changes between BEGIN
// and COMMIT, or one DDL statement (DDL non-empty, Changes empty).
type Txn struct {
	Changes []Change
	DDL     string
	// Schema is the DDL's default database (and BEGIN's).
	Schema string
	// Compressed writes the transaction as a TRANSACTION_PAYLOAD_EVENT
	// even when binlog_transaction_compression is OFF.
	Compressed bool
}

// event is one event in a binlog file.
type event struct {
	off, end int
	// gtid is the transaction the event belongs to (zero outside one).
	gtid replication.Mysql56GTID
}

// file is one binlog file, kept in memory: the magic number, then events.
type file struct {
	name   string
	data   []byte
	events []event
	// prev are the GTIDs of every earlier file (PREVIOUS_GTIDS_LOG_EVENT).
	prev replication.Mysql56GTIDSet
}

// binlogLog is the source's binary log: files, the executed and purged
// GTID sets, and the waiters for new events. Its methods are safe for
// concurrent use.
type binlogLog struct {
	mu       sync.Mutex
	enc      *encoder
	base     string
	files    []*file
	executed replication.Mysql56GTIDSet
	purged   replication.Mysql56GTIDSet
	// held are GTIDs binlogged whose commit is not yet visible.
	held map[replication.Mysql56GTID]bool
	// heldExecuted counts held GTIDs in gtid_executed (see
	// Source.HeldCountsAsExecuted).
	heldExecuted bool
	seq          int64
	xid          uint64
	// tableIDs are the ids given to table definitions.
	tableIDs map[string]uint64
	changed  chan struct{}
}

func newLog(enc *encoder, base string) *binlogLog {
	l := &binlogLog{enc: enc, base: base, executed: replication.Mysql56GTIDSet{}, purged: replication.Mysql56GTIDSet{},
		held: map[replication.Mysql56GTID]bool{}, tableIDs: map[string]uint64{}, changed: make(chan struct{})}
	l.openFile(1)
	return l
}

// openFile starts file number n: magic, FORMAT_DESCRIPTION, PREVIOUS_GTIDS.
func (l *binlogLog) openFile(n int) {
	f := &file{name: fmt.Sprintf("%s.%06d", l.base, n), data: []byte{0xfe, 'b', 'i', 'n'}, prev: cloneSet(l.executed)}
	l.files = append(l.files, f)
	l.put(evFormatDescription, 0, l.enc.formatDescription(), replication.Mysql56GTID{})
	l.put(evPreviousGTIDs, 0, previousGTIDs(f.prev), replication.Mysql56GTID{})
}

func cloneSet(s replication.Mysql56GTIDSet) replication.Mysql56GTIDSet {
	out := replication.Mysql56GTIDSet{}
	if s == nil {
		return out
	}
	return out.Union(s).(replication.Mysql56GTIDSet)
}

// put appends one event at the end of the current file.
func (l *binlogLog) put(typ byte, flags uint16, body []byte, gtid replication.Mysql56GTID) {
	f := l.files[len(l.files)-1]
	off := len(f.data)
	b := l.enc.packet(typ, flags, body, uint32(off), true)
	f.data = append(f.data, b...)
	f.events = append(f.events, event{off: off, end: len(f.data), gtid: gtid})
}

// wake tells every waiter the log changed.
func (l *binlogLog) wake() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// current is the last file's name and size.
func (l *binlogLog) current() (string, int) {
	f := l.files[len(l.files)-1]
	return f.name, len(f.data)
}

// rotate closes the current file with a ROTATE_EVENT and opens the next.
func (l *binlogLog) rotate() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rotateLocked()
	l.wake()
}

func (l *binlogLog) rotateLocked() {
	last := l.files[len(l.files)-1]
	n, _ := strconv.Atoi(last.name[strings.LastIndex(last.name, ".")+1:])
	next := fmt.Sprintf("%s.%06d", l.base, n+1)
	l.put(evRotate, 0, rotate(4, next), replication.Mysql56GTID{})
	l.openFile(n + 1)
}

// purgeTo drops every file before name (PURGE BINARY LOGS TO): their
// GTIDs join gtid_purged.
func (l *binlogLog) purgeTo(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.files {
		if f.name == name {
			l.files = l.files[i:]
			l.purged = cloneSet(f.prev)
			return nil
		}
	}
	return fmt.Errorf("binlog %s not found (files: %s)", name, l.namesLocked())
}

func (l *binlogLog) namesLocked() string {
	var n []string
	for _, f := range l.files {
		n = append(n, f.name)
	}
	return strings.Join(n, ", ")
}

// snapshot is what SHOW BINARY LOGS and the GTID variables read.
type logState struct {
	files    []fileInfo
	executed replication.Mysql56GTIDSet
	purged   replication.Mysql56GTIDSet
	visible  replication.Mysql56GTIDSet
}

type fileInfo struct {
	name string
	size int
}

func (l *binlogLog) state() logState {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := logState{executed: cloneSet(l.executed), purged: cloneSet(l.purged), visible: cloneSet(l.executed)}
	for g := range l.held {
		s.visible = s.visible.Difference(replication.Mysql56GTIDSet{}.AddGTID(g).(replication.Mysql56GTIDSet))
	}
	if !l.heldExecuted {
		s.executed = s.visible
	}
	for _, f := range l.files {
		s.files = append(s.files, fileInfo{f.name, len(f.data)})
	}
	return s
}

// waitChan is closed at the next change of the log.
func (l *binlogLog) waitChan() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}
