package mysqlsource

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/zstd"
	vtmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/binlog"
	"vitess.io/vitess/go/mysql/replication"
	binlogdatapb "vitess.io/vitess/go/vt/proto/binlogdata"
)

// MySQL binlog event types the source writes beyond vitess's builders.
const (
	evQuery              = 2
	evRotate             = 4
	evFormatDescription  = 15
	evXID                = 16
	evTableMap           = 19
	evHeartbeat          = 27
	evGTID               = 33
	evAnonymousGTID      = 34
	evPreviousGTIDs      = 35
	evTransactionPayload = 40

	headerLen = 19
	crcLen    = 4

	// stmtEndFlag marks a statement's last rows event.
	stmtEndFlag = 0x0001
)

// mysql8HeaderSizes are MySQL 8.0's post-header lengths for event types 1
// to 41 (START_EVENT_V3 … HEARTBEAT_LOG_EVENT_V2), as its format
// description event lists them.
var mysql8HeaderSizes = []byte{
	56, 13, 0, 8, 0, 0, 0, 4, 4, 4, // 1-10
	4, 0, 0, 0, 98, 0, 4, 26, 8, 0, // 11-20
	0, 0, 8, 8, 8, 2, 0, 0, 0, 10, // 21-30
	10, 10, 42, 42, 0, 18, 52, 0, 10, 40, // 31-40
	0, // 41
}

// format is the binlog format the source writes: binlog v4, CRC32
// checksums, MySQL 8's post-header lengths.
func format(version string) vtmysql.BinlogFormat {
	return vtmysql.BinlogFormat{
		FormatVersion: 4, ServerVersion: version, HeaderLength: headerLen,
		ChecksumAlgorithm: vtmysql.BinlogChecksumAlgCRC32, HeaderSizes: mysql8HeaderSizes,
	}
}

// encoder writes events at known offsets: every event's header carries
// the offset just past it (log_pos), and a CRC32 checksum.
type encoder struct {
	f        vtmysql.BinlogFormat
	serverID uint32
	now      func() uint32
}

// packet returns an event of type typ with body, ending at end (log_pos;
// zero inside a transaction payload or for artificial events).
func (e *encoder) packet(typ byte, flags uint16, body []byte, at uint32, withCRC bool) []byte {
	s := &vtmysql.FakeBinlogStream{ServerID: e.serverID, Timestamp: e.now()}
	f := e.f
	if !withCRC {
		f.ChecksumAlgorithm = vtmysql.BinlogChecksumAlgOff
	}
	if at != 0 {
		s.LogPosition = at + uint32(headerLen+len(body))
		if withCRC {
			s.LogPosition += crcLen
		}
	}
	b := s.Packetize(f, typ, flags, body)
	if typ == evFormatDescription && !withCRC {
		b = b[:len(b)-crcLen] // Packetize always leaves room for an FDE's checksum
		binary.LittleEndian.PutUint32(b[9:13], uint32(len(b)))
	}
	return b
}

// body strips the header and checksum off a vitess-built event.
func body(ev vtmysql.BinlogEvent) []byte {
	b := ev.Bytes()
	return append([]byte(nil), b[headerLen:len(b)-crcLen]...)
}

func (e *encoder) stream() *vtmysql.FakeBinlogStream {
	return &vtmysql.FakeBinlogStream{ServerID: e.serverID, Timestamp: e.now()}
}

// formatDescription is the FDE body.
func (e *encoder) formatDescription() []byte {
	return body(vtmysql.NewFormatDescriptionEvent(e.f, e.stream()))
}

// previousGTIDs is the PREVIOUS_GTIDS_LOG_EVENT body: the SID block of
// the GTIDs before the file.
func previousGTIDs(set replication.Mysql56GTIDSet) []byte {
	if set == nil {
		set = replication.Mysql56GTIDSet{}
	}
	return set.SIDBlock()
}

// rotate is a ROTATE_EVENT body.
func rotate(pos uint64, file string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, pos), file...)
}

// gtidBody is a GTID_LOG_EVENT (or, with a zero sid, an
// ANONYMOUS_GTID_LOG_EVENT) body: flags, sid, gno, the logical clock
// (type 2, last_committed, sequence_number) and, on 8.0+, the commit
// timestamps (microseconds), the transaction's length and the server
// version.
func gtidBody(sid replication.SID, gno int64, seq int64, commitMicros uint64, txnLen uint64, serverVersion uint32, v8 bool) []byte {
	b := []byte{0}
	b = append(b, sid[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(gno))
	b = append(b, 2)
	b = binary.LittleEndian.AppendUint64(b, uint64(seq-1))
	b = binary.LittleEndian.AppendUint64(b, uint64(seq))
	if !v8 {
		return b
	}
	// The immediate commit timestamp with bit 55 clear: the original one
	// is the same and is not repeated.
	b = appendLE(b, commitMicros&^(1<<55), 7)
	b = appendPacked(b, txnLen)
	return binary.LittleEndian.AppendUint32(b, serverVersion&^(1<<31))
}

// appendPacked appends a length-encoded integer.
func appendPacked(b []byte, n uint64) []byte {
	switch {
	case n < 251:
		return append(b, byte(n))
	case n < 1<<16:
		return appendLE(append(b, 0xfc), n, 2)
	case n < 1<<24:
		return appendLE(append(b, 0xfd), n, 3)
	}
	return appendLE(append(b, 0xfe), n, 8)
}

// queryBody is a QUERY_EVENT body (BEGIN, or a DDL statement in schema).
func (e *encoder) queryBody(schema, sql string) []byte {
	return body(vtmysql.NewQueryEvent(e.f, e.stream(), vtmysql.Query{
		Database: schema, SQL: sql,
		Charset: &binlogdatapb.Charset{Client: CollationUTF8MB4, Conn: CollationUTF8MB4, Server: CollationUTF8MB4},
	}))
}

func xidBody(xid uint64) []byte { return binary.LittleEndian.AppendUint64(nil, xid) }

// tableMapBody is a TABLE_MAP_EVENT body: vitess's builder for the fixed
// part, then the optional metadata of binlog_row_metadata (full says FULL
// rather than MINIMAL; MySQL 5.7, !v8, writes none at all).
func (e *encoder) tableMapBody(id uint64, t *Table, full, v8 bool) []byte {
	tm := &vtmysql.TableMap{Database: t.Schema, Name: t.Name, Types: make([]byte, len(t.Columns)),
		CanBeNull: vtmysql.NewServerBitmap(len(t.Columns)), Metadata: make([]uint16, len(t.Columns))}
	for i, c := range t.Columns {
		tm.Types[i] = c.Type
		tm.Metadata[i] = c.Meta
		tm.CanBeNull.Set(i, c.Nullable)
	}
	b := body(vtmysql.NewTableMapEvent(e.f, e.stream(), id, tm))
	if !v8 {
		return b
	}
	return append(b, optionalMetadata(t, full)...)
}

// Optional metadata field types (MySQL's Table_map_log_event).
const (
	optSignedness       = 1
	optColumnCharset    = 3
	optColumnName       = 4
	optSetStrValue      = 5
	optEnumStrValue     = 6
	optSimplePrimaryKey = 8
	optEnumSetColumnCS  = 11
)

// optionalMetadata is the table map's TLV list. MINIMAL has the
// signedness and the character sets; FULL adds the column names, the
// ENUM and SET labels and the primary key.
func optionalMetadata(t *Table, full bool) []byte {
	var out []byte
	field := func(typ byte, v []byte) {
		if len(v) == 0 {
			return
		}
		out = append(out, typ)
		out = appendPacked(out, uint64(len(v)))
		out = append(out, v...)
	}
	var sign []byte
	var n int
	var cs, escs, names, enums, sets, pk []byte
	for i, c := range t.Columns {
		if c.numeric() {
			if n%8 == 0 {
				sign = append(sign, 0)
			}
			if c.Unsigned {
				sign[n/8] |= 0x80 >> (n % 8)
			}
			n++
		}
		coll := uint64(c.Collation)
		if coll == 0 {
			coll = CollationUTF8MB4
		}
		switch rt := c.realType(); {
		case c.character():
			cs = appendPacked(cs, coll)
		case rt == binlog.TypeEnum || rt == binlog.TypeSet:
			escs = appendPacked(escs, coll)
			labels := appendPacked(nil, uint64(len(c.Values)))
			for _, l := range c.Values {
				labels = append(appendPacked(labels, uint64(len(l))), l...)
			}
			if rt == binlog.TypeEnum {
				enums = append(enums, labels...)
			} else {
				sets = append(sets, labels...)
			}
		}
		names = append(appendPacked(names, uint64(len(c.Name))), c.Name...)
		_ = i
	}
	for _, i := range t.PrimaryKey {
		pk = appendPacked(pk, uint64(i))
	}
	field(optSignedness, sign)
	field(optColumnCharset, cs)
	field(optEnumSetColumnCS, escs)
	if full {
		field(optColumnName, names)
		field(optSetStrValue, sets)
		field(optEnumStrValue, enums)
		field(optSimplePrimaryKey, pk)
	}
	return out
}

// rowsBody is a WRITE/UPDATE/DELETE_ROWS_EVENT v2 body, built by vitess
// from the row images this package encodes.
func (e *encoder) rowsBody(typ byte, id uint64, t *Table, rows []Row, last bool) ([]byte, error) {
	n := len(t.Columns)
	all := vtmysql.NewServerBitmap(n)
	for i := 0; i < n; i++ {
		all.Set(i, true)
	}
	r := vtmysql.Rows{DataColumns: all, IdentifyColumns: all}
	if last {
		r.Flags = stmtEndFlag
	}
	for _, row := range rows {
		var out vtmysql.Row
		var err error
		if row.Before != nil {
			if out.NullIdentifyColumns, out.Identify, err = image(t, row.Before); err != nil {
				return nil, err
			}
		}
		if row.After != nil {
			if out.NullColumns, out.Data, err = image(t, row.After); err != nil {
				return nil, err
			}
		}
		r.Rows = append(r.Rows, out)
	}
	var ev vtmysql.BinlogEvent
	switch typ {
	case binlogWriteRows:
		r.IdentifyColumns = vtmysql.Bitmap{}
		ev = vtmysql.NewWriteRowsEvent(e.f, e.stream(), id, r)
	case binlogUpdateRows:
		ev = vtmysql.NewUpdateRowsEvent(e.f, e.stream(), id, r)
	default:
		r.DataColumns = vtmysql.Bitmap{}
		ev = vtmysql.NewDeleteRowsEvent(e.f, e.stream(), id, r)
	}
	return body(ev), nil
}

// Rows event types (v2).
const (
	binlogWriteRows  = 30
	binlogUpdateRows = 31
	binlogDeleteRows = 32
)

// image encodes one row image: its NULL bitmap and its values.
func image(t *Table, vals []any) (vtmysql.Bitmap, []byte, error) {
	if len(vals) != len(t.Columns) {
		return vtmysql.Bitmap{}, nil, fmt.Errorf("table %s: a row of %d values for %d columns", t.Name, len(vals), len(t.Columns))
	}
	nulls := vtmysql.NewServerBitmap(len(vals))
	var data []byte
	for i, v := range vals {
		if v == nil {
			nulls.Set(i, true)
			continue
		}
		var err error
		if data, err = appendValue(data, t.Columns[i], v); err != nil {
			return vtmysql.Bitmap{}, nil, fmt.Errorf("table %s column %s: %w", t.Name, t.Columns[i].Name, err)
		}
	}
	return nulls, data, nil
}

// payloadBody is a TRANSACTION_PAYLOAD_EVENT body: the TLV header
// (compression type 0 = zstd, payload size, uncompressed size, end mark)
// then the zstd frame of the events (each with its header, log_pos 0).
func payloadBody(events []byte) ([]byte, error) {
	var z bytes.Buffer
	w, err := zstd.NewWriter(&z)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(events); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	var b []byte
	tlv := func(typ, v uint64) {
		val := appendPacked(nil, v)
		b = appendPacked(b, typ)
		b = appendPacked(b, uint64(len(val)))
		b = append(b, val...)
	}
	tlv(1, uint64(z.Len()))     // PAYLOAD_SIZE
	tlv(2, 0)                   // COMPRESSION_TYPE: ZSTD
	tlv(3, uint64(len(events))) // UNCOMPRESSED_SIZE
	b = append(b, 0)            // OTW_PAYLOAD_HEADER_END_MARK
	return append(b, z.Bytes()...), nil
}
