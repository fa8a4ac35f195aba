package eventbus_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anycompany/strangler/devstack/eventbus"
)

// BenchmarkPutEventsHandler measures the bus's own cost of a 10-entry
// PutEvents call (decode, validate, archive, match), without HTTP or SDK.
func BenchmarkPutEventsHandler(b *testing.B) {
	cfg := eventbus.DefaultConfig()
	cfg.ArchivePath = filepath.Join(b.TempDir(), "archive.jsonl")
	cfg.DeadLetterPath = filepath.Join(b.TempDir(), "dead.jsonl")
	cfg.Rules = []eventbus.RuleConfig{{Name: "none", Pattern: `{"source":["com.example.nothing"]}`,
		Targets: []eventbus.TargetConfig{{URL: "http://127.0.0.1:1/"}}}}
	srv, err := eventbus.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	detail := `{\"event_id\":\"%d\",\"occurred_at\":\"2026-03-01T12:00:00.000001Z\",\"source_position\":%d,\"order\":{\"id\":\"42\",\"customer_id\":\"c-1\",\"channel\":\"retail\",\"status\":\"accepted\",\"currency\":\"USD\",\"items\":[{\"sku\":\"CLN-1001\",\"name\":\"Glass cleaner\",\"quantity\":2,\"unit_price\":\"4.50\"}],\"total\":\"9.00\",\"shipping_address\":{\"line1\":\"1 Main St\",\"city\":\"Springfield\",\"postal_code\":\"12345\",\"country\":\"US\"},\"notes\":null,\"created_at\":\"2026-03-01T12:00:00.000001Z\",\"updated_at\":\"2026-03-01T12:00:00.000001Z\",\"version\":1}}`
	var entries []string
	for i := range 10 {
		entries = append(entries, fmt.Sprintf(`{"Source":"com.anycompany.orders","DetailType":"OrderCreated","Detail":"`+detail+`"}`, i, i))
	}
	body := `{"Entries":[` + strings.Join(entries, ",") + `]}`
	h := srv.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "AWSEvents.PutEvents")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
