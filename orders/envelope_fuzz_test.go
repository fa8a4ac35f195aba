package orders

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/anycompany/strangler/internal/orderitem"
)

// FuzzProcessorEnvelope: whatever is posted to the order processor's sink,
// decoding the envelope and its order image never panics; an accepted
// envelope has a detail-type, a source and an object detail, and is what
// encoding/json reads from the body.
func FuzzProcessorEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"id":"1","detail-type":"OrderCreated","source":"com.anycompany.orders.service","detail":{"event_id":"e1","order":{"id":"ord_1","customer_id":"c","status":"pending","version":1}}}`,
		`{"detail-type":"OrderCreated","source":"s","detail":{"order":null}}`, `{"detail-type":"x","source":"y","detail":[]}`,
		`{}`, `null`, `{"DETAIL-TYPE":"OrderCreated","SOURCE":"s","Detail":{"order":{"id":1}}}`,
	} {
		f.Add([]byte(s))
	}
	p := &Processor{maxBody: 1 << 20}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, prob := p.decode(httptest.NewRecorder(), httptest.NewRequest("POST", "/events", bytes.NewReader(body)))
		if prob != nil {
			return
		}
		if env.DetailType == "" || env.Source == "" || len(env.Detail) == 0 || env.Detail[0] != '{' {
			t.Fatalf("%q: accepted %+v", body, env)
		}
		var ref Delivery
		if err := json.Unmarshal(body, &ref); err != nil || ref.DetailType != env.DetailType || ref.Source != env.Source || !bytes.Equal(ref.Detail, env.Detail) {
			t.Fatalf("%q: decoded %+v, encoding/json reads %+v (%v)", body, env, ref, err)
		}
		var d orderDetail
		if json.Unmarshal(env.Detail, &d) == nil && len(d.Order) > 0 {
			_, _ = orderitem.FromImage(d.Order)
		}
	})
}
