package mysqlsource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	gorepl "github.com/go-mysql-org/go-mysql/replication"
	"vitess.io/vitess/go/mysql/binlog"
	"vitess.io/vitess/go/mysql/replication"
)

// follower reads the backend's (MariaDB) binlog and writes each
// transaction of the source's database to the source's binlog as MySQL
// events. It decodes with go-mysql's MariaDB path (not the MySQL path the
// cdc is tested on) and encodes with this package's own encoder.
type follower struct {
	s      *Source
	db     *sql.DB
	syncer *gorepl.BinlogSyncer
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	seen    map[uint32]uint64 // domain -> the last sequence number processed
	changed chan struct{}
	err     error
	jsonCol map[string]map[string]bool // table -> JSON columns
	// holds wait for prepared XA transactions (by xid); prepared are
	// the MySQL GTIDs of those written and not yet committed.
	holds    map[string]chan replication.Mysql56GTID
	prepared map[string]replication.Mysql56GTID
}

func startFollower(ctx context.Context, s *Source) (*follower, error) {
	db, err := sql.Open("mysql", s.cfg.Backend)
	if err != nil {
		return nil, fmt.Errorf("mysqlsource: backend: %w", err)
	}
	var pos string
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlsource: reading the backend's binlog position: %w", err)
	}
	gset, err := gomysql.ParseMariadbGTIDSet(pos)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlsource: backend position %q: %w", pos, err)
	}
	host, port := s.backend.Addr, 3306
	if h, p, ok := strings.Cut(s.backend.Addr, ":"); ok {
		host = h
		port, _ = strconv.Atoi(p)
	}
	syncer := gorepl.NewBinlogSyncer(gorepl.BinlogSyncerConfig{
		ServerID: 1_000_000 + mrand.Uint32N(1_000_000_000), Flavor: gomysql.MariaDBFlavor,
		Host: host, Port: uint16(port), User: s.backend.User, Password: s.backend.Passwd,
		ParseTime: false, UseDecimal: false, TimestampStringLocation: time.UTC,
		HeartbeatPeriod: time.Second, ReadTimeout: 10 * time.Second, EventCacheCount: 64,
		Logger: discardLogger(),
		// The backend is shared: decode only the rows of the database.
		RowsEventDecodeFunc: func(e *gorepl.RowsEvent, data []byte) error {
			pos, err := e.DecodeHeader(data)
			if err != nil || e.Table == nil || string(e.Table.Schema) != s.cfg.Database {
				return err
			}
			return e.DecodeData(pos, data)
		},
	})
	stream, err := syncer.StartSyncGTID(gset)
	if err != nil {
		syncer.Close()
		db.Close()
		return nil, fmt.Errorf("mysqlsource: following the backend's binlog: %w", err)
	}
	fctx, cancel := context.WithCancel(context.Background())
	f := &follower{s: s, db: db, syncer: syncer, cancel: cancel, done: make(chan struct{}),
		seen: map[uint32]uint64{}, changed: make(chan struct{}), jsonCol: map[string]map[string]bool{},
		holds: map[string]chan replication.Mysql56GTID{}, prepared: map[string]replication.Mysql56GTID{}}
	for _, g := range strings.Split(pos, ",") {
		var d, srv uint32
		var seq uint64
		if _, err := fmt.Sscanf(strings.TrimSpace(g), "%d-%d-%d", &d, &srv, &seq); err == nil {
			f.seen[d] = seq
		}
	}
	go f.run(fctx, stream)
	return f, nil
}

func (f *follower) stop() {
	f.cancel()
	<-f.done
	f.syncer.Close()
	f.db.Close()
}

// pending is a MariaDB transaction being read.
type pending struct {
	domain  uint32
	seq     uint64
	single  bool
	changes []Change
	ddl     string
	schema  string
	xid     string
}

