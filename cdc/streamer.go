package cdc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
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
	columns     []tableColumn // the table in information_schema, for MINIMAL metadata; nil: unread
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
		if errors.Is(err, position.ErrUnsupported) {
			return fmt.Errorf("after %s: %w", from, err)
		}
		var me *gomysql.MyError
		if errors.As(err, &me) && me.Code == gomysql.ER_MASTER_FATAL_ERROR_READING_BINLOG {
			if strings.Contains(strings.ToLower(me.Message), "more gtids") {
				return fmt.Errorf("%w: the source lacks transactions the cdc already read (start %s): a failover lost them, or this is another server. "+
					"Follow docs/positions.md, Failover: raise mysql.epoch and start with --from the new source's position; the source said: %s", ErrSource, from, me.Message)
			}
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
// emitted (zero when none) and why it stopped. The start position's kind,
// which the source's own flavor and GTID mode chose (position.Current,
// position.Snapshot), picks the protocol: MariaDB GTIDs, MySQL GTID sets
// (auto-positioning) or a MySQL binlog file and offset.
func (s *Streamer) stream(ctx context.Context, from position.Position, out chan<- Txn) (position.Position, error) {
	flavor := gomysql.MySQLFlavor
	if from.Kind == position.GTID {
		flavor = gomysql.MariaDBFlavor
	}
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: s.addr.ServerID, Flavor: flavor,
		Host: s.addr.Host, Port: s.addr.Port, User: s.addr.User, Password: s.addr.Password,
		// DECIMAL as go-mysql's exact string (the column's scale), not a
		// decimal.Decimal: codec takes a plain one as it is. MySQL's binary
		// JSON as MySQL's SELECT writes it (rows.go).
		ParseTime: true, UseDecimal: false, TimestampStringLocation: time.UTC, RenderJSONAsMySQLText: true,
		HeartbeatPeriod: time.Second, ReadTimeout: 5 * time.Second,
		DisableRetrySync: true, // Run reconnects, from the last whole transaction
		// go-mysql buffers 10,240 events by default: with big row events
		// that is gigabytes. The channel to the Applier is the real buffer.
		EventCacheCount: 64,
		Logger:          goMySQLLogger(s.log),
	})
	defer syncer.Close()
	r := &reader{s: s, out: out, epoch: from.Epoch, file: from.File}
	stream, err := r.start(syncer, from)
	if err != nil {
		return r.last, err
	}
	for {
		ev, err := stream.GetEvent(ctx)
		if err != nil {
			return r.last, err
		}
		if err := r.handle(ctx, ev, ev.Header.LogPos); err != nil {
			return r.last, err
		}
	}
}

// reader is one connection's stream: the transaction being read and where
// its positions come from. A transaction cut by a reconnect is dropped
// whole: the next connection starts after the last one emitted.
type reader struct {
	s     *Streamer
	out   chan<- Txn
	epoch uint16
	// exec is the running executed set of a MySQL GTID stream (nil
	// otherwise): each transaction's position.
	exec *position.Executed
	// file is the binlog file being read (from rotate events).
	file   string
	txn    *Txn
	single bool // a standalone (DDL) transaction: its query ends it
	last   position.Position
}

