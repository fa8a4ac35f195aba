package cdc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/position"
)

// detailTails are the Details of TestDetailEncoding's changes after their
// source_position, byte for byte as the cdc published them before issue 13
// (its hand encoder, held to encoding/json's output): consumers see the same
// events. By row, then insert, update of {zeta, doc, f}, update of {Upper}.
var detailTails = []string{
	",\"order\":{\"Upper\":\"ß\\u2028\\u2029\\u0000\\u001f\\\"\\\\\\n\\r\\t\\b\\f\x7f\",\"amount\":\"12.50\",\"at\":\"2026-03-04T04:06:07.123456Z\",\"doc\":{\"\":\"empty\",\"a\":-3e5,\"b\":[1.50,\"x\\u003cy\\u003e\\u0026z\",true,null,{\"a\":false,\"z\":\"1\"}]},\"f\":1.5e-9,\"flag\":3,\"id\":1,\"n\":-7,\"raw\":\"AAEC+g==\",\"zeta\":\"plain\"}}",
	",\"order\":{\"Upper\":\"ß\\u2028\\u2029\\u0000\\u001f\\\"\\\\\\n\\r\\t\\b\\f\x7f\",\"amount\":\"12.50\",\"at\":\"2026-03-04T04:06:07.123456Z\",\"doc\":{\"\":\"empty\",\"a\":-3e5,\"b\":[1.50,\"x\\u003cy\\u003e\\u0026z\",true,null,{\"a\":false,\"z\":\"1\"}]},\"f\":1.5e-9,\"flag\":3,\"id\":1,\"n\":-7,\"raw\":\"AAEC+g==\",\"zeta\":\"plain\"},\"changed\":[\"zeta\",\"doc\",\"f\"],\"previous\":{\"doc\":null,\"f\":1e+21,\"zeta\":\"bad utf8 \\ufffd\\ufffd end\"}}",
	",\"order\":{\"Upper\":\"ß\\u2028\\u2029\\u0000\\u001f\\\"\\\\\\n\\r\\t\\b\\f\x7f\",\"amount\":\"12.50\",\"at\":\"2026-03-04T04:06:07.123456Z\",\"doc\":{\"\":\"empty\",\"a\":-3e5,\"b\":[1.50,\"x\\u003cy\\u003e\\u0026z\",true,null,{\"a\":false,\"z\":\"1\"}]},\"f\":1.5e-9,\"flag\":3,\"id\":1,\"n\":-7,\"raw\":\"AAEC+g==\",\"zeta\":\"plain\"},\"changed\":[\"Upper\"],\"previous\":{\"Upper\":\"\"}}",
	",\"order\":{\"Upper\":\"\",\"amount\":null,\"at\":null,\"doc\":null,\"f\":1e+21,\"flag\":null,\"id\":18446744073709551615,\"n\":null,\"raw\":null,\"zeta\":\"bad utf8 \\ufffd\\ufffd end\"}}",
	",\"order\":{\"Upper\":\"\",\"amount\":null,\"at\":null,\"doc\":null,\"f\":1e+21,\"flag\":null,\"id\":18446744073709551615,\"n\":null,\"raw\":null,\"zeta\":\"bad utf8 \\ufffd\\ufffd end\"},\"changed\":[\"zeta\",\"doc\",\"f\"],\"previous\":{\"doc\":[],\"f\":0,\"zeta\":\"日本語 emoji 🎉\"}}",
	",\"order\":{\"Upper\":\"\",\"amount\":null,\"at\":null,\"doc\":null,\"f\":1e+21,\"flag\":null,\"id\":18446744073709551615,\"n\":null,\"raw\":null,\"zeta\":\"bad utf8 \\ufffd\\ufffd end\"},\"changed\":[\"Upper\"],\"previous\":{\"Upper\":\"\\u003cscript\\u003e\"}}",
	",\"order\":{\"Upper\":\"\\u003cscript\\u003e\",\"amount\":\"0.00\",\"at\":\"2026-03-04T04:06:07.123456Z\",\"doc\":[],\"f\":0,\"flag\":0,\"id\":2,\"n\":0,\"raw\":\"\",\"zeta\":\"日本語 emoji 🎉\"}}",
	",\"order\":{\"Upper\":\"\\u003cscript\\u003e\",\"amount\":\"0.00\",\"at\":\"2026-03-04T04:06:07.123456Z\",\"doc\":[],\"f\":0,\"flag\":0,\"id\":2,\"n\":0,\"raw\":\"\",\"zeta\":\"日本語 emoji 🎉\"},\"changed\":[\"zeta\",\"doc\",\"f\"],\"previous\":{\"doc\":{\"\":\"empty\",\"a\":-3e5,\"b\":[1.50,\"x\\u003cy\\u003e\\u0026z\",true,null,{\"a\":false,\"z\":\"1\"}]},\"f\":1.5e-9,\"zeta\":\"plain\"}}",
	",\"order\":{\"Upper\":\"\\u003cscript\\u003e\",\"amount\":\"0.00\",\"at\":\"2026-03-04T04:06:07.123456Z\",\"doc\":[],\"f\":0,\"flag\":0,\"id\":2,\"n\":0,\"raw\":\"\",\"zeta\":\"日本語 emoji 🎉\"},\"changed\":[\"Upper\"],\"previous\":{\"Upper\":\"ß\\u2028\\u2029\\u0000\\u001f\\\"\\\\\\n\\r\\t\\b\\f\x7f\"}}",
}

