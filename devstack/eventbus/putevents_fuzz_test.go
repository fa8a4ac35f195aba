package eventbus

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzPutEvents: whatever a client sends as a PutEvents body, decoding and
// the call's checks never panic; an entry's size is what AWS counts (14 for
// a Time, plus the bytes of Source, DetailType, Detail and Resources, each
// measured on the decoded value), and a decoded request marshalled and
// decoded again has the same sizes and the same verdict.
func FuzzPutEvents(f *testing.F) {
	for _, s := range []string{
		`{"Entries":[{"Source":"strangler.orders","DetailType":"OrderCreated","Detail":"{\"a\":1}","EventBusName":"orders","Time":1700000000.5}]}`,
		`{"Entries":[{"source":"s","detailtype":"d","detail":"{}","Resources":["r1","é"],"Time":"2024-01-02T03:04:05Z"}]}`,
		`{"Entries":[]}`, `{"Entries":null}`, `{"Entries":[{"Time":"1e400"}]}`, `{"Entries":[{"Detail":"[1]"},{},{},{},{},{},{},{},{},{},{}]}`,
		`{"Entries":[{"Detail":"\ud800"}]}`, `[]`, `{"Entries":[{"Time":null,"Source":null}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req PutEventsRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		verdict := checkCall(req)
		for _, e := range req.Entries {
			want := 0
			if e.Time != nil {
				want += 14
			}
			for _, p := range []*string{e.Source, e.DetailType, e.Detail} {
				if p != nil {
					want += len(*p)
				}
			}
			for _, r := range e.Resources {
				want += len(r)
			}
			if got := EntrySize(e); got != want {
				t.Fatalf("entry %+v: EntrySize %d, want %d", e, got, want)
			}
			if e.Detail != nil && !utf8.ValidString(*e.Detail) {
				t.Fatalf("decoded Detail is not UTF-8: %q", *e.Detail)
			}
			_, _ = checkEntry(e, map[string]bool{"default": true, "orders": true})
		}
		again, err := json.Marshal(req)
		if err != nil {
			return // a Time past what MarshalJSON writes
		}
		var req2 PutEventsRequest
		if err := json.Unmarshal(again, &req2); err != nil {
			t.Fatalf("%s: re-encoded as %s, which does not decode: %v", body, again, err)
		}
		if len(req2.Entries) != len(req.Entries) || checkCall(req2) != verdict {
			t.Fatalf("%s: re-encoded as %s: %d entries, verdict %q; want %d, %q", body, again, len(req2.Entries), checkCall(req2), len(req.Entries), verdict)
		}
		for i := range req.Entries {
			if EntrySize(req.Entries[i]) != EntrySize(req2.Entries[i]) {
				t.Fatalf("%s: entry %d size %d, re-encoded %d", body, i, EntrySize(req.Entries[i]), EntrySize(req2.Entries[i]))
			}
		}
	})
}