func (f *follower) run(ctx context.Context, stream *gorepl.BinlogStreamer) {
	defer close(f.done)
	var p *pending
	for {
		ev, err := stream.GetEvent(ctx)
		if err != nil {
			f.fail(err)
			return
		}
		if debugFollow {
			fmt.Printf("follow %v %T\n", ev.Header.EventType, ev.Event)
		}
		switch e := ev.Event.(type) {
		case *gorepl.MariadbGTIDEvent:
			p = &pending{domain: e.GTID.DomainID, seq: e.GTID.SequenceNumber, single: e.IsStandalone() || e.IsDDL()}
		case *gorepl.RowsEvent:
			if p == nil || string(e.Table.Schema) != f.s.cfg.Database {
				continue
			}
			if err := f.rows(ctx, ev.Header.EventType, e, p); err != nil {
				f.fail(err)
				return
			}
		case *gorepl.QueryEvent:
			if p == nil {
				continue
			}
			q := string(e.Query)
			// MariaDB binlogs an XA transaction at XA PREPARE: its rows,
			// "XA END xid", then an XA_PREPARE_LOG_EVENT.
			if up := strings.ToUpper(q); strings.HasPrefix(up, "XA START") || strings.HasPrefix(up, "XA END") {
				p.xid = xidOf(q)
				continue
			} else if strings.HasPrefix(up, "XA COMMIT") {
				f.commitXA(p, xidOf(q))
				p = nil
				continue
			} else if strings.HasPrefix(up, "XA ") {
				continue
			}
			if p.single {
				if string(e.Schema) == f.s.cfg.Database || mentions(q, f.s.cfg.Database) {
					p.ddl, p.schema = q, string(e.Schema)
				}
				f.commit(p)
				p = nil
			} else if strings.EqualFold(q, "COMMIT") {
				f.commit(p)
				p = nil
			}
		case *gorepl.GenericEvent:
			if ev.Header.EventType == gorepl.XA_PREPARE_LOG_EVENT && p != nil {
				f.commit(p)
				p = nil
			}
		case *gorepl.XIDEvent:
			if p != nil {
				f.commit(p)
				p = nil
			}
		}
	}
}

func mentions(q, db string) bool {
	return regexp.MustCompile("(?i)`?" + regexp.QuoteMeta(db) + "`?\\s*\\.").MatchString(q)
}

// commit writes a finished transaction (when it touched the database)
// and marks it seen.
func (f *follower) commit(p *pending) {
	if p.ddl != "" || len(p.changes) > 0 {
		if p.ddl != "" {
			f.mu.Lock()
			f.jsonCol = map[string]map[string]bool{}
			f.mu.Unlock()
		}
		g, err := f.s.binlog.appendTxn(Txn{Changes: p.changes, DDL: p.ddl, Schema: orDefault(p.schema, f.s.cfg.Database)}, f.s.writeOpts(p.xid != ""))
		if err != nil {
			f.fail(fmt.Errorf("writing the MySQL events of %d-%d: %w", p.domain, p.seq, err))
			return
		}
		if p.xid != "" {
			f.mu.Lock()
			f.prepared[p.xid] = g
			if ch, ok := f.holds[p.xid]; ok {
				ch <- g
				delete(f.holds, p.xid)
			}
			f.mu.Unlock()
		}
	}
	f.markSeen(p)
}

// commitXA makes a prepared transaction's GTID visible (XA COMMIT).
func (f *follower) commitXA(p *pending, xid string) {
	f.mu.Lock()
	g, ok := f.prepared[xid]
	delete(f.prepared, xid)
	f.mu.Unlock()
	if ok {
		f.s.binlog.release(g)
	}
	f.markSeen(p)
}

func (f *follower) markSeen(p *pending) {
	f.mu.Lock()
	if p.seq > f.seen[p.domain] {
		f.seen[p.domain] = p.seq
	}
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (f *follower) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil && !errors.Is(err, context.Canceled) {
		f.err = err
		f.s.log.Error("following the backend's binlog stopped", "err", err)
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// waitFor waits until the follower has processed MariaDB GTID g
// ("domain-server-seq").
func (f *follower) waitFor(ctx context.Context, g string) error {
	var d, srv uint32
	var seq uint64
	if _, err := fmt.Sscanf(g, "%d-%d-%d", &d, &srv, &seq); err != nil {
		return fmt.Errorf("mysqlsource: backend GTID %q: %w", g, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		f.mu.Lock()
		done, err, ch := f.seen[d] >= seq, f.err, f.changed
		f.mu.Unlock()
		if done {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mysqlsource: the follower of the backend's binlog stopped: %w", err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("mysqlsource: waiting for the backend's transaction %s to reach the source's binlog: %w", g, ctx.Err())
		}
	}
}

// rows converts one MariaDB rows event.
func (f *follower) rows(ctx context.Context, typ gorepl.EventType, e *gorepl.RowsEvent, p *pending) error {
	t, err := f.table(ctx, e.Table)
	if err != nil {
		return err
	}
	ch := Change{Table: t}
	switch typ {
	case gorepl.WRITE_ROWS_EVENTv0, gorepl.WRITE_ROWS_EVENTv1, gorepl.WRITE_ROWS_EVENTv2:
		for _, r := range e.Rows {
			ch.Rows = append(ch.Rows, Row{After: r})
		}
	case gorepl.DELETE_ROWS_EVENTv0, gorepl.DELETE_ROWS_EVENTv1, gorepl.DELETE_ROWS_EVENTv2:
		for _, r := range e.Rows {
			ch.Rows = append(ch.Rows, Row{Before: r})
		}
	default:
		for i := 0; i+1 < len(e.Rows); i += 2 {
			ch.Rows = append(ch.Rows, Row{Before: e.Rows[i], After: e.Rows[i+1]})
		}
	}
	p.changes = append(p.changes, ch)
	return nil
}

// table is the MySQL declaration of a MariaDB table map: the same types
// and metadata, except JSON columns (LONGTEXT with a json_valid check on
// MariaDB), which become MYSQL_TYPE_JSON.
func (f *follower) table(ctx context.Context, tm *gorepl.TableMapEvent) (*Table, error) {
	if len(tm.ColumnName) != len(tm.ColumnType) {
		return nil, fmt.Errorf("table %s: the backend's binlog has no column names: start it with binlog_row_metadata=FULL", tm.Table)
	}
	js, err := f.jsonColumns(ctx, string(tm.Table))
	if err != nil {
		return nil, err
	}
	unsigned := tm.UnsignedMap()
	coll := tm.CollationMap()
	esColl := tm.EnumSetCollationMap()
	enums, sets := tm.EnumStrValueString(), tm.SetStrValueString()
	t := &Table{Schema: string(tm.Schema), Name: string(tm.Table)}
	for _, pk := range tm.PrimaryKey {
		t.PrimaryKey = append(t.PrimaryKey, int(pk))
	}
	var ne, ns int
	for i, typ := range tm.ColumnType {
		c := Column{Name: string(tm.ColumnName[i]), Type: typ, Meta: tm.ColumnMeta[i], Unsigned: unsigned[i],
			Nullable: tm.NullBitmap[i/8]&(1<<(i%8)) != 0, Collation: uint16(coll[i])}
		switch c.realType() {
		case binlog.TypeEnum:
			c.Collation = uint16(esColl[i])
			if ne < len(enums) {
				c.Values = enums[ne]
			}
			ne++
		case binlog.TypeSet:
			c.Collation = uint16(esColl[i])
			if ns < len(sets) {
				c.Values = sets[ns]
			}
			ns++
		case binlog.TypeBlob:
			if js[c.Name] {
				c = Column{Name: c.Name, Type: binlog.TypeJSON, Meta: 4, Nullable: c.Nullable}
			}
		}
		t.Columns = append(t.Columns, c)
	}
	return t, nil
}

// jsonColumns are the table's columns with a json_valid check.
func (f *follower) jsonColumns(ctx context.Context, table string) (map[string]bool, error) {
	f.mu.Lock()
	js, ok := f.jsonCol[table]
	f.mu.Unlock()
	if ok {
		return js, nil
	}
	rows, err := f.db.QueryContext(ctx, "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?", f.s.cfg.Database, table)
	if err != nil {
		return nil, fmt.Errorf("reading the JSON columns of %s: %w", table, err)
	}
	defer rows.Close()
	js = map[string]bool{}
	re := regexp.MustCompile("(?i)json_valid\\(`([^`]+)`\\)")
	for rows.Next() {
		var clause string
		if err := rows.Scan(&clause); err != nil {
			return nil, err
		}
		for _, m := range re.FindAllStringSubmatch(clause, -1) {
			js[m[1]] = true
		}
	}
	f.mu.Lock()
	f.jsonCol[table] = js
	f.mu.Unlock()
	return js, rows.Err()
}

var debugFollow = false
