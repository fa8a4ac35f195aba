package migrator

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/position"
)

// OpenSource opens the source database for reading rows through the text
// protocol (interpolated parameters, no time parsing, UTC session), the
// form the codec decodes.
func OpenSource(dsn config.Secret, conns int) (*sql.DB, error) {
	mc, err := mysql.ParseDSN(dsn.Reveal())
	if err != nil {
		return nil, fmt.Errorf("parsing mysql.dsn: %w", err)
	}
	mc.InterpolateParams = true
	mc.ParseTime = false
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	mc.Params["time_zone"] = "'+00:00'"
	// The backfill reads a chunk only as fast as its writes go (rows stream
	// into the writer), so with --max-wcu or a throttled table the server
	// may wait minutes to send the rest of a result; its default
	// net_write_timeout (60 s) would end the read. An hour bounds a stuck
	// client's snapshot instead.
	mc.Params["net_write_timeout"] = "3600"
	mc.Collation = "utf8mb4_unicode_ci"
	mc.Timeout = 5 * time.Second
	// The driver reads a result into a 4 KB buffer: a read system call
	// every few rows of a chunk. A 64 KB buffer under it makes them a
	// sixteenth as many.
	dialer := &net.Dialer{}
	mc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
	}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("configuring mysql: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

// bufferedConn is a connection read through a buffer. It is not safe for
// concurrent reads (the driver reads from one goroutine).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// SyscallConn is the socket's, for the driver's liveness check of an idle
// connection; one with bytes still buffered (never, between commands)
// fails it, and the driver discards the connection.
func (c *bufferedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	if c.r.Buffered() > 0 {
		return nil, fmt.Errorf("%d unread bytes on an idle connection", c.r.Buffered())
	}
	return sc.SyscallConn()
}

var _ syscall.Conn = (*bufferedConn)(nil)

// Inspector reads the source's position and the table's key range. It
// never writes.
type Inspector struct {
	db *sql.DB
	m  *codec.Mapping
}

// NewInspector returns an inspector of m's table in db.
func NewInspector(db *sql.DB, m *codec.Mapping) *Inspector { return &Inspector{db: db, m: m} }

// beginSnapshot starts a read-only consistent snapshot on conn and returns
// its stamp, a safe lower bound (position.Snapshot reads it before or
// after opening the snapshot, by flavor). The caller ends it with
// ROLLBACK.
func beginSnapshot(ctx context.Context, conn *sql.Conn) (position.Position, error) {
	return position.Snapshot(ctx, conn, func(ctx context.Context) error {
		if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
			return fmt.Errorf("starting a consistent snapshot: %w", err)
		}
		return nil
	})
}

// PlanPosition returns the position of a consistent snapshot taken now:
// every snapshot begun later sees all transactions up to it, so the cdc may
// start from it while the backfill runs.
func (in *Inspector) PlanPosition(ctx context.Context) (position.Position, error) {
	conn, err := in.db.Conn(ctx)
	if err != nil {
		return position.Position{}, fmt.Errorf("connecting to MySQL: %w", err)
	}
	defer conn.Close()
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck // read-only
	return beginSnapshot(ctx, conn)
}

// Bound is a chunk boundary key, typed like the key column.
type Bound struct {
	Set   bool
	Value string
}

func (m mapper) arg(b Bound) any {
	if m.Key().Type == codec.Uint {
		n, _ := strconv.ParseUint(b.Value, 10, 64)
		return n
	}
	if m.Key().Type == codec.Int {
		n, _ := strconv.ParseInt(b.Value, 10, 64)
		return n
	}
	return b.Value
}

type mapper struct{ *codec.Mapping }

