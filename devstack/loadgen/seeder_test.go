package loadgen

import (
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/stacktest"
)

// testDB returns a fresh database on the dev stack's MariaDB
// (STRANGLER_TEST_MYSQL_DSN), dropped when the test ends, and its DSN. With
// withTable it also creates the legacy orders table from its migration. An
// unreachable server fails the test (stacktest says to run `make
// stack-up`): these tests never skip.
func testDB(t *testing.T, withTable bool) (*sql.DB, string) {
	t.Helper()
	dsn := stacktest.MySQLDatabase(t)
	db, err := OpenDB(dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if !withTable {
		return db, dsn
	}
	ddl, err := os.ReadFile("../../legacy/migrations/0001_orders.sql")
	if err != nil {
		t.Fatalf("reading the legacy migration: %v", err)
	}
	for _, stmt := range strings.Split(string(ddl), ";") {
		if strings.TrimSpace(stripComments(stmt)) == "" {
			continue
		}
		if _, err := db.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("applying the legacy migration: %v", err)
		}
	}
	return db, dsn
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func TestSeedOrdersIntoMariaDB(t *testing.T) {
	db, _ := testDB(t, true)
	cfg := DefaultConfig()
	cfg.SeedBatch = 1000
	cfg.SeedWorkers = 3
	before := time.Now().UTC()
	const rows = 5000

	res, err := NewSeeder(db, cfg, slog.New(slog.DiscardHandler)).Seed(t.Context(), rows)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if res.Rows != rows {
		t.Fatalf("seeded %d rows, want %d", res.Rows, rows)
	}
	t.Logf("seeded %d rows in %s (%.0f rows/s)", res.Rows, res.Elapsed, res.RowsPerSecond())

	var count, validJSON int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*), SUM(JSON_VALID(items) AND JSON_TYPE(items) = 'ARRAY'
		AND (shipping_address IS NULL OR JSON_TYPE(shipping_address) = 'OBJECT')) FROM orders`).Scan(&count, &validJSON); err != nil {
		t.Fatal(err)
	}
	if count != rows || validJSON != rows {
		t.Fatalf("count %d, valid JSON %d, want %d", count, validJSON, rows)
	}

	q, err := db.QueryContext(t.Context(), `SELECT id, customer_id, channel, status, currency, items, total,
		shipping_address, notes, idempotency_key, created_at, updated_at, version FROM orders ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	statuses := map[string]int{}
	var withAddress, withNotes, withKey, emoji int
	var prevCreated time.Time
	var outOfOrder int
	for q.Next() {
		var (
			id                                         uint64
			customer, channel, status, currency, total string
			items                                      []byte
			address, notes, key                        sql.NullString
			created, updated                           time.Time
			version                                    int
		)
		if err := q.Scan(&id, &customer, &channel, &status, &currency, &items, &total, &address, &notes, &key,
			&created, &updated, &version); err != nil {
			t.Fatal(err)
		}
		statuses[status]++
		var its []order.Item
		if err := json.Unmarshal(items, &its); err != nil {
			t.Fatalf("order %d: items %s: %v", id, items, err)
		}
		sum, err := order.Total(its)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := order.ParseMoney(total); err != nil || got != sum {
			t.Errorf("order %d: total %s, items sum to %s", id, total, sum)
		}
		// The items JSON is exactly the API's item form.
		canonical, _ := json.Marshal(its)
		if string(canonical) != string(items) {
			t.Errorf("order %d: items %s are not in the API form %s", id, items, canonical)
		}
		ch, err := order.ParseChannel(channel)
		if err != nil {
			t.Fatalf("order %d: %v", id, err)
		}
		if ch == order.Retail && !address.Valid {
			t.Errorf("order %d: retail without shipping address", id)
		}
		req := order.CreateRequest{CustomerID: customer, Currency: currency}
		for _, it := range its {
			req.Items = append(req.Items, order.RequestItem{SKU: it.SKU, Name: it.Name, Quantity: it.Quantity, UnitPrice: it.UnitPrice.String()})
		}
		if address.Valid {
			withAddress++
			var a order.Address
			if err := json.Unmarshal([]byte(address.String), &a); err != nil {
				t.Fatalf("order %d: address %s: %v", id, address.String, err)
			}
			req.ShippingAddress = &a
		}
		if notes.Valid {
			withNotes++
			req.Notes = notes.String
			if strings.ContainsFunc(notes.String, func(r rune) bool { return r > 0xFFFF }) {
				emoji++
			}
		}
		if _, fe := order.DefaultRules().Validate(ch, req); fe != nil {
			t.Errorf("order %d would not pass the API's rules: %v", id, fe)
		}
		if key.Valid {
			withKey++
		}
		if updated.Before(created) || created.After(now) || created.Before(before.Add(-cfg.SeedSpan)) {
			t.Errorf("order %d: created %s, updated %s, now %s", id, created, updated, now)
		}
		if created.Before(prevCreated) {
			outOfOrder++
		}
		prevCreated = created
		wantVersions := map[string][]int{"accepted": {1}, "processing": {2}, "shipped": {3}, "cancelled": {2, 3}}[status]
		if !slices.Contains(wantVersions, version) {
			t.Errorf("order %d: status %s with version %d", id, status, version)
		}
		if status == "accepted" && !updated.Equal(created) {
			t.Errorf("order %d: accepted but updated after creation", id)
		}
	}
	if err := q.Err(); err != nil {
		t.Fatal(err)
	}
	if statuses["shipped"] < rows*7/10 || statuses["cancelled"] == 0 || statuses["processing"] == 0 || statuses["accepted"] == 0 {
		t.Errorf("status mix %v: want mostly shipped, some of each", statuses)
	}
	if withAddress == 0 || withAddress == rows || withNotes == 0 || emoji == 0 || withKey == 0 {
		t.Errorf("addresses %d, notes %d (emoji %d), keys %d of %d", withAddress, withNotes, emoji, withKey, rows)
	}
	// Batches commit in parallel, so ids follow created_at only roughly.
	if outOfOrder > rows/10 {
		t.Errorf("%d of %d rows have a created_at older than the row before", outOfOrder, rows)
	}
}

func TestSeedFailsClearlyWithoutTheTable(t *testing.T) {
	db, _ := testDB(t, false)
	_, err := NewSeeder(db, DefaultConfig(), slog.New(slog.DiscardHandler)).Seed(t.Context(), 10)
	if !errors.Is(err, ErrNoOrdersTable) {
		t.Fatalf("want ErrNoOrdersTable, got %v", err)
	}
	if !strings.Contains(err.Error(), "strangler legacy serve") {
		t.Errorf("the error should say how to create the table: %v", err)
	}
}

func TestSeedOrdersEndToEnd(t *testing.T) {
	_, dsn := testDB(t, true)
	cfg := DefaultConfig()
	cfg.MySQLDSN = config.Secret(dsn)
	cfg.SeedBatch = 300 // 1000 rows: three full batches and one of 100
	res, err := SeedOrders(t.Context(), cfg, 1000, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(int64(1000), res.Rows); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
}

func TestInsertStatement(t *testing.T) {
	got := insertStatement(2)
	want := "INSERT INTO orders (" + seedColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?),(?,?,?,?,?,?,?,?,?,?,?,?)"
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("statement (-want +got):\n%s", d)
	}
	if n := strings.Count(insertStatement(5000), "?"); n != 5000*seedColumnCount || n > 65535 {
		t.Errorf("the largest batch has %d placeholders", n)
	}
}
