package mysqlsource

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"vitess.io/vitess/go/mysql/replication"
)

// Held is a transaction binlogged but not yet visible: its events are in
// the source's binlog (a dump serves them, SHOW BINARY LOG STATUS's
// Position counts them) while its rows are invisible to every other
// connection until Release. See the package doc.
type Held struct {
	// GTID is the transaction's MySQL GTID.
	GTID string
	s    *Source
	conn *sql.Conn
	xid  string
}

var holdSeq atomic.Int64

// Hold runs stmts (in the source's database) as one transaction on the
// backend and stops it between its binlog write and its commit: it is an
// XA transaction left PREPARED, which MariaDB binlogs at prepare. Hold
// returns once the source's binlog has it.
func (s *Source) Hold(ctx context.Context, stmts ...string) (*Held, error) {
	conn, err := s.follower.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("mysqlsource: hold: %w", err)
	}
	gtrid := fmt.Sprintf("mysqlsource-hold-%d-%d", time.Now().UnixNano(), holdSeq.Add(1))
	h := &Held{s: s, conn: conn, xid: "X'" + hex.EncodeToString([]byte(gtrid)) + "'"}
	ready := s.follower.expectHold(h.xid)
	run := append(append([]string{"XA START '" + gtrid + "'"}, stmts...), "XA END '"+gtrid+"'", "XA PREPARE '"+gtrid+"'")
	for _, q := range run {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			conn.Close()
			return nil, fmt.Errorf("mysqlsource: hold: %s: %w", q, err)
		}
	}
	select {
	case g := <-ready:
		h.GTID = g.String()
		return h, nil
	case <-ctx.Done():
		conn.Close()
		return nil, fmt.Errorf("mysqlsource: hold: waiting for the prepared transaction in the binlog: %w", ctx.Err())
	}
}

// Release commits the held transaction and returns once the source counts
// it as executed and visible.
func (h *Held) Release(ctx context.Context) error {
	defer h.conn.Close()
	if _, err := h.conn.ExecContext(ctx, "XA COMMIT "+h.xid); err != nil {
		return fmt.Errorf("mysqlsource: releasing %s: %w", h.GTID, err)
	}
	var last string
	if err := h.conn.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&last); err != nil {
		return fmt.Errorf("mysqlsource: releasing %s: %w", h.GTID, err)
	}
	return h.s.follower.waitFor(ctx, last)
}

// expectHold returns a channel that gets the MySQL GTID of the prepared
// XA transaction xid once the follower has written it.
func (f *follower) expectHold(xid string) <-chan replication.Mysql56GTID {
	ch := make(chan replication.Mysql56GTID, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holds[xid] = ch
	return ch
}

// xidOf is the xid of an "XA START|COMMIT X'…',X”,1" statement.
func xidOf(q string) string {
	i := strings.Index(q, "X'")
	if i < 0 {
		return ""
	}
	j := strings.Index(q[i+2:], "'")
	if j < 0 {
		return ""
	}
	return q[i : i+2+j+1]
}

// release marks a held GTID visible.
func (l *binlogLog) release(g replication.Mysql56GTID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.held, g)
	l.wake()
}
