package position_test

import (
	"errors"
	"math/rand/v2"
	"sort"
	"testing"

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
		{in: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-77", mysql: true, seq: 77, resume: "3E11FA47-71CA-11E1-9E33-C80AA9429562:77"},
		{in: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7-9", mysql: true, seq: 9, resume: "3E11FA47-71CA-11E1-9E33-C80AA9429562:9"},
		{in: "a:1-2,b:1-3", mysql: true, wantErr: true},
	}
	for _, tc := range cases {
		parse := position.ParseMariaDBGTID
		if tc.mysql {
			parse = position.ParseMySQLGTIDSet
		}
		p, err := parse(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("parse(%q) err = %v", tc.in, err)
			continue
		}
		if err != nil {
			continue
		}
		if p.Seq != tc.seq || p.Resume() != tc.resume {
			t.Errorf("parse(%q) = seq %d resume %q; want %d %q", tc.in, p.Seq, p.Resume(), tc.seq, tc.resume)
		}
		if tc.resume != "" {
			back, err := position.ParseResume(position.GTID, p.Resume())
			if err != nil || back.Seq != p.Seq {
				t.Errorf("ParseResume(%q) = %v, %v", p.Resume(), back, err)
			}
		}
	}
	f, _ := position.FilePosition("mysql-bin.000003", 120)
	back, err := position.ParseResume(position.File, f.Resume())
	if err != nil || back != f {
		t.Errorf("file resume round trip: %v, %v", back, err)
	}
}
