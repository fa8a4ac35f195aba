package position

import (
	"fmt"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/google/uuid"
)

// ParseMySQLGTIDSet parses a MySQL GTID set (@@gtid_executed, or a
// checkpoint's resume form): "" or "uuid[:tag]:interval[:interval…]" for
// one or several server uuids, as the position after its last
// transaction. Newlines MySQL puts after commas are ignored.
func ParseMySQLGTIDSet(s string) (Position, error) {
	set, err := parseSet(s)
	if err != nil {
		return Position{}, err
	}
	return setPosition(set), nil
}

func parseSet(s string) (*gomysql.MysqlGTIDSet, error) {
	s = strings.Join(strings.Fields(s), "")
	g, err := gomysql.ParseMysqlGTIDSet(s)
	if err != nil {
		return nil, fmt.Errorf("%w: MySQL GTID set %q: %v", ErrUnsupported, s, err)
	}
	set := g.(*gomysql.MysqlGTIDSet)
	for _, tags := range *set {
		for _, ivs := range tags {
			for _, iv := range ivs {
				if iv.Start < 1 {
					return nil, fmt.Errorf("%w: MySQL GTID set %q: GTID numbers start at 1", ErrUnsupported, s)
				}
			}
		}
	}
	return set, nil
}

// setPosition is the position whose executed set is set: its canonical
// form and its size.
func setPosition(set *gomysql.MysqlGTIDSet) Position {
	return Position{Kind: GTIDSet, Set: set.String(), Seq: setSize(set)}
}

// setSize is the number of GTIDs in set.
func setSize(set *gomysql.MysqlGTIDSet) uint64 {
	var n uint64
	for _, tags := range *set {
		for _, ivs := range tags {
			for _, iv := range ivs {
				n += uint64(iv.Stop - iv.Start)
			}
		}
	}
	return n
}

// Executed is a MySQL binlog reader's running executed set: it starts at a
// GTIDSet position and adds each transaction's GTID as the stream names
// it, giving that transaction's position. It is not safe for concurrent
// use; the zero value is not usable (NewExecuted).
type Executed struct {
	set   *gomysql.MysqlGTIDSet
	size  uint64
	epoch uint16
}

// NewExecuted starts at from, a GTIDSet position.
func NewExecuted(from Position) (*Executed, error) {
	if from.Kind != GTIDSet {
		return nil, fmt.Errorf("%w: a MySQL GTID stream cannot start from a %s position", ErrUnsupported, from.Kind)
	}
	set, err := parseSet(from.Set)
	if err != nil {
		return nil, err
	}
	return &Executed{set: set, size: setSize(set), epoch: from.Epoch}, nil
}

// Set is the GTID set go-mysql's syncer starts from.
func (e *Executed) Set() *gomysql.MysqlGTIDSet { return e.set }

// Add records the transaction of GTID sid[:tag]:gno and returns its
// position. A GTID already in the set is refused: the source sends none
// (it skips what the reader has), so the stream is not the one the
// positions count.
func (e *Executed) Add(sid []byte, tag gomysql.Tag, gno int64) (Position, error) {
	u, err := uuidFrom(sid)
	if err != nil {
		return Position{}, err
	}
	one := gomysql.NewMysqlGTIDSet()
	one.AddGTIDWithTag(u, tag, gno)
	if e.set.Contain(&one) {
		return Position{}, fmt.Errorf("%w: the stream sent GTID %s, which the executed set %s already holds", ErrUnsupported, one.String(), e.set.String())
	}
	e.set.AddGTIDWithTag(u, tag, gno)
	e.size++
	return Position{Kind: GTIDSet, Epoch: e.epoch, Set: e.set.String(), Seq: e.size}, nil
}

func uuidFrom(sid []byte) (uuid.UUID, error) {
	u, err := uuid.FromBytes(sid)
	if err != nil {
		return uuid.UUID{}, fmt.Errorf("%w: a GTID event's server uuid of %d bytes", ErrUnsupported, len(sid))
	}
	return u, nil
}

// Holds reports whether GTIDSet position a's set holds every GTID of b's:
// a source whose executed set does not hold a reader's lacks transactions
// the reader already read.
func Holds(a, b Position) (bool, error) {
	if a.Kind != GTIDSet || b.Kind != GTIDSet {
		return false, fmt.Errorf("%w: Holds compares MySQL GTID sets, not a %s and a %s", ErrUnsupported, a.Kind, b.Kind)
	}
	sa, err := parseSet(a.Set)
	if err != nil {
		return false, err
	}
	sb, err := parseSet(b.Set)
	if err != nil {
		return false, err
	}
	return sa.Contain(sb), nil
}
