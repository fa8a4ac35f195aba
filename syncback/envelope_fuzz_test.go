package syncback

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/anycompany/strangler/internal/events"
)

// FuzzEnvelope: whatever the bus (or anyone) posts, decoding and checking
// the envelope never panic; an accepted event has an event id of 1-64
// characters and an order image that passes validImage, and the envelope
// decoded is the one encoding/json reads from the same body.
func FuzzEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"id":"1","detail-type":"OrderCreated","source":"com.anycompany.orders.service","detail":{"event_id":"e1","order":{"id":"ord_1","customer_id":"c","status":"accepted","version":1}}}`,
		`{"detail-type":"OrderDeleted","source":"com.anycompany.orders.service","detail":{}}`,
		`{"source":"x"}`, `{}`, `[]`, `{"detail":"s","source":"com.anycompany.orders.service","detail-type":"A"}`,
		`{"DETAIL-TYPE":"OrderUpdated","Source":"com.anycompany.orders.service","detail":{"event_id":"e","order":{}}} trailing`,
	} {
		f.Add([]byte(s))
	}
	h := &Handler{source: events.ServiceSource}
	f.Fuzz(func(t *testing.T, body []byte) {
		var env envelope
		if p := decode(httptest.NewRecorder(), httptest.NewRequest("POST", "/events", bytes.NewReader(body)), 1<<20, &env); p != nil {
			return
		}
		var ref envelope
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&ref); err != nil ||
			ref.ID != env.ID || ref.DetailType != env.DetailType || ref.Source != env.Source || !bytes.Equal(ref.Detail, env.Detail) {
			t.Fatalf("%q: decoded %+v, encoding/json reads %+v (%v)", body, env, ref, err)
		}
		d, s, p := h.check(env)
		if p != nil {
			return
		}
		if d.EventID == "" || len(d.EventID) > 64 {
			t.Fatalf("%q: accepted event id %q", body, d.EventID)
		}
		if field, why := validImage(s); field != "" {
			t.Fatalf("%q: accepted an image whose %s %s", body, field, why)
		}
	})
}