// TestDetailEncoding: every canonical value type, escapes, nested JSON
// with its object keys sorted, decimals exact, times in the layout, NULLs,
// and updates with changed/previous encode to the Details consumers
// already read, and each is valid under the schema.
func TestDetailEncoding(t *testing.T) {
	m := &codec.Mapping{Table: "orders", Columns: []codec.Column{
		{Name: "id", Type: codec.Uint}, {Name: "zeta", Type: codec.String}, {Name: "amount", Type: codec.Decimal},
		{Name: "at", Type: codec.Datetime}, {Name: "doc", Type: codec.JSON}, {Name: "n", Type: codec.Int},
		{Name: "f", Type: codec.Double}, {Name: "raw", Type: codec.Blob}, {Name: "Upper", Type: codec.String},
		{Name: "flag", Type: codec.Bit},
	}}
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.FixedZone("x", 3600))
	doc := map[string]any{"b": []any{json.Number("1.50"), "x<y>&z", true, codec.JSONNull{}, map[string]any{"z": "1", "a": false}}, "a": json.Number("-3e5"), "": "empty"}
	rows := []codec.Row{
		{uint64(1), "plain", "12.50", at, doc, int64(-7), 1.5e-9, []byte{0, 1, 2, 250}, "ß\u2028\u2029\x00\x1f\"\\\n\r\t\b\f\x7f", uint64(3)},
		{uint64(18446744073709551615), "bad utf8 \xff\xfe end", nil, nil, codec.JSONNull{}, nil, 1e21, nil, "", nil},
		{uint64(2), "日本語 emoji 🎉", "0.00", at, []any{}, int64(0), 0.0, []byte{}, "<script>", uint64(0)},
	}
	pos := position.Position{Kind: position.GTID, Domain: "0", Server: "1", Seq: 42}.At(3)
	a := NewApplier(nil, nil, nil, []Rule{{DetailType: "Created", On: Insert}, {DetailType: "Updated", On: Update}}, time.Hour, nil, nil)
	n := 0
	for i, img := range rows {
		for _, changed := range [][]int{nil, {1, 4, 6}, {8}} {
			c := Change{Kind: Insert, Key: "1", Pos: pos, After: img, Mapping: m}
			if changed != nil {
				c.Kind, c.Before, c.changed = Update, rows[(i+1)%len(rows)], make([]bool, len(m.Columns))
				for _, j := range changed {
					c.changed[j] = true
				}
			}
			e, ok, err := a.event(c, "2026-01-01T00:00:00.000000Z")
			if err != nil || !ok {
				t.Fatalf("row %d changed %v: ok %v, %v", i, changed, ok, err)
			}
			id := events.ID(pos.Number(), "orders", "1")
			want := `{"event_id":"` + id + `","occurred_at":"2026-01-01T00:00:00.000000Z","source_position":"` + pos.Number() + `"` + detailTails[n]
			n++
			if diff := cmp.Diff(want, string(e.Detail)); diff != "" {
				t.Errorf("row %d changed %v (-before issue 13 +now):\n%s", i, changed, diff)
			}
			if err := events.ValidateDetail(e.Detail); err != nil {
				t.Errorf("row %d: schema: %v", i, err)
			}
			if e.EventID != id || e.Key != "1" || e.DetailType != map[bool]string{true: "Created", false: "Updated"}[changed == nil] {
				t.Errorf("row %d changed %v: entry %+v", i, changed, e)
			}
		}
	}
}
