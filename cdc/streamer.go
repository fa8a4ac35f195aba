package cdc

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/anycompany/strangler/internal/clock"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/internal/retry"
)

// ErrPositionPurged is a start position the source no longer has: the
// binlog holding it was purged. Nothing can fill the gap but a new backfill.
var ErrPositionPurged = errors.New("the start position is no longer in the source's binlog (purged): re-run the backfill (strangler migrate backfill with a new backfill.job) and start the cdc from its recorded position")

// Change is one row change of the mapped table.
type Change struct {
	Kind Kind
	// Key is the row's key as the pk attribute holds it.
	Key string
	// Pos is the change's position: its transaction's plus its index.
	Pos position.Position
	// Before and After are the row images in Mapping's column order; Before
	// is nil on inserts, After on deletes.
	Before, After codec.Row
	// Mapping is the mapping the images are in (it changes with DDL).
	Mapping *codec.Mapping
	// changed, on updates decoded by the Streamer, says which mapped
	// columns differ between Before and After (by Mapping index). Nil means
	// unknown: the Applier compares the images.
	changed []bool
}

// Txn is one committed transaction: its changes of the mapped table (often
// none: a transaction of other tables still moves the checkpoint).
type Txn struct {
	// Pos is the transaction's position (index 0); the cdc resumes after it.
	Pos position.Position
	// Time is the commit time the binlog records (seconds).
	Time    time.Time
	Changes []Change
	// Tagged is a transaction that wrote a row of the sync-back's marker
	// table: its changes are echoes of the new service's own and are
	// dropped (Changes is empty).
	Tagged bool
	// Dropped, on a DDL transaction, are the attributes of mapped columns
	// it dropped: items written from older positions still hold them until
	// swept (Sweeper).
	Dropped []string
}

// SourceAddr is where and as whom the binlog is read.
type SourceAddr struct {
	Host     string
	Port     uint16
	User     string
	Password string
	// Schema is the database of the mapped table.
	Schema   string
	ServerID uint32
}

// Streamer reads the binlog as a replica and emits whole transactions of
// decoded changes of the mapped table, in binlog order. Rows are decoded by
// the column names, ENUM and SET labels of each event's own table map
// (binlog_row_metadata=FULL), so an event written before a DDL is decoded
// with the columns it was written with. A DDL statement on the table
// re-resolves the mapping from the schema. A broken connection is
// reconnected from the last emitted transaction, with backoff; a
// transaction cut by it is read again whole. It is not safe for concurrent
// use; Run it once.
type Streamer struct {
	addr        SourceAddr
	db          *sql.DB
	mappingCfg  codec.Config
	mapping     *codec.Mapping
	log         *slog.Logger
	sleep       func(context.Context, time.Duration) error
	maxBackoff  time.Duration
	onRead      func(Txn)
	onReconnect func(error)
	layouts     map[*replication.TableMapEvent]*layout
	ddl         *regexp.Regexp
	marker      string
}

// StreamerDeps are what a Streamer needs.
type StreamerDeps struct {
	Addr SourceAddr
	// DB re-resolves the mapping after DDL.
	DB *sql.DB
	// MappingConfig and Mapping are the configured and the resolved mapping.
	MappingConfig codec.Config
	Mapping       *codec.Mapping
	Logger        *slog.Logger
	// Sleep waits between reconnections. Optional: a timer honouring ctx.
	Sleep func(context.Context, time.Duration) error
	// MaxBackoff caps the wait between reconnections. Optional: 5s.
	MaxBackoff time.Duration
	// OnRead sees every transaction as it is emitted (metrics). Optional.
	OnRead func(Txn)
	// OnReconnect sees every connection failure (metrics). Optional.
	OnReconnect func(error)
	// SkipMarkerTable, when set, tags every transaction that writes a row
	// of this table (in Addr.Schema): it is emitted with no changes
	// (Txn.Tagged). Optional: empty tags nothing.
	SkipMarkerTable string
}

