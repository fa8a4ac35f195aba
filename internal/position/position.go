// Package position names places in a MySQL or MariaDB source's binlog and
// orders them.
//
// A Position is the place of one row change: the position of its
// transaction plus the change's index inside the transaction, so two
// changes of one row in one transaction still order strictly. A
// transaction's position is, by the source's kind:
//   - GTID (MariaDB): domain-server-seq of one replication domain; seq
//     orders.
//   - GTIDSet (MySQL, gtid_mode=ON): the source's executed GTID set right
//     after the transaction, e.g. "3e11fa47-…:1-42,9c1d…:1-7:9". The set is
//     what a reader resumes from, exactly, on the source or on a promoted
//     replica; its size (the number of transactions in it) orders: each
//     transaction of the stream adds one GTID to it.
//   - File (MySQL, gtid_mode=OFF): binlog file number and the offset of the
//     transaction's end.
//
// Encode turns a Position into one non-negative integer, written to
// DynamoDB as the number src_pos, that sorts the same way; the position
// guard (invariant 1) compares those numbers. Epoch sits in the number's
// high digits: the operator raises it after a failover the positions
// cannot follow (docs/positions.md), and every position of the new epoch
// sorts after every position of the old ones.
//
// A source uses one kind of position for its whole life: positions of
// different kinds are never compared.
package position

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Kind says how a source names transactions. The values are stored (the
// checkpoint's kind attribute): never renumber them.
type Kind int

// The kinds.
const (
	// GTID positions are MariaDB domain-server-seq of one domain.
	GTID Kind = iota + 1
	// File positions are binlog file number and offset.
	File
	// GTIDSet positions are MySQL executed GTID sets; their size orders.
	GTIDSet
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
	// MaxEpoch is the highest epoch: 4 digits above the 30 a position
	// takes (20 of a sequence number or set size, 6 of the index; a file
	// position takes 24), 34 in all: DynamoDB numbers hold 38.
	MaxEpoch = 9_999
)

// epochUnit is 10^30, the weight of one epoch in Encode.
var epochUnit = new(big.Int).Exp(big.NewInt(10), big.NewInt(30), nil)

// Position is one row change's place in the binlog. The zero value is the
// position before everything. It may be copied and compared with ==.
type Position struct {
	Kind Kind
	// Epoch counts the failovers the operator declared (docs/positions.md);
	// it orders before everything else.
	Epoch uint16
	// GTID: the domain and server (display, and refusing a mix); Seq
	// orders. GTIDSet: Set is the executed set in go-mysql's canonical
	// form (uuids sorted, intervals merged) and Seq its size.
	Domain string
	Server string
	Set    string
	Seq    uint64
	// File: the binlog file name and offset of the transaction's end.
	File   string
	Offset uint64
	// Index is the change's index in its transaction (0-based), or
	// EndOfTransaction.
	Index uint32
}

// ErrUnsupported is a source position this package cannot order, such as a
// MariaDB GTID position spanning several domains.
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

// FilePosition returns the position of file ("binlog.000042") at offset.
func FilePosition(file string, offset uint64) (Position, error) {
	if _, err := fileNumber(file); err != nil {
		return Position{}, err
	}
	if offset > maxOffset {
		return Position{}, fmt.Errorf("%w: binlog offset %d exceeds %d", ErrUnsupported, offset, uint64(maxOffset))
	}
	return Position{Kind: File, File: file, Offset: offset}, nil
}

func fileNumber(file string) (uint64, error) {
	i := strings.LastIndexByte(file, '.')
	n, err := strconv.ParseUint(file[i+1:], 10, 64)
	if i < 0 || err != nil || n > maxFileNum || strings.ContainsAny(file, ":/ \t\r\n") {
		return 0, fmt.Errorf("%w: binlog file %q has no numeric suffix", ErrUnsupported, file)
	}
	return n, nil
}

// At returns p naming change index i of its transaction.
func (p Position) At(i uint32) Position {
	p.Index = i
	return p
}

// InEpoch returns p in epoch e.
func (p Position) InEpoch(e uint16) Position {
	p.Epoch = e
	return p
}

// Encode returns the number that orders p among its source's positions:
// epoch*10^30 + txn*10^6 + index, where txn is the GTID's sequence number,
// the GTID set's size, or file*10^12 + offset.
func (p Position) Encode() (*big.Int, error) {
	if p.Index > maxIndex {
		return nil, fmt.Errorf("change index %d exceeds %d", p.Index, maxIndex)
	}
	if p.Epoch > MaxEpoch {
		return nil, fmt.Errorf("epoch %d exceeds %d", p.Epoch, MaxEpoch)
	}
	var txn big.Int
	switch p.Kind {
	case GTID, GTIDSet:
		txn.SetUint64(p.Seq)
	case File:
		n, err := fileNumber(p.File)
		if err != nil {
			return nil, err
		}
		if p.Offset > maxOffset {
			return nil, fmt.Errorf("binlog offset %d exceeds %d", p.Offset, uint64(maxOffset))
		}
		txn.SetUint64(n)
		txn.Mul(&txn, big.NewInt(maxOffset+1))
		txn.Add(&txn, new(big.Int).SetUint64(p.Offset))
	default:
		return nil, fmt.Errorf("%w: position of unknown kind", ErrUnsupported)
	}
	txn.Mul(&txn, big.NewInt(maxIndex+1))
	txn.Add(&txn, big.NewInt(int64(p.Index)))
	return txn.Add(&txn, new(big.Int).Mul(epochUnit, big.NewInt(int64(p.Epoch)))), nil
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

// String is the human form: "0-1-42#3", "binlog.000042:1234#3",
// "3e11fa47-…:1-42#end (42)", with "e2/" in front in epoch 2.
func (p Position) String() string {
	idx := strconv.FormatUint(uint64(p.Index), 10)
	if p.Index == EndOfTransaction {
		idx = "end"
	}
	var s string
	switch p.Kind {
	case GTID:
		switch {
		case p.Server == "" && p.Domain != "":
			s = fmt.Sprintf("%s-?-%d#%s", p.Domain, p.Seq, idx)
		case p.Domain == "":
			s = fmt.Sprintf("%s:%d#%s", p.Server, p.Seq, idx)
		default:
			s = fmt.Sprintf("%s-%s-%d#%s", p.Domain, p.Server, p.Seq, idx)
		}
	case GTIDSet:
		s = fmt.Sprintf("%s#%s (%d)", p.Set, idx, p.Seq)
	case File:
		s = fmt.Sprintf("%s:%d#%s", p.File, p.Offset, idx)
	default:
		return "none"
	}
	if p.Epoch > 0 {
		s = fmt.Sprintf("e%d/%s", p.Epoch, s)
	}
	return s
}

// Compare orders a and b of one source: -1, 0 or +1.
func Compare(a, b Position) (int, error) {
	if a.Kind != b.Kind {
		return 0, fmt.Errorf("%w: cannot compare a %s and a %s position", ErrUnsupported, a.Kind, b.Kind)
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

// String names the kind.
func (k Kind) String() string {
	switch k {
	case GTID:
		return "MariaDB GTID"
	case GTIDSet:
		return "MySQL GTID set"
	case File:
		return "binlog file"
	}
	return "unknown"
}

// Resume is the form a binlog reader resumes from, and the checkpoint
// stores: "domain-server-seq", the MySQL GTID set, or "file:offset"; in
// epoch e > 0 prefixed "e<e>/". ParseResume reads it back.
func (p Position) Resume() string {
	var s string
	switch p.Kind {
	case GTID:
		switch {
		case p.Domain == "":
			s = fmt.Sprintf("%s:%d", p.Server, p.Seq)
		case p.Server != "":
			s = fmt.Sprintf("%s-%s-%d", p.Domain, p.Server, p.Seq)
		}
	case GTIDSet:
		s = p.Set
	case File:
		s = fmt.Sprintf("%s:%d", p.File, p.Offset)
	}
	if p.Epoch > 0 {
		s = fmt.Sprintf("e%d/%s", p.Epoch, s)
	}
	return s
}

// ParseResume reads the Resume form of kind k. For k GTID, a form with a
// ':' is a MySQL GTID set (kind GTIDSet).
func ParseResume(k Kind, s string) (Position, error) {
	epoch, s, err := cutEpoch(s)
	if err != nil {
		return Position{}, err
	}
	var p Position
	switch k {
	case GTID, GTIDSet:
		if k == GTIDSet || strings.Contains(s, ":") {
			p, err = ParseMySQLGTIDSet(s)
		} else {
			p, err = ParseMariaDBGTID(s)
		}
	case File:
		file, off, ok := strings.Cut(s, ":")
		n, perr := strconv.ParseUint(off, 10, 64)
		if !ok || perr != nil {
			return Position{}, fmt.Errorf("%w: %q is not file:offset", ErrUnsupported, s)
		}
		p, err = FilePosition(file, n)
	default:
		return Position{}, fmt.Errorf("%w: unknown position kind %d", ErrUnsupported, k)
	}
	if err != nil {
		return Position{}, err
	}
	return p.InEpoch(epoch), nil
}

// cutEpoch splits "e<n>/rest" into n and rest; a form without the prefix
// is epoch 0.
func cutEpoch(s string) (uint16, string, error) {
	head, rest, ok := strings.Cut(s, "/")
	if !ok || !strings.HasPrefix(head, "e") {
		return 0, s, nil
	}
	n, err := strconv.ParseUint(head[1:], 10, 16)
	if err != nil || n == 0 || n > MaxEpoch {
		return 0, "", fmt.Errorf("%w: %q: the epoch prefix must be e1/ to e%d/", ErrUnsupported, s, MaxEpoch)
	}
	return uint16(n), rest, nil
}

// Parse reads a position an operator typed (--from), of any kind:
// "domain-server-seq" (MariaDB), "file.000042:1234" (a binlog file and
// offset) or a MySQL GTID set; "e<n>/" in front sets the epoch.
func Parse(s string) (Position, error) {
	epoch, rest, err := cutEpoch(strings.TrimSpace(s))
	if err != nil {
		return Position{}, err
	}
	if epoch > 0 && strings.TrimSpace(rest) == "" {
		// An empty position has no kind: a MariaDB GTID, a MySQL GTID set
		// and a file would each read it differently.
		return Position{}, fmt.Errorf("%w: %q names an epoch but no position: write the position after it, e.g. e%d/0-1-42, e%d/<uuid>:1-42 or e%d/binlog.000042:4", ErrUnsupported, s, epoch, epoch, epoch)
	}
	if file, off, ok := strings.Cut(rest, ":"); ok && !strings.Contains(off, ":") {
		if _, ferr := fileNumber(file); ferr == nil {
			return ParseResume(File, strings.TrimSpace(s))
		}
	}
	if strings.Contains(rest, ":") {
		return ParseResume(GTIDSet, strings.TrimSpace(s))
	}
	return ParseResume(GTID, strings.TrimSpace(s))
}
