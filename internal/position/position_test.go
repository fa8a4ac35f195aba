package position_test

import (
	"errors"
	"math/rand/v2"
	"sort"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/google/uuid"

	"github.com/anycompany/strangler/internal/position"
)

func mustGTID(t *testing.T, s string) position.Position {
	t.Helper()
	p, err := position.ParseMariaDBGTID(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEncodeOrdersLikePositions(t *testing.T) {
	var ps []position.Position
	for _, seq := range []uint64{0, 1, 2, 41, 42, 1 << 40, 1<<64 - 1} {
		for _, idx := range []uint32{0, 1, 7, position.EndOfTransaction} {
			p := position.Position{Kind: position.GTID, Domain: "0", Server: "1", Seq: seq}.At(idx)
			ps = append(ps, p)
		}
	}
	shuffled := append([]position.Position(nil), ps...)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	sort.Slice(shuffled, func(i, j int) bool {
		a, _ := shuffled[i].Encode()
		b, _ := shuffled[j].Encode()
		return a.Cmp(b) < 0
	})
	for i := range ps {
		if ps[i] != shuffled[i] {
			t.Fatalf("sorting by Encode put %s at %d, want %s", shuffled[i], i, ps[i])
		}
	}
	if n := len(ps[len(ps)-1].Number()); n > 38 {
		t.Errorf("largest GTID encoding has %d digits; DynamoDB numbers hold 38", n)
	}
}

func TestFilePositions(t *testing.T) {
	a, _ := position.FilePosition("binlog.000009", 999_999)
	b, _ := position.FilePosition("binlog.000010", 4)
	if c, err := position.Compare(a.At(position.EndOfTransaction), b); err != nil || c >= 0 {
		t.Errorf("file 9 end vs file 10 start: %d, %v", c, err)
	}
	max, _ := position.FilePosition("binlog.999999", 999_999_999_999)
	if n := len(max.At(position.EndOfTransaction).Number()); n > 38 {
		t.Errorf("largest file encoding has %d digits", n)
	}
	if _, err := position.FilePosition("binlog", 4); !errors.Is(err, position.ErrUnsupported) {
		t.Errorf("a file without a number: %v", err)
	}
	if _, err := position.Compare(a, mustGTID(t, "0-1-1")); err == nil {
		t.Error("a file and a GTID position compared")
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		in      string
		mysql   bool
		seq     uint64
		resume  string
		wantErr bool
	}{
		{in: "", seq: 0, resume: ""},
		{in: "0-1-42", seq: 42, resume: "0-1-42"},
		{in: "0-1-42,1-1-3", wantErr: true},
		{in: "0-1", wantErr: true},
		{in: "", mysql: true, seq: 0, resume: ""},
		{in: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-77", mysql: true, seq: 77, resume: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-77"},
		{in: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7-9", mysql: true, seq: 8, resume: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9"},
		// Two uuids, as @@gtid_executed prints them (a newline after the
		// comma), out of order: the canonical form sorts them.
		{in: "9c1d5b2e-0000-11ef-8000-000000000002:1-3:5,\n3e11fa47-71ca-11e1-9e33-c80aa9429562:1-100", mysql: true, seq: 104,
			resume: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-100,9c1d5b2e-0000-11ef-8000-000000000002:1-3:5"},
		// MySQL 8.4 tagged GTIDs.
		{in: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10:orders:1-2", mysql: true, seq: 12,
			resume: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10:orders:1-2"},
		{in: "a:1-2,b:1-3", mysql: true, wantErr: true},
		{in: "3e11fa47-71ca-11e1-9e33-c80aa9429562", mysql: true, wantErr: true},
		{in: "3e11fa47-71ca-11e1-9e33-c80aa9429562:0-4", mysql: true, wantErr: true},
		{in: "3e11fa47-71ca-11e1-9e33-c80aa9429562:5-x", mysql: true, wantErr: true},
	}
	for _, tc := range cases {
		parse, kind := position.ParseMariaDBGTID, position.GTID
		if tc.mysql {
			parse, kind = position.ParseMySQLGTIDSet, position.GTIDSet
		}
		p, err := parse(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("parse(%q) err = %v", tc.in, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, position.ErrUnsupported) {
				t.Errorf("parse(%q) = %v, not ErrUnsupported", tc.in, err)
			}
			continue
		}
		if p.Kind != kind || p.Seq != tc.seq || p.Resume() != tc.resume {
			t.Errorf("parse(%q) = %v seq %d resume %q; want %v %d %q", tc.in, p.Kind, p.Seq, p.Resume(), kind, tc.seq, tc.resume)
		}
		back, err := position.ParseResume(kind, p.Resume())
		if err != nil || back != p {
			t.Errorf("ParseResume(%q) = %+v, %v; want %+v", p.Resume(), back, err, p)
		}
	}
	f, _ := position.FilePosition("mysql-bin.000003", 120)
	back, err := position.ParseResume(position.File, f.Resume())
	if err != nil || back != f {
		t.Errorf("file resume round trip: %v, %v", back, err)
	}
}

// TestParseAny: what an operator types (--from) is read by its form, with
// an optional epoch.
func TestParseAny(t *testing.T) {
	for in, want := range map[string]position.Position{
		"0-1-42":                {Kind: position.GTID, Domain: "0", Server: "1", Seq: 42},
		"e3/0-1-42":             {Kind: position.GTID, Epoch: 3, Domain: "0", Server: "1", Seq: 42},
		"binlog.000042:1234":    {Kind: position.File, File: "binlog.000042", Offset: 1234},
		"e1/mysql-bin.000007:4": {Kind: position.File, Epoch: 1, File: "mysql-bin.000007", Offset: 4},
		"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9":  {Kind: position.GTIDSet, Set: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9", Seq: 9},
		"e2/3e11fa47-71ca-11e1-9e33-c80aa9429562:7": {Kind: position.GTIDSet, Epoch: 2, Set: "3e11fa47-71ca-11e1-9e33-c80aa9429562:7", Seq: 1},
	} {
		got, err := position.Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if again, err := position.Parse(got.Resume()); err != nil || again != got {
			t.Errorf("Parse(Resume(%q)) = %+v, %v", in, again, err)
		}
	}
	for _, bad := range []string{"e0/0-1-42", "e10000/0-1-4", "ex/0-1-4", "binlog:12", "0-1", "uuid:1-2"} {
		if _, err := position.Parse(bad); !errors.Is(err, position.ErrUnsupported) {
			t.Errorf("Parse(%q) = %v, want ErrUnsupported", bad, err)
		}
	}
}

// TestEpochOrdersFirst: every position of a higher epoch sorts after every
// position of a lower one, of any kind, and the largest fits DynamoDB.
func TestEpochOrdersFirst(t *testing.T) {
	maxFile, _ := position.FilePosition("binlog.999999", 999_999_999_999)
	top := []position.Position{
		{Kind: position.GTID, Domain: "0", Server: "1", Seq: 1<<64 - 1},
		{Kind: position.GTIDSet, Set: "x", Seq: 1<<64 - 1},
		maxFile,
	}
	for _, p := range top {
		low := p.At(position.EndOfTransaction).InEpoch(6)
		high := position.Position{Kind: p.Kind, Domain: "0", Server: "1", File: "binlog.000001"}.InEpoch(7)
		if c, err := position.Compare(low, high); err != nil || c >= 0 {
			t.Errorf("%s vs %s: %d, %v", low, high, c, err)
		}
		if n := len(p.At(position.EndOfTransaction).InEpoch(position.MaxEpoch).Number()); n > 38 {
			t.Errorf("%v in the last epoch has %d digits; DynamoDB numbers hold 38", p.Kind, n)
		}
	}
	if _, err := (position.Position{Kind: position.GTID, Epoch: position.MaxEpoch + 1}).Encode(); err == nil {
		t.Error("an epoch above MaxEpoch encoded")
	}
}

// TestExecutedCountsTheStream: a MySQL stream's positions are the sizes of
// the executed set after each transaction, so they rise by one per
// transaction whatever the uuid, and the set resumes exactly.
func TestExecutedCountsTheStream(t *testing.T) {
	a := uuid.MustParse("3e11fa47-71ca-11e1-9e33-c80aa9429562")
	b := uuid.MustParse("9c1d5b2e-0000-11ef-8000-000000000002")
	start, err := position.ParseMySQLGTIDSet(a.String() + ":1-10:12")
	if err != nil {
		t.Fatal(err)
	}
	e, err := position.NewExecuted(start.InEpoch(2))
	if err != nil {
		t.Fatal(err)
	}
	var got []position.Position
	for _, g := range []struct {
		u   uuid.UUID
		gno int64
	}{{a, 11}, {b, 1}, {a, 13}, {b, 2}} {
		p, err := e.Add(g.u[:], gomysql.Tag{}, g.gno)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	for i, p := range got {
		if p.Seq != uint64(12+i) || p.Epoch != 2 {
			t.Errorf("transaction %d: size %d epoch %d, want %d, 2", i, p.Seq, p.Epoch, 12+i)
		}
		if i > 0 {
			if c, _ := position.Compare(got[i-1], p); c >= 0 {
				t.Errorf("%s does not sort before %s", got[i-1], p)
			}
		}
	}
	last := got[len(got)-1]
	if want := a.String() + ":1-13," + b.String() + ":1-2"; last.Set != want {
		t.Errorf("executed set %q, want %q", last.Set, want)
	}
	if _, err := e.Add(a[:], gomysql.Tag{}, 5); !errors.Is(err, position.ErrUnsupported) {
		t.Errorf("a GTID the set holds was counted again: %v", err)
	}
	if _, err := position.NewExecuted(mustGTID(t, "0-1-5")); err == nil {
		t.Error("a MySQL stream started from a MariaDB position")
	}
}

// TestBinlogStatusStatement: MySQL 8.4 removed SHOW MASTER STATUS (8.2
// added SHOW BINARY LOG STATUS).
func TestBinlogStatusStatement(t *testing.T) {
	for v, want := range map[string]string{
		"5.7.44-log": "SHOW MASTER STATUS", "8.0.36": "SHOW MASTER STATUS", "8.1.0": "SHOW MASTER STATUS",
		"8.2.0": "SHOW BINARY LOG STATUS", "8.4.3": "SHOW BINARY LOG STATUS", "9.1.0": "SHOW BINARY LOG STATUS",
	} {
		if got := position.BinlogStatusStatement(v); got != want {
			t.Errorf("BinlogStatusStatement(%q) = %q, want %q", v, got, want)
		}
	}
}