// NewStreamer returns a streamer.
func NewStreamer(d StreamerDeps) *Streamer {
	if d.Sleep == nil {
		d.Sleep = clock.Sleep
	}
	if d.MaxBackoff <= 0 {
		d.MaxBackoff = 5 * time.Second
	}
	if d.OnRead == nil {
		d.OnRead = func(Txn) {}
	}
	if d.OnReconnect == nil {
		d.OnReconnect = func(error) {}
	}
	return &Streamer{
		addr: d.Addr, db: d.DB, mappingCfg: d.MappingConfig, mapping: d.Mapping, log: d.Logger,
		sleep: d.Sleep, maxBackoff: d.MaxBackoff, onRead: d.OnRead, onReconnect: d.OnReconnect,
		layouts: map[*replication.TableMapEvent]*layout{}, marker: d.SkipMarkerTable,
		ddl: regexp.MustCompile("(?is)^\\s*(/\\*.*?\\*/\\s*)?(alter|rename|drop|create|truncate)\\b.*[`. ]" + regexp.QuoteMeta(d.MappingConfig.Table) + "([`\\s(;,]|$)"),
	}
}

// Run streams from after the transaction at from until ctx ends or the
// source refuses the position (ErrPositionPurged).
func (s *Streamer) Run(ctx context.Context, from position.Position, out chan<- Txn) error {
	wait := retry.Policy{Base: 100 * time.Millisecond, Cap: s.maxBackoff, Sleep: s.sleep}
	for failures := 1; ; failures++ {
		last, err := s.stream(ctx, from, out)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if last.Kind != 0 {
			from, failures = last, 1
		}
		var de *decodeError
		if errors.As(err, &de) {
			return fmt.Errorf("after %s: %w", from, err)
		}
		var me *gomysql.MyError
		if errors.As(err, &me) && me.Code == gomysql.ER_MASTER_FATAL_ERROR_READING_BINLOG {
			return fmt.Errorf("%w (start %s; the source said: %s)", ErrPositionPurged, from, me.Message)
		}
		s.onReconnect(err)
		s.log.Warn("binlog stream broke; reconnecting", "after", from.String(), "failures", failures, "err", err)
		if err := wait.Wait(ctx, failures); err != nil {
			return err
		}
	}
}

// stream reads one connection's worth; it returns the last transaction
// emitted (zero when none) and why it stopped.
func (s *Streamer) stream(ctx context.Context, from position.Position, out chan<- Txn) (position.Position, error) {
	var last position.Position
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: s.addr.ServerID, Flavor: gomysql.MariaDBFlavor,
		Host: s.addr.Host, Port: s.addr.Port, User: s.addr.User, Password: s.addr.Password,
		// DECIMAL as go-mysql's exact string (the column's scale), not a
		// decimal.Decimal: codec takes a plain one as it is.
		ParseTime: true, UseDecimal: false, TimestampStringLocation: time.UTC,
		HeartbeatPeriod: time.Second, ReadTimeout: 5 * time.Second,
		DisableRetrySync: true, // Run reconnects, from the last whole transaction
		// go-mysql buffers 10,240 events by default: with big row events
		// that is gigabytes. The channel to the Applier is the real buffer.
		EventCacheCount: 64,
		Logger:          goMySQLLogger(s.log),
	})
	defer syncer.Close()
	gset, err := gomysql.ParseMariadbGTIDSet(from.Resume())
	if err != nil {
		return last, fmt.Errorf("start position %s: %w", from, err)
	}
	stream, err := syncer.StartSyncGTID(gset)
	if err != nil {
		return last, fmt.Errorf("starting the binlog stream after %s: %w", from, err)
	}
	var (
		txn    *Txn
		inTxn  bool
		single bool // a standalone (DDL) transaction: its query ends it
	)
	emit := func() error {
		t := *txn
		txn, inTxn = nil, false
		select {
		case out <- t:
			last = t.Pos
			s.onRead(t)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		ev, err := stream.GetEvent(ctx)
		if err != nil {
			return last, err
		}
		switch e := ev.Event.(type) {
		case *replication.MariadbGTIDEvent:
			// A new transaction; one cut by a reconnect is dropped whole.
			txn = &Txn{
				Pos:  position.Position{Kind: position.GTID, Domain: fmt.Sprint(e.GTID.DomainID), Server: fmt.Sprint(e.GTID.ServerID), Seq: e.GTID.SequenceNumber},
				Time: time.Unix(int64(ev.Header.Timestamp), 0).UTC(),
			}
			inTxn, single = true, e.IsStandalone() || e.IsDDL()
		case *replication.RowsEvent:
			if !inTxn || string(e.Table.Schema) != s.addr.Schema {
				continue
			}
			if s.marker != "" && string(e.Table.Table) == s.marker {
				// The sync-back writes its marker first: what follows is its
				// copy of the new service's change, not a change to publish.
				txn.Tagged, txn.Changes = true, nil
				continue
			}
			if txn.Tagged || string(e.Table.Table) != s.mappingCfg.Table {
				continue
			}
			if err := s.decode(ev.Header.EventType, e, txn); err != nil {
				return last, &decodeError{err}
			}
		case *replication.XIDEvent:
			if inTxn {
				if err := emit(); err != nil {
					return last, err
				}
			}
		case *replication.QueryEvent:
			q := string(e.Query)
			if strings.EqualFold(strings.TrimSpace(q), "BEGIN") {
				continue // a transaction's start (non-transactional engines log one)
			}
			if inTxn && s.ddl.MatchString(q) && (string(e.Schema) == s.addr.Schema || strings.Contains(q, s.addr.Schema)) {
				dropped, err := s.refresh(ctx, q)
				if err != nil {
					return last, err
				}
				txn.Dropped = append(txn.Dropped, dropped...)
			}
			if inTxn && (single || strings.EqualFold(strings.TrimSpace(q), "COMMIT")) {
				if err := emit(); err != nil {
					return last, err
				}
			}
		}
	}
}

