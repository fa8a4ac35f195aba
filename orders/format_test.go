package orders_test

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderitem"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/legacy"
	"github.com/anycompany/strangler/orders"
)

// TestItemMatchesCodec pins the shared item format: an order stored by the
// legacy service, read from MySQL and mapped by the codec (what backfill
// and cdc write), is attribute for attribute the item orderitem.Item (what
// this service writes, see TestCreateIsAtomic) makes of the same order.
func TestItemMatchesCodec(t *testing.T) {
	ctx := t.Context()
	dsn := stacktest.MySQLDatabase(t)
	db, err := legacy.OpenDB(legacy.MySQLConfig{DSN: config.Secret(dsn), MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The backfill reads raw text: a connection without parseTime.
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	mc.ParseTime = false
	raw, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := legacy.NewSchemaMigrator(db).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	store := legacy.NewStore(db, nil)
	m, err := codec.Resolve(ctx, db, codec.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	rules := order.DefaultRules()
	for _, tc := range []struct {
		name    string
		ch      order.Channel
		req     order.CreateRequest
		idemKey string
	}{
		{"retail with everything", order.Retail, order.CreateRequest{
			CustomerID: "fmt-1", Currency: "USD",
			Items: []order.RequestItem{
				{SKU: "CLN-1001", Name: "All-purpose cleaner 1 L", Quantity: 2, UnitPrice: "4.90"},
				{SKU: "RTL-2002", Name: "Lavender hand soap 🌿 \"quoted\"", Quantity: 20, UnitPrice: "1234567.05"},
			},
			ShippingAddress: &order.Address{Name: "Ana Díaz", Line1: "12 Rue de la Paix", Line2: "3e étage", City: "Paris", Region: "IDF", PostalCode: "75002", Country: "FR"},
			Notes:           "leave at the door ✨",
		}, "fmt-key-1"},
		{"wholesale without the optional columns", order.Wholesale, order.CreateRequest{
			CustomerID: "fmt-2", Currency: "EUR",
			Items: []order.RequestItem{{SKU: "WHL-9000", Name: "Floor cleaner 20 L drum", Quantity: 10, UnitPrice: "41.50"}},
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, fe := rules.Validate(tc.ch, tc.req)
			if fe != nil {
				t.Fatal(fe)
			}
			o, _, err := store.Create(ctx, d, tc.idemKey)
			if err != nil {
				t.Fatal(err)
			}
			want := codecItem(t, raw, m, o.ID)
			got, err := orderitem.Item(orderitem.Stored{Order: o, IdempotencyKey: tc.idemKey})
			if err != nil {
				t.Fatal(err)
			}
			if diff := codec.Diff(want, got); len(diff) != 0 {
				t.Errorf("orderitem.Item differs from the codec's item of the same row: %+v", diff)
			}
			back, err := orderitem.FromItem(want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(orderitem.Stored{Order: o, IdempotencyKey: tc.idemKey}, back); diff != "" {
				t.Errorf("the codec's item decodes to another order (-want +got):\n%s", diff)
			}
		})
	}
}

// codecItem reads row id as the backfill does and maps it with m.
func codecItem(t *testing.T, db *sql.DB, m *codec.Mapping, id string) map[string]types.AttributeValue {
	t.Helper()
	raw := make([]sql.RawBytes, len(m.Columns))
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		t.Fatalf("legacy id %q: %v", id, err)
	}
	// No arguments: the text protocol, as the backfill reads (a prepared
	// statement would answer in the binary protocol).
	rows, err := db.QueryContext(t.Context(), "SELECT "+m.QuotedColumns()+" FROM "+m.QuotedTable()+" WHERE `"+m.Key().Name+"` = "+id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("row %s not found: %v", id, rows.Err())
	}
	if err := rows.Scan(dest...); err != nil {
		t.Fatal(err)
	}
	vals := make([][]byte, len(raw))
	for i, r := range raw {
		if r != nil {
			vals[i] = append([]byte{}, r...)
		}
	}
	row, err := m.RowFromText(vals)
	if err != nil {
		t.Fatal(err)
	}
	item, err := m.Item(row)
	if err != nil {
		t.Fatal(err)
	}
	return item
}

// TestMissingTables: init and serve name the command that creates a
// missing table; init creates nothing while the orders table is missing.
func TestMissingTables(t *testing.T) {
	ctx := context.Background()
	ddb := stacktest.DynamoDB(t)
	cfg := orders.DefaultConfig()
	cfg.Table = stacktest.TableName(t, ddb, "orders")
	cfg.ServiceTable = stacktest.TableName(t, ddb, "svc")

	for name, err := range map[string]error{
		"check": orders.CheckTables(ctx, ddb, cfg),
		"init":  orders.Init(ctx, ddb, cfg, quietLogger()),
	} {
		if !errors.Is(err, orders.ErrTableMissing) || !strings.Contains(err.Error(), "run `strangler migrate init` first") {
			t.Errorf("%s without the orders table: %v", name, err)
		}
	}
	if _, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(cfg.ServiceTable)}); err == nil {
		t.Errorf("init created the service table although the orders table is missing")
	}

	// An orders table without the listing index is refused by name.
	if _, err := ddbtable.Ensure(ctx, ddb, ordersTableSpec(cfg.Table, "other_index")); err != nil {
		t.Fatal(err)
	}
	if err := orders.Init(ctx, ddb, cfg, quietLogger()); !errors.Is(err, orders.ErrTableMissing) || !strings.Contains(err.Error(), "no index by_customer") {
		t.Errorf("init on an orders table without by_customer: %v", err)
	}
	cfg.Index = "other_index"
	if err := orders.CheckTables(ctx, ddb, cfg); !errors.Is(err, orders.ErrTableMissing) || !strings.Contains(err.Error(), "run `strangler orders init` first") {
		t.Errorf("check without the service table: %v", err)
	}
	if err := orders.Init(ctx, ddb, cfg, quietLogger()); err != nil {
		t.Fatal(err)
	}
	if err := orders.Init(ctx, ddb, cfg, quietLogger()); err != nil {
		t.Errorf("init is not idempotent: %v", err)
	}
	if err := orders.CheckTables(ctx, ddb, cfg); err != nil {
		t.Errorf("check after init: %v", err)
	}
}
