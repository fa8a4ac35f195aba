package mysqlsource

import (
	"fmt"
	"time"

	vtmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/replication"
	"vitess.io/vitess/go/mysql/sqlerror"
)

// errFatalReading is MySQL's ER_SOURCE_FATAL_ERROR_READING_BINLOG (1236),
// the error a dump thread ends with when it cannot serve a position.
func errFatalReading(format string, args ...any) error {
	return sqlerror.NewSQLErrorf(sqlerror.ErrorCode(1236), sqlerror.SSUnknownSQLState, format, args...)
}

// cursor is a dump's place in the log: the next event of a file.
type cursor struct {
	f *file
	i int
}

// startGTID places a dump for a replica that has executed have: the
// newest file whose previous GTIDs the replica has. It refuses a replica
// missing purged transactions, or having transactions of this server the
// source never wrote, with MySQL's texts.
func (l *binlogLog) startGTID(have replication.Mysql56GTIDSet, sid replication.SID, v8 bool) (cursor, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !have.Contains(l.purged) {
		missing := l.purged.Difference(have)
		if !v8 {
			return cursor{}, errFatalReading("The slave is connecting using CHANGE MASTER TO MASTER_AUTO_POSITION = 1, but the master has purged binary logs containing GTIDs that the slave requires.")
		}
		return cursor{}, errFatalReading("Cannot replicate because the source purged required binary logs. Replicate the missing transactions from elsewhere, or provision a new replica from backup. Consider increasing the source's binary log expiration period. The GTID set sent by the replica is '%s', and the missing transactions are '%s'.", have, missing)
	}
	mine := replication.Mysql56GTIDSet{}
	if ivs, ok := have[sid]; ok {
		mine[sid] = ivs
	}
	if !l.executed.Contains(mine) {
		return cursor{}, errFatalReading("Replica has more GTIDs than the source has, using the source's SERVER_UUID. This may indicate that the end of the binary log was truncated or that the last binary log file was lost, e.g., after a power or disk failure when sync_binlog != 1. The source may or may not have rolled back transactions that were already replicated to the replica. Suggest to replicate any transactions that source has rolled back from replica to source, and/or commit empty transactions on source to account for transactions that have been committed on source but are not included in GTID_EXECUTED.")
	}
	for i := len(l.files) - 1; i >= 0; i-- {
		if have.Contains(l.files[i].prev) {
			return cursor{f: l.files[i]}, nil
		}
	}
	return cursor{f: l.files[0]}, nil
}

// startFile places a dump at name:pos, an event boundary of a file the
// source still has.
func (l *binlogLog) startFile(name string, pos uint32) (cursor, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if name == "" {
		return cursor{f: l.files[0]}, nil
	}
	for _, f := range l.files {
		if f.name != name {
			continue
		}
		if pos <= 4 {
			return cursor{f: f}, nil
		}
		if int(pos) > len(f.data) {
			return cursor{}, errFatalReading("Client requested source to start replication from position > file size")
		}
		if int(pos) == len(f.data) {
			return cursor{f: f, i: len(f.events)}, nil
		}
		for i, e := range f.events {
			if e.off == int(pos) {
				return cursor{f: f, i: i}, nil
			}
		}
		return cursor{}, errFatalReading("bogus data in log event; the first event '%s' at %d, the last event read from '%s' at 4, the last byte read from '%s' at 4.", name, pos, name, name)
	}
	return cursor{}, errFatalReading("Could not find first log file name in binary log index file")
}

// next returns the events after c (copies) and moves c past them; none
// when c is at the end, with the channel closed at the next change.
func (l *binlogLog) next(c *cursor) ([][]byte, []replication.Mysql56GTID, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.i >= len(c.f.events) {
		for k, f := range l.files {
			if f == c.f && k+1 < len(l.files) {
				c.f, c.i = l.files[k+1], 0
				break
			}
		}
	}
	var evs [][]byte
	var gtids []replication.Mysql56GTID
	for ; c.i < len(c.f.events) && len(evs) < 256; c.i++ {
		e := c.f.events[c.i]
		evs = append(evs, append([]byte(nil), c.f.data[e.off:e.end]...))
		gtids = append(gtids, e.gtid)
	}
	return evs, gtids, l.changed
}

// position is the end of the file the cursor is in (heartbeats).
func (l *binlogLog) position(c cursor) (string, uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.i == 0 {
		return c.f.name, 4
	}
	return c.f.name, uint32(c.f.events[c.i-1].end)
}

// dump serves the log from c to a replica until it goes away or the
// source closes: a fake ROTATE naming the file, then the events (those of
// transactions in skip left out), and a HEARTBEAT after every idle
// heartbeat period (none when zero).
func (s *Source) dump(conn *vtmysql.Conn, c cursor, skip replication.Mysql56GTIDSet, ss *session) error {
	heartbeat, crc := ss.heartbeat, ss.checksum
	write := func(b []byte) error {
		return conn.WriteBinlogEvent(vtmysql.NewMysql56BinlogEvent(b), false)
	}
	// The events the dump makes up (the first ROTATE, HEARTBEATs) carry a
	// checksum only for a replica that asked for CRC32 with
	// @source_binlog_checksum; events read from the file always do.
	fake := s.enc.packet(evRotate, vtmysql.FlagLogEventArtificial, rotate(uint64(max(4, c.offset())), c.f.name), 0, crc)
	if err := write(patchPos(fake, 0, crc)); err != nil {
		return err
	}
	if c.i > 0 {
		// A dump from inside a file still gets the file's format first.
		f := c.f
		fde := append([]byte(nil), f.data[f.events[0].off:f.events[0].end]...)
		if err := write(patchPos(fde, 0, true)); err != nil {
			return err
		}
	}
	for {
		evs, gtids, changed := s.binlog.next(&c)
		for i, b := range evs {
			if gtids[i].Sequence != 0 && skip != nil && skip.ContainsGTID(gtids[i]) {
				continue
			}
			if err := write(b); err != nil {
				return err
			}
		}
		if len(evs) > 0 {
			if err := conn.FlushWriteBuffer(); err != nil {
				return err
			}
			continue
		}
		var tick <-chan time.Time
		var t *time.Timer
		if heartbeat > 0 {
			t = time.NewTimer(heartbeat)
			tick = t.C
		}
		stop := func() {
			if t != nil {
				t.Stop()
			}
		}
		select {
		case <-changed:
			stop()
		case <-s.done:
			stop()
			return fmt.Errorf("the source is shutting down")
		case <-tick:
			name, pos := s.binlog.position(c)
			hb := s.enc.packet(evHeartbeat, vtmysql.FlagLogEventArtificial, []byte(name), 0, crc)
			if err := write(patchPos(hb, pos, crc)); err != nil {
				return err
			}
			if err := conn.FlushWriteBuffer(); err != nil {
				return err
			}
		}
	}
}

func (c cursor) offset() int {
	if c.i < len(c.f.events) {
		return c.f.events[c.i].off
	}
	return len(c.f.data)
}