// Boundaries returns the keys that split the table into chunks of size
// rows: chunk i holds keys in (bounds[i-1], bounds[i]], the first starts at
// the beginning and the last is open-ended. It also returns each chunk's
// planned row count.
func (in *Inspector) Boundaries(ctx context.Context, size int) ([]Bound, []int, error) {
	m := mapper{in.m}
	key := "`" + in.m.Key().Name + "`"
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s > ? ORDER BY %s LIMIT 1 OFFSET ?", key, in.m.QuotedTable(), key, key)
	qFirst := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s LIMIT 1 OFFSET ?", key, in.m.QuotedTable(), key)
	var (
		bounds []Bound
		counts []int
		prev   Bound
	)
	for {
		var (
			next sql.NullString
			err  error
		)
		if prev.Set {
			err = in.db.QueryRowContext(ctx, q, m.arg(prev), size-1).Scan(&next)
		} else {
			err = in.db.QueryRowContext(ctx, qFirst, size-1).Scan(&next)
		}
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("planning chunks of %s: %w", in.m.Table, err)
		}
		prev = Bound{Set: true, Value: next.String}
		bounds = append(bounds, prev)
		counts = append(counts, size)
	}
	// The open-ended last chunk holds the rest.
	var rest int
	cq := fmt.Sprintf("SELECT COUNT(*) FROM %s", in.m.QuotedTable())
	args := []any{}
	if prev.Set {
		cq += fmt.Sprintf(" WHERE %s > ?", key)
		args = append(args, m.arg(prev))
	}
	if err := in.db.QueryRowContext(ctx, cq, args...).Scan(&rest); err != nil {
		return nil, nil, fmt.Errorf("counting rows of %s: %w", in.m.Table, err)
	}
	bounds = append(bounds, Bound{})
	counts = append(counts, rest)
	return bounds, counts, nil
}

// Snapshot is one chunk's read: the rows of (lo, hi] in one consistent
// snapshot, and the position that snapshot reflects.
type Snapshot struct {
	Pos  position.Position
	Rows []codec.Row
	// Bad holds rows that cannot be mapped, with the reason.
	Bad []BadRow
}

// BadRow is a row the codec refuses, with its text by column name (as
// codec.Mapping.RowText gives it; NULL is nil).
type BadRow struct {
	Key    string            `json:"key"`
	Reason string            `json:"reason"`
	Row    map[string][]byte `json:"-"`
}

// ReadChunk reads keys in (lo, hi] (lo or hi unset: unbounded) in its own
// consistent snapshot, stamped with the position that snapshot reflects
// (position.Snapshot).
func (in *Inspector) ReadChunk(ctx context.Context, lo, hi Bound) (Snapshot, error) {
	var snap Snapshot
	err := in.ScanChunk(ctx, lo, hi, func(pos position.Position) error {
		snap.Pos = pos
		return nil
	}, func(row codec.Row) error {
		snap.Rows = append(snap.Rows, row)
		return nil
	}, func(bad BadRow) { snap.Bad = append(snap.Bad, bad) })
	return snap, err
}

// ScanChunk reads keys in (lo, hi] like ReadChunk, but hands each row to
// row as it arrives, decoded (codec.Mapping.RowFromText), or, when the
// codec refuses it, to bad: nothing of the chunk is held. start gets the
// snapshot's position before the first row. An error from start or row
// ends the scan and is returned.
func (in *Inspector) ScanChunk(ctx context.Context, lo, hi Bound, start func(position.Position) error, row func(codec.Row) error, bad func(BadRow)) error {
	conn, err := in.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connecting to MySQL: %w", err)
	}
	defer conn.Close()
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck // read-only
	pos, err := beginSnapshot(ctx, conn)
	if err != nil {
		return err
	}
	if err := start(pos); err != nil {
		return err
	}
	m := mapper{in.m}
	key := "`" + in.m.Key().Name + "`"
	q := fmt.Sprintf("SELECT %s FROM %s", in.m.QuotedColumns(), in.m.QuotedTable())
	var where []string
	var args []any
	if lo.Set {
		where, args = append(where, key+" > ?"), append(args, m.arg(lo))
	}
	if hi.Set {
		where, args = append(where, key+" <= ?"), append(args, m.arg(hi))
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + key
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reading chunk: %w", err)
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, len(in.m.Columns))
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	vals := make([][]byte, len(raw))
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("reading chunk: %w", err)
		}
		for i, r := range raw {
			vals[i] = r
		}
		r, err := in.m.RowFromText(vals) // it copies what it keeps
		if err != nil {
			bad(BadRow{Key: string(vals[0]), Reason: err.Error(), Row: named(in.m, vals)})
			continue
		}
		if err := row(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading chunk: %w", err)
	}
	return nil
}

// named is a raw row by column name, copied (vals are reused by Scan).
func named(m *codec.Mapping, vals [][]byte) map[string][]byte {
	out := make(map[string][]byte, len(vals))
	for i, v := range vals {
		if v != nil {
			v = append([]byte{}, v...)
		}
		out[m.Columns[i].Name] = v
	}
	return out
}