func (r *reader) start(syncer *replication.BinlogSyncer, from position.Position) (*replication.BinlogStreamer, error) {
	var (
		stream *replication.BinlogStreamer
		err    error
	)
	switch from.Kind {
	case position.GTID:
		var gset gomysql.GTIDSet
		if gset, err = gomysql.ParseMariadbGTIDSet(from.InEpoch(0).Resume()); err != nil {
			return nil, fmt.Errorf("start position %s: %w", from, err)
		}
		stream, err = syncer.StartSyncGTID(gset)
	case position.GTIDSet:
		if r.exec, err = position.NewExecuted(from); err != nil {
			return nil, fmt.Errorf("start position %s: %w", from, err)
		}
		// The syncer adds to the set it is given: it gets its own copy.
		stream, err = syncer.StartSyncGTID(r.exec.Set().Clone())
	case position.File:
		stream, err = syncer.StartSync(gomysql.Position{Name: from.File, Pos: uint32(from.Offset)})
	default:
		return nil, fmt.Errorf("%w: the cdc cannot start from a %s position", position.ErrUnsupported, from.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("starting the binlog stream after %s: %w", from, err)
	}
	return stream, nil
}

// handle reads one event; logPos is where the event ends in the binlog
// file (for the events of a compressed transaction: where the transaction
// ends).
func (r *reader) handle(ctx context.Context, ev *replication.BinlogEvent, logPos uint32) error {
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		r.file = string(e.NextLogName)
	case *replication.MariadbGTIDEvent:
		r.begin(ev, position.Position{Kind: position.GTID, Epoch: r.epoch, Domain: fmt.Sprint(e.GTID.DomainID),
			Server: fmt.Sprint(e.GTID.ServerID), Seq: e.GTID.SequenceNumber})
		r.single = e.IsStandalone() || e.IsDDL()
	case *replication.GTIDEvent:
		return r.beginMySQL(ev, e)
	case *replication.GtidTaggedLogEvent:
		return r.beginMySQL(ev, &e.GTIDEvent)
	case *replication.TransactionPayloadEvent:
		for _, inner := range e.Events {
			if err := r.handle(ctx, inner, logPos); err != nil {
				return err
			}
		}
	case *replication.RowsEvent:
		return r.rows(ctx, ev.Header.EventType, e)
	case *replication.XIDEvent:
		if r.txn != nil {
			return r.end(ctx, logPos)
		}
	case *replication.QueryEvent:
		return r.query(ctx, e, logPos)
	}
	return nil
}

func (r *reader) begin(ev *replication.BinlogEvent, pos position.Position) {
	r.txn = &Txn{Pos: pos, Time: time.Unix(int64(ev.Header.Timestamp), 0).UTC()}
}

// beginMySQL starts a MySQL transaction: its position is the executed set
// with its GTID added, or, without GTIDs (an anonymous GTID event), the
// binlog file and the offset its end will have.
func (r *reader) beginMySQL(ev *replication.BinlogEvent, e *replication.GTIDEvent) error {
	pos := position.Position{Kind: position.File, Epoch: r.epoch, File: r.file}
	if r.exec != nil && ev.Header.EventType != replication.ANONYMOUS_GTID_EVENT {
		var err error
		if pos, err = r.exec.Add(e.SID, e.Tag, e.GNO); err != nil {
			return err
		}
	}
	r.begin(ev, pos)
	r.single = true // until a BEGIN: a DDL statement is its own transaction
	return nil
}

func (r *reader) rows(ctx context.Context, t replication.EventType, e *replication.RowsEvent) error {
	s, txn := r.s, r.txn
	if txn == nil || string(e.Table.Schema) != s.addr.Schema {
		return nil
	}
	if s.marker != "" && string(e.Table.Table) == s.marker {
		// The sync-back writes its marker first: what follows is its
		// copy of the new service's change, not a change to publish.
		txn.Tagged, txn.Changes = true, nil
		return nil
	}
	if txn.Tagged || string(e.Table.Table) != s.mappingCfg.Table {
		return nil
	}
	return s.decode(ctx, t, e, txn) // a *decodeError when the row cannot be decoded
}

func (r *reader) query(ctx context.Context, e *replication.QueryEvent, logPos uint32) error {
	q := strings.TrimSpace(string(e.Query))
	if strings.EqualFold(q, "BEGIN") {
		r.single = false // a transaction's start: XID or COMMIT ends it
		return nil
	}
	if r.txn == nil {
		return nil
	}
	s := r.s
	if s.ddl.MatchString(q) && (string(e.Schema) == s.addr.Schema || strings.Contains(q, s.addr.Schema)) {
		dropped, err := s.refresh(ctx, q)
		if err != nil {
			return err
		}
		r.txn.Dropped = append(r.txn.Dropped, dropped...)
	}
	if r.single || strings.EqualFold(q, "COMMIT") {
		return r.end(ctx, logPos)
	}
	return nil
}

// end emits the transaction read; a file position learns its offset here.
func (r *reader) end(ctx context.Context, logPos uint32) error {
	t := *r.txn
	r.txn = nil
	if t.Pos.Kind == position.File {
		t.Pos.Offset = uint64(logPos)
		for i := range t.Changes {
			t.Changes[i].Pos = t.Pos.At(uint32(i))
		}
	}
	select {
	case r.out <- t:
		r.last = t.Pos
		r.s.onRead(t)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// decodeError is a row the cdc cannot decode: retrying will not help.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return "decoding a row event: " + e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }
