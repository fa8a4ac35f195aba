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
