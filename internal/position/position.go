// Package position names places in a MySQL source's binlog and orders them.
//
// A Position is the place of one row change: the position of its
// transaction (a GTID sequence number where the source has GTIDs, else the
// binlog file number and offset) plus the change's index inside the
// transaction, so two changes of one row in one transaction still order
// strictly. Encode turns it into one non-negative integer, written to
// DynamoDB as the number src_pos, that sorts the same way; the position guard
// (invariant 1) compares those numbers.
//
// A source uses one kind of position for its whole life: GTID positions and
// file positions of one source are never compared.
package position

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Kind says how a source names transactions.
type Kind int

// The kinds.
const (
	// GTID positions are MariaDB domain-server-seq or MySQL uuid:seq, of one
	// domain or one server uuid; the sequence orders them.
	GTID Kind = iota + 1
	// File positions are binlog file number and offset.
	File
)

// EndOfTransaction is the change index that sorts after every change of a
// transaction: a backfill chunk snapshotted after transaction T is stamped
// (T, EndOfTransaction), so every change of a later transaction wins over it
// and no change of T or earlier does.
const EndOfTransaction = maxIndex

const (
	maxIndex   = 999_999         // changes per transaction: 6 digits
	maxOffset  = 999_999_999_999 // binlog offsets: 12 digits
	maxFileNum = 999_999         // binlog file numbers: 6 digits
)

// Position is one row change's place in the binlog. The zero value is the
// position before everything. It may be copied.
type Position struct {
	Kind Kind
	// GTID: the domain (MariaDB) or server uuid (MySQL), kept for display and
	// for refusing a mix; Seq orders.
	Domain string
	Server string
	Seq    uint64
	// File: the binlog file name and offset of the transaction's end.
	File   string
	Offset uint64
	// Index is the change's index in its transaction (0-based), or
	// EndOfTransaction.
	Index uint32
}

// ErrUnsupported is a source position this package cannot order, such as a
// GTID set spanning several domains.
var ErrUnsupported = errors.New("unsupported source position")

// ParseMariaDBGTID parses @@gtid_binlog_pos: "" (nothing logged yet) or
// "domain-server-seq". A multi-domain position is ErrUnsupported.
func ParseMariaDBGTID(s string) (Position, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Position{Kind: GTID, Domain: "0"}, nil
	}
	if strings.Contains(s, ",") {
		return Position{}, fmt.Errorf("%w: GTID position %q spans several replication domains; strangler orders one domain", ErrUnsupported, s)
	}
	parts := strings.Split(s, "-")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return Position{}, fmt.Errorf("%w: %q is not domain-server-seq", ErrUnsupported, s)
	}
	seq, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("%w: GTID %q: %v", ErrUnsupported, s, err)
	}
	return Position{Kind: GTID, Domain: parts[0], Server: parts[1], Seq: seq}, nil
}

// ParseMySQLGTIDSet parses @@gtid_executed of one server uuid, "uuid:1-42",
// as the position of its last transaction.
func ParseMySQLGTIDSet(s string) (Position, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Position{Kind: GTID}, nil
	}
	if strings.Contains(s, ",") {
		return Position{}, fmt.Errorf("%w: GTID set %q has several server uuids", ErrUnsupported, s)
	}
	uuid, ranges, ok := strings.Cut(s, ":")
	if !ok {
		return Position{}, fmt.Errorf("%w: %q is not uuid:interval", ErrUnsupported, s)
	}
	last := ranges
	if i := strings.LastIndexAny(ranges, ":-"); i >= 0 {
		last = ranges[i+1:]
	}
	seq, err := strconv.ParseUint(last, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("%w: GTID set %q: %v", ErrUnsupported, s, err)
	}
	return Position{Kind: GTID, Server: uuid, Seq: seq}, nil
}

// FilePosition returns the position of file ("binlog.000042") at offset.
func FilePosition(file string, offset uint64) (Position, error) {
	if _, err := fileNumber(file); err != nil {
		return Position{}, err
	}
	return Position{Kind: File, File: file, Offset: offset}, nil
}

func fileNumber(file string) (uint64, error) {
	i := strings.LastIndexByte(file, '.')
	n, err := strconv.ParseUint(file[i+1:], 10, 64)
	if i < 0 || err != nil || n > maxFileNum {
		return 0, fmt.Errorf("%w: binlog file %q has no numeric suffix", ErrUnsupported, file)
	}
	return n, nil
}