// decodeError is a row the cdc cannot decode: retrying will not help.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return "decoding a row event: " + e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// refresh re-resolves the mapping after DDL on the table; it returns the
// attributes of mapped columns the DDL dropped.
func (s *Streamer) refresh(ctx context.Context, query string) ([]string, error) {
	m, err := codec.Resolve(ctx, s.db, s.mappingCfg)
	if err != nil {
		var se *codec.SchemaError
		if errors.As(err, &se) || errors.Is(err, codec.ErrNoTable) {
			s.log.Error("DDL left the table unusable for the mapping; keeping the previous mapping", "query", query, "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("re-reading the schema after %q: %w", query, err)
	}
	dropped := droppedAttributes(s.mapping, m)
	s.mapping = m
	clear(s.layouts)
	s.log.Info("table changed: mapping re-resolved", "query", query, "columns", len(m.Columns), "dropped", dropped)
	return dropped, nil
}

// layout maps one table map's columns onto the mapping.
type layout struct {
	mapping *codec.Mapping
	// target[i] is the mapping column of binlog column i, or -1.
	target []int
	cols   []codec.Column
	fsp    []int // TIME fractional digits by binlog column
	hasKey bool
}

func (s *Streamer) layoutOf(tme *replication.TableMapEvent) (*layout, error) {
	if l, ok := s.layouts[tme]; ok {
		return l, nil
	}
	names := tme.ColumnNameString()
	if len(names) == 0 {
		return nil, errors.New("the binlog carries no column names: set binlog_row_metadata=FULL on the source")
	}
	enums, sets := tme.EnumStrValueMap(), tme.SetStrValueMap()
	m := s.mapping
	l := &layout{mapping: m, target: make([]int, len(names)), cols: make([]codec.Column, len(names)), fsp: make([]int, len(names))}
	for i, name := range names {
		l.target[i] = -1
		for j, c := range m.Columns {
			if strings.EqualFold(c.Name, name) {
				l.target[i] = j
				if j == 0 {
					l.hasKey = true
				}
				if lab, ok := enums[i]; ok {
					c.Enum = lab
				}
				if lab, ok := sets[i]; ok {
					c.Enum = lab
				}
				l.cols[i] = c
				break
			}
		}
		if tme.ColumnType[i] == gomysql.MYSQL_TYPE_TIME2 {
			l.fsp[i] = int(tme.ColumnMeta[i])
		}
	}
	if !l.hasKey {
		return nil, fmt.Errorf("row event of %s lacks the key column %s", m.Table, m.Key().Name)
	}
	if len(s.layouts) > 256 {
		clear(s.layouts)
	}
	s.layouts[tme] = l
	return l, nil
}

func (l *layout) row(image []any) (codec.Row, error) {
	r := make(codec.Row, len(l.mapping.Columns))
	for i, v := range image {
		if i >= len(l.target) || l.target[i] < 0 {
			continue
		}
		d, err := l.value(i, v)
		if err != nil {
			return nil, err
		}
		r[l.target[i]] = d
	}
	if r[0] == nil {
		return nil, fmt.Errorf("row of %s with a NULL key", l.mapping.Table)
	}
	return r, nil
}

// value decodes binlog column i's value; the canonical value keeps no
// reference to go-mysql's buffers.
func (l *layout) value(i int, v any) (any, error) {
	if str, ok := v.(string); ok && l.fsp[i] > 0 {
		v = codec.TimeFraction(str, l.fsp[i])
	}
	return l.cols[i].FromBinlog(v)
}

// rowPair decodes an update's images. A column whose binlog value is the
// same in both is decoded once and shared (an update usually touches a few
// columns; decoding JSON columns twice was most of the cost), and changed
// says which mapped columns differ.
func (l *layout) rowPair(bimg, aimg []any) (before, after codec.Row, changed []bool, err error) {
	n := len(l.mapping.Columns)
	before, after, changed = make(codec.Row, n), make(codec.Row, n), make([]bool, n)
	for i, bv := range bimg {
		if i >= len(l.target) || l.target[i] < 0 {
			continue
		}
		j := l.target[i]
		var av any
		if i < len(aimg) {
			av = aimg[i]
		}
		bd, err := l.value(i, bv)
		if err != nil {
			return nil, nil, nil, err
		}
		before[j] = bd
		if sameBinlogValue(bv, av) {
			after[j] = bd
			continue
		}
		ad, err := l.value(i, av)
		if err != nil {
			return nil, nil, nil, err
		}
		after[j] = ad
		changed[j] = !sameValue(bd, ad)
	}
	if before[0] == nil || after[0] == nil {
		return nil, nil, nil, fmt.Errorf("row of %s with a NULL key", l.mapping.Table)
	}
	return before, after, changed, nil
}

// sameBinlogValue reports values go-mysql decoded from equal bytes; false
// when unsure (the decoded values are then compared).
func sameBinlogValue(x, y any) bool {
	switch a := x.(type) {
	case nil:
		return y == nil
	case []byte:
		b, ok := y.([]byte)
		return ok && bytes.Equal(a, b)
	case string, int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint, float32, float64, bool:
		return x == y // a comparable dynamic type: never panics
	case time.Time:
		b, ok := y.(time.Time)
		return ok && a.Equal(b) && a.Location() == b.Location()
	}
	return false
}

// sameValue compares canonical values (codec.Value).
func sameValue(x, y any) bool {
	switch a := x.(type) {
	case nil:
		return y == nil
	case string, int64, uint64, float64, bool:
		return x == y
	case time.Time:
		b, ok := y.(time.Time)
		return ok && a.Equal(b)
	case []byte:
		b, ok := y.([]byte)
		return ok && bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

func (s *Streamer) decode(t replication.EventType, e *replication.RowsEvent, txn *Txn) error {
	l, err := s.layoutOf(e.Table)
	if err != nil {
		return err
	}
	add := func(kind Kind, before, after codec.Row, changed []bool) {
		img := after
		if kind == Delete {
			img = before
		}
		txn.Changes = append(txn.Changes, Change{
			Kind: kind, Key: l.mapping.KeyString(img), Pos: txn.Pos.At(uint32(len(txn.Changes))),
			Before: before, After: after, Mapping: l.mapping, changed: changed,
		})
	}
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2, replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		for _, img := range e.Rows {
			r, err := l.row(img)
			if err != nil {
				return err
			}
			add(Insert, nil, r, nil)
		}
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2, replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		for _, img := range e.Rows {
			r, err := l.row(img)
			if err != nil {
				return err
			}
			add(Delete, r, nil, nil)
		}
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
		for i := 0; i+1 < len(e.Rows); i += 2 {
			before, after, changed, err := l.rowPair(e.Rows[i], e.Rows[i+1])
			if err != nil {
				return err
			}
			if l.mapping.KeyString(before) != l.mapping.KeyString(after) {
				// A key change is the old key deleted and the new one created.
				add(Delete, before, nil, nil)
				add(Insert, nil, after, nil)
				continue
			}
			add(Update, before, after, changed)
		}
	}
	return nil
}
