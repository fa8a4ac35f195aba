package control_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/position"
)

// TestBackfillStart: a start position written with StartValues reads back
// as the same transaction, at its end; a job item without one has none.
func TestBackfillStart(t *testing.T) {
	for _, s := range []string{"0-1-42", "3-7-18446744073709551"} {
		p, err := position.ParseMariaDBGTID(s)
		if err != nil {
			t.Fatal(err)
		}
		num, resume, kind := control.StartValues(p)
		item := map[string]types.AttributeValue{control.AttrStartPos: num, control.AttrStartResume: resume, control.AttrStartKind: kind, "state": control.S("planned")}
		got, ok, err := control.BackfillStart(item)
		if err != nil || !ok {
			t.Fatalf("%s: ok %v, err %v", s, ok, err)
		}
		if want := p.At(position.EndOfTransaction); got != want {
			t.Errorf("%s read back as %+v, want %+v", s, got, want)
		}
	}
	if _, ok, err := control.BackfillStart(map[string]types.AttributeValue{"state": control.S("planning")}); ok || err != nil {
		t.Errorf("a job without a start position: ok %v, err %v", ok, err)
	}
	bad := map[string]types.AttributeValue{control.AttrStartResume: control.S("not-a-gtid"), control.AttrStartKind: control.N(int64(position.GTID))}
	if _, _, err := control.BackfillStart(bad); err == nil {
		t.Error("an unreadable start position read without an error")
	}
}