// At returns p naming change index i of its transaction.
func (p Position) At(i uint32) Position {
	p.Index = i
	return p
}

// Encode returns the number that orders p among its source's positions:
// GTID: seq*10^6 + index; File: (file*10^12 + offset)*10^6 + index.
func (p Position) Encode() (*big.Int, error) {
	if p.Index > maxIndex {
		return nil, fmt.Errorf("change index %d exceeds %d", p.Index, maxIndex)
	}
	var txn big.Int
	switch p.Kind {
	case GTID:
		txn.SetUint64(p.Seq)
	case File:
		n, err := fileNumber(p.File)
		if err != nil {
			return nil, err
		}
		if p.Offset > maxOffset {
			return nil, fmt.Errorf("binlog offset %d exceeds %d", p.Offset, maxOffset)
		}
		txn.SetUint64(n)
		txn.Mul(&txn, big.NewInt(maxOffset+1))
		txn.Add(&txn, new(big.Int).SetUint64(p.Offset))
	default:
		return nil, fmt.Errorf("%w: position of unknown kind", ErrUnsupported)
	}
	txn.Mul(&txn, big.NewInt(maxIndex+1))
	return txn.Add(&txn, big.NewInt(int64(p.Index))), nil
}

// Number is Encode as a decimal string, the form DynamoDB's N takes. It
// panics only on positions no parser returns.
func (p Position) Number() string {
	n, err := p.Encode()
	if err != nil {
		panic(fmt.Sprintf("position.Number: %v", err))
	}
	return n.String()
}

// String is the human form: "0-1-42#3" or "binlog.000042:1234#3".
func (p Position) String() string {
	idx := strconv.FormatUint(uint64(p.Index), 10)
	if p.Index == EndOfTransaction {
		idx = "end"
	}
	switch p.Kind {
	case GTID:
		if p.Server == "" && p.Domain != "" {
			return fmt.Sprintf("%s-?-%d#%s", p.Domain, p.Seq, idx)
		}
		if p.Domain == "" {
			return fmt.Sprintf("%s:%d#%s", p.Server, p.Seq, idx)
		}
		return fmt.Sprintf("%s-%s-%d#%s", p.Domain, p.Server, p.Seq, idx)
	case File:
		return fmt.Sprintf("%s:%d#%s", p.File, p.Offset, idx)
	}
	return "none"
}

// Compare orders a and b of one source: -1, 0 or +1.
func Compare(a, b Position) (int, error) {
	if a.Kind != b.Kind {
		return 0, fmt.Errorf("%w: cannot compare a GTID and a file position", ErrUnsupported)
	}
	ea, err := a.Encode()
	if err != nil {
		return 0, err
	}
	eb, err := b.Encode()
	if err != nil {
		return 0, err
	}
	return ea.Cmp(eb), nil
}

// Resume is the form a binlog reader resumes from: "domain-server-seq" or
// "uuid:seq" for GTIDs, "file:offset" otherwise. ParseResume reads it back.
func (p Position) Resume() string {
	switch p.Kind {
	case GTID:
		if p.Domain == "" {
			return fmt.Sprintf("%s:%d", p.Server, p.Seq)
		}
		if p.Server == "" {
			return ""
		}
		return fmt.Sprintf("%s-%s-%d", p.Domain, p.Server, p.Seq)
	case File:
		return fmt.Sprintf("%s:%d", p.File, p.Offset)
	}
	return ""
}

// ParseResume reads the Resume form of kind k.
func ParseResume(k Kind, s string) (Position, error) {
	switch k {
	case GTID:
		if strings.Contains(s, ":") {
			return ParseMySQLGTIDSet(s)
		}
		return ParseMariaDBGTID(s)
	case File:
		file, off, ok := strings.Cut(s, ":")
		n, err := strconv.ParseUint(off, 10, 64)
		if !ok || err != nil {
			return Position{}, fmt.Errorf("%w: %q is not file:offset", ErrUnsupported, s)
		}
		return FilePosition(file, n)
	}
	return Position{}, fmt.Errorf("%w: unknown position kind", ErrUnsupported)
}
