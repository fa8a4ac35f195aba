package codec

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/config"
)

// Reserved item attributes, written by the toolkit, never mapped from a column.
const (
	// AttrPK is the partition key: the row's primary key as a string.
	AttrPK = "pk"
	// AttrPos is the source position of the state the item holds (invariant 1).
	AttrPos = "src_pos"
	// AttrDeleted marks a tombstone (invariant 4).
	AttrDeleted = "deleted"
	// AttrExpires is a tombstone's TTL, in Unix seconds.
	AttrExpires = "expires_at"
)

var reserved = []string{AttrPK, AttrPos, AttrDeleted, AttrExpires}

// Config is the mapping as a user configures it (the mapping section of
// configs/migrator.yaml and configs/cdc.yaml).
type Config struct {
	// Table is the MySQL table. Optional: defaults to orders.
	Table string `mapstructure:"table"`
	// Key is its primary key column (one column). Optional: defaults to id.
	Key string `mapstructure:"key"`
	// Columns maps columns to attributes and, optionally, types. Optional:
	// empty maps every column of the table to the attribute of its name with
	// the type its schema implies.
	Columns []ColumnConfig `mapstructure:"columns"`
	// Exclude lists columns never copied. Optional.
	Exclude []string `mapstructure:"exclude"`
	// Ref is the external-id column (the expand step of the strangler
	// migration): a row the new service's sync-back wrote holds its order id
	// (ord_…) there, and that id, not the surrogate key, is the row's pk.
	// The column itself is never an attribute. It needs an integer key, so
	// a pk that is not an integer names a ref. Optional: defaults to
	// order_ref; set it empty for a table without the column.
	Ref string `mapstructure:"ref"`
}

// ColumnConfig maps one column.
type ColumnConfig struct {
	// Name is the column. Required.
	Name string `mapstructure:"name"`
	// Attribute is the DynamoDB attribute. Optional: defaults to Name.
	Attribute string `mapstructure:"attribute"`
	// Type overrides the type the schema implies (for example json for a
	// TEXT column holding JSON). Optional.
	Type Type `mapstructure:"type"`
}

// DefaultConfig is the reference legacy orders table.
func DefaultConfig() Config {
	return Config{Table: "orders", Key: "id", Ref: DefaultRef}
}

// DefaultRef is the reference legacy table's external-id column (legacy
// migration 0002).
const DefaultRef = "order_ref"

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,63}$`)

// Check records unusable fields in ck under prefix.
func (c Config) Check(ck *config.Checker, prefix string) {
	ck.Check(identifier.MatchString(c.Table), prefix+".table", c.Table, "a MySQL table name")
	ck.Check(identifier.MatchString(c.Key), prefix+".key", c.Key, "the primary key column's name")
	seen := map[string]bool{}
	for i, col := range c.Columns {
		key := fmt.Sprintf("%s.columns[%d]", prefix, i)
		ck.Check(identifier.MatchString(col.Name), key+".name", col.Name, "a column name")
		ck.Check(!seen[strings.ToLower(col.Name)], key+".name", col.Name, "each column once")
		seen[strings.ToLower(col.Name)] = true
		ck.Check(col.Type == "" || slices.Contains(Types, col.Type), key+".type", col.Type, fmt.Sprint(Types))
		ck.Check(!slices.Contains(reserved, col.Attribute), key+".attribute", col.Attribute, "not one of the reserved "+strings.Join(reserved, ", "))
	}
	for i, ex := range c.Exclude {
		ck.Check(!strings.EqualFold(ex, c.Key), fmt.Sprintf("%s.exclude[%d]", prefix, i), ex, "any column but the key")
		ck.Check(c.Ref == "" || !strings.EqualFold(ex, c.Ref), fmt.Sprintf("%s.exclude[%d]", prefix, i), ex, "any column but the key and the ref")
	}
	if c.Ref != "" {
		ck.Check(identifier.MatchString(c.Ref) && !strings.EqualFold(c.Ref, c.Key), prefix+".ref", c.Ref,
			"the external-id column's name (not the key), or empty for a table without one")
		for i, col := range c.Columns {
			ck.Check(!strings.EqualFold(col.Name, c.Ref), fmt.Sprintf("%s.columns[%d].name", prefix, i), col.Name, "any column but the ref (it is never an attribute of its own)")
		}
	}
}

// Mapping is a resolved mapping: every copied column with its type, the key
// first. It is immutable and safe for concurrent use.
type Mapping struct {
	Table string
	// Columns holds the key at index 0 and the ref (when configured) last.
	Columns []Column
	byAttr  map[string]int
	// ref is the index of the ref column in Columns, or -1.
	ref int
}

// Key is the key column.
func (m *Mapping) Key() Column { return m.Columns[0] }

// Ref returns the external-id column and its index in Columns; ok is false
// when the mapping has none.
func (m *Mapping) Ref() (c Column, i int, ok bool) {
	if m.ref <= 0 {
		return Column{}, -1, false
	}
	return m.Columns[m.ref], m.ref, true
}

// IsRef reports whether Columns[i] is the ref column: it is read with the
// row but is no attribute (and no event field) of its own.
func (m *Mapping) IsRef(i int) bool { return m.ref > 0 && i == m.ref }

// IsRefKey reports whether pk names a row by its ref rather than by its key:
// the mapping has a ref and pk is not an integer key.
func (m *Mapping) IsRefKey(pk string) bool {
	if m.ref <= 0 || pk == "" {
		return false
	}
	_, err := m.Columns[0].FromText([]byte(pk), false)
	return err != nil
}

// SchemaError says the table does not fit the mapping.
type SchemaError struct {
	Table  string
	Reason string
}

func (e *SchemaError) Error() string { return fmt.Sprintf("table %s: %s", e.Table, e.Reason) }

// ErrNoTable is a mapped table missing from the database.
var ErrNoTable = errors.New("table not found")

type schemaColumn struct {
	name, dataType, columnType, key string
	precision, scale                sql.NullInt64
}

// Resolve reads the table's schema from db (the current database) and
// returns the mapping of cfg.
func Resolve(ctx context.Context, db *sql.DB, cfg Config) (*Mapping, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COLUMN_KEY, NUMERIC_PRECISION, NUMERIC_SCALE
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, cfg.Table)
	if err != nil {
		return nil, fmt.Errorf("reading the schema of %s: %w", cfg.Table, err)
	}
	defer rows.Close()
	var cols []schemaColumn
	for rows.Next() {
		var c schemaColumn
		if err := rows.Scan(&c.name, &c.dataType, &c.columnType, &c.key, &c.precision, &c.scale); err != nil {
			return nil, fmt.Errorf("reading the schema of %s: %w", cfg.Table, err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the schema of %s: %w", cfg.Table, err)
	}
	if len(cols) == 0 {
		var dbName sql.NullString
		_ = db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbName)
		return nil, fmt.Errorf("%w: %s in database %q: check mapping.table and the DSN's database", ErrNoTable, cfg.Table, dbName.String)
	}
	jsonCols, err := jsonCheckedColumns(ctx, db, cfg.Table)
	if err != nil {
		return nil, err
	}
	return build(cfg, cols, jsonCols)
}

// jsonCheckedColumns finds MariaDB's JSON columns: LONGTEXT with a
// json_valid check constraint.
func jsonCheckedColumns(ctx context.Context, db *sql.DB, table string) (map[string]bool, error) {
	out := map[string]bool{}
	rows, err := db.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ?`, table)
	if err != nil {
		// MySQL 8 has no TABLE_NAME here but has a real JSON type.
		return out, nil
	}
	defer rows.Close()
	re := regexp.MustCompile("(?i)json_valid\\(`?([A-Za-z0-9_$]+)`?\\)")
	for rows.Next() {
		var clause string
		if err := rows.Scan(&clause); err != nil {
			return nil, fmt.Errorf("reading check constraints of %s: %w", table, err)
		}
		if m := re.FindStringSubmatch(clause); m != nil {
			out[strings.ToLower(m[1])] = true
		}
	}
	return out, rows.Err()
}

func build(cfg Config, schema []schemaColumn, jsonCols map[string]bool) (*Mapping, error) {
	byName := map[string]schemaColumn{}
	var pri []string
	for _, c := range schema {
		byName[strings.ToLower(c.name)] = c
		if c.key == "PRI" {
			pri = append(pri, c.name)
		}
	}
	if len(pri) != 1 || !strings.EqualFold(pri[0], cfg.Key) {
		return nil, &SchemaError{Table: cfg.Table, Reason: fmt.Sprintf("mapping.key is %q but the primary key is %v: strangler needs a one-column primary key named in mapping.key", cfg.Key, pri)}
	}
	wanted := cfg.Columns
	if len(wanted) == 0 {
		for _, c := range schema {
			wanted = append(wanted, ColumnConfig{Name: c.name})
		}
	}
	m := &Mapping{Table: cfg.Table, byAttr: map[string]int{}, ref: -1}
	add := func(cc ColumnConfig) error {
		sc, ok := byName[strings.ToLower(cc.Name)]
		if !ok {
			return &SchemaError{Table: cfg.Table, Reason: fmt.Sprintf("mapping names column %q, which the table does not have", cc.Name)}
		}
		col, err := columnOf(sc, jsonCols[strings.ToLower(sc.name)])
		switch {
		case cc.Type != "":
			// The configured type wins, also over a type the schema cannot map
			// (the error's advice): a GEOMETRY read as blob, say.
			col.Type = cc.Type
		case err != nil:
			return &SchemaError{Table: cfg.Table, Reason: err.Error() + ": exclude the column or give it a type in mapping.columns"}
		}
		col.Attribute = cc.Attribute
		if col.Attribute == "" {
			col.Attribute = col.Name
		}
		if i, dup := m.byAttr[col.Attribute]; dup {
			return &SchemaError{Table: cfg.Table, Reason: fmt.Sprintf("columns %s and %s both map to attribute %q: rename one in mapping.columns", m.Columns[i].Name, col.Name, col.Attribute)}
		}
		if slices.Contains(reserved, col.Attribute) && col.Attribute != AttrPK {
			return &SchemaError{Table: cfg.Table, Reason: fmt.Sprintf("column %s maps to reserved attribute %q: rename it in mapping.columns", col.Name, col.Attribute)}
		}
		m.byAttr[col.Attribute] = len(m.Columns)
		m.Columns = append(m.Columns, col)
		return nil
	}
	if err := add(ColumnConfig{Name: byName[strings.ToLower(cfg.Key)].name, Attribute: AttrPK}); err != nil {
		return nil, err
	}
	switch m.Columns[0].Type {
	case String, Int, Uint:
	default:
		return nil, &SchemaError{Table: cfg.Table, Reason: fmt.Sprintf("key column %s is %s; strangler supports integer and string keys", cfg.Key, m.Columns[0].Type)}
	}
	for _, cc := range wanted {
		if strings.EqualFold(cc.Name, cfg.Key) || (cfg.Ref != "" && strings.EqualFold(cc.Name, cfg.Ref)) ||
			slices.ContainsFunc(cfg.Exclude, func(e string) bool { return strings.EqualFold(e, cc.Name) }) {
			continue
		}
		if err := add(cc); err != nil {
			return nil, err
		}
	}
	if cfg.Ref != "" {
		if err := m.addRef(cfg, byName); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// addRef appends the ref column, which must exist, hold strings and sit
// beside an integer key.
func (m *Mapping) addRef(cfg Config, byName map[string]schemaColumn) error {
	sc, ok := byName[strings.ToLower(cfg.Ref)]
	if !ok {
		return &SchemaError{Table: cfg.Table, Reason: fmt.Sprintf("mapping.ref is %q but the table has no such column: add it (the reference table gets it from legacy migration 0002: run `strangler legacy serve` once) or set mapping.ref empty for a table without an external-id column", cfg.Ref)}
	}
	col, err := columnOf(sc, false)
	if err != nil || col.Type != String {
		return &SchemaError{Table: cfg.Table, Reason: fmt.Sprintf("mapping.ref column %s must be a CHAR or VARCHAR holding the new service's ids: change its type or set mapping.ref empty", sc.name)}
	}
	switch m.Columns[0].Type {
	case Int, Uint:
	default:
		return &SchemaError{Table: cfg.Table, Reason: fmt.Sprintf("mapping.ref needs an integer key (a pk that is not an integer names a ref), but key %s is %s: set mapping.ref empty", m.Columns[0].Name, m.Columns[0].Type)}
	}
	m.ref = len(m.Columns)
	m.Columns = append(m.Columns, col)
	return nil
}

var enumLabel = regexp.MustCompile(`'((?:[^']|'')*)'`)

func columnOf(sc schemaColumn, jsonChecked bool) (Column, error) {
	c := Column{Name: sc.name}
	unsigned := strings.Contains(strings.ToLower(sc.columnType), "unsigned")
	switch strings.ToLower(sc.dataType) {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		c.Type = Int
		if unsigned {
			c.Type = Uint
		}
	case "year":
		c.Type = Int
	case "decimal", "numeric":
		c.Type, c.Precision, c.Scale = Decimal, int(sc.precision.Int64), int(sc.scale.Int64)
	case "float":
		c.Type = Float
	case "double", "real":
		c.Type = Double
	case "datetime":
		c.Type = Datetime
	case "timestamp":
		c.Type = Timestamp
	case "date":
		c.Type = Date
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "set", "time":
		c.Type = String
		if jsonChecked {
			c.Type = JSON
		}
	case "json":
		c.Type = JSON
	case "enum":
		c.Type = Enum
		for _, m := range enumLabel.FindAllStringSubmatch(sc.columnType, -1) {
			c.Enum = append(c.Enum, strings.ReplaceAll(m[1], "''", "'"))
		}
	case "bit":
		c.Type = Bit
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		c.Type = Blob
	default:
		return c, fmt.Errorf("column %s has type %s, which strangler cannot map", sc.name, sc.dataType)
	}
	return c, nil
}

// QuotedColumns is the SELECT list of the mapped columns, key first. The
// names come from the table's own schema, so quoting them is safe.
//
// A FLOAT column is selected as CAST(… AS DOUBLE): MariaDB's text protocol
// sends FLOAT with 6 significant digits (16777216 as "16777200",
// 3.4028235e38 as "3.40282e38"), which loses the value; the cast prints the
// stored float32 exactly, so the backfill and the binlog agree.
func (m *Mapping) QuotedColumns() string {
	q := make([]string, len(m.Columns))
	for i, c := range m.Columns {
		q[i] = "`" + c.Name + "`"
		if c.Type == Float {
			q[i] = "CAST(" + q[i] + " AS DOUBLE) AS " + q[i]
		}
	}
	return strings.Join(q, ", ")
}

// QuotedTable is the table name quoted for SQL.
func (m *Mapping) QuotedTable() string { return "`" + m.Table + "`" }

// Row is one row's canonical values, in Mapping.Columns order; nil is NULL.
type Row []any

// KeyString is the row's pk: its ref when it has one, else its key.
func (m *Mapping) KeyString(r Row) string {
	if m.ref > 0 && r[m.ref] != nil {
		return fmt.Sprint(r[m.ref])
	}
	return fmt.Sprint(r[0])
}

// CheckKey refuses a row whose pk would be ambiguous or empty: a NULL key,
// an empty key, or a ref that is empty or reads as an integer key.
func (m *Mapping) CheckKey(r Row) error {
	if r[0] == nil {
		return valueErr(m.Columns[0], "the key is NULL")
	}
	if r[0] == "" {
		return valueErr(m.Columns[0], "the key is empty, which DynamoDB refuses as a pk")
	}
	if m.ref > 0 && r[m.ref] != nil {
		ref, _ := r[m.ref].(string)
		if !m.IsRefKey(ref) {
			return valueErr(m.Columns[m.ref], "ref %q is empty or an integer, so it cannot stand for the row's pk: store NULL or the new service's id", ref)
		}
	}
	return nil
}

// RowFromText decodes a text-protocol row (values in Columns order; a nil
// value is NULL, an empty one is not). The row keeps no reference to raw, so
// raw may be sql.RawBytes reused by the next Scan.
func (m *Mapping) RowFromText(raw [][]byte) (Row, error) {
	if len(raw) != len(m.Columns) {
		return nil, fmt.Errorf("row of %d values for %d mapped columns of %s: select m.QuotedColumns()", len(raw), len(m.Columns), m.Table)
	}
	r := make(Row, len(m.Columns))
	for i, c := range m.Columns {
		v, err := c.FromText(raw[i], raw[i] == nil)
		if err != nil {
			return nil, err
		}
		r[i] = v
	}
	if err := m.CheckKey(r); err != nil {
		return nil, err
	}
	return r, nil
}

// Item encodes r as an item without the toolkit's attributes (src_pos…).
func (m *Mapping) Item(r Row) (map[string]types.AttributeValue, error) {
	item := make(map[string]types.AttributeValue, len(m.Columns)+1)
	item[AttrPK] = &types.AttributeValueMemberS{Value: m.KeyString(r)}
	for i, c := range m.Columns[1:] {
		v := r[i+1]
		if v == nil || m.IsRef(i+1) {
			continue
		}
		av, err := c.Attr(v)
		if err != nil {
			return nil, err
		}
		item[c.Attribute] = av
	}
	return item, nil
}

// Image is r as an event's order carries it (events.Detail.Order), for
// encoding/json: keyed by column name, the ref standing for the key when
// the row has one (one id per order), each value as EventValue gives it.
// The ref column is never a field of its own.
func (m *Mapping) Image(r Row) map[string]any {
	img := make(map[string]any, len(m.Columns))
	for i, c := range m.Columns {
		if !m.IsRef(i) {
			img[c.Name] = EventValue(r[i])
		}
	}
	if m.ref > 0 && r[m.ref] != nil {
		img[m.Columns[0].Name] = r[m.ref]
	}
	return img
}

// EventValue is a canonical value as an event carries it, for
// encoding/json: a DATETIME or TIMESTAMP in TimeLayout, SQL NULL and a JSON
// null as nil, and the rest as it is: integers and floats as numbers,
// decimals as strings with their exact digits, JSON as JSON (its numbers
// exact, in canonical text (jsonnumber.go: 1.50 as 1.5), objects with their keys sorted, JSONNull as null), BLOBs as base64.
func EventValue(v any) any {
	switch t := v.(type) {
	case time.Time:
		return t.UTC().Format(TimeLayout)
	case JSONNull:
		return nil
	}
	return v
}

// RowFromItem decodes an item back to a row. Unknown attributes are
// ignored. The pk of a ref (IsRefKey) fills the ref and leaves the key nil:
// the row's surrogate key is MySQL's own.
func (m *Mapping) RowFromItem(item map[string]types.AttributeValue) (Row, error) {
	r := make(Row, len(m.Columns))
	pk, ok := item[AttrPK].(*types.AttributeValueMemberS)
	if !ok {
		return nil, valueErr(m.Columns[0], "item has no string pk")
	}
	if m.IsRefKey(pk.Value) {
		r[m.ref] = pk.Value
	} else {
		k, err := m.Columns[0].FromText([]byte(pk.Value), false)
		if err != nil {
			return nil, err
		}
		r[0] = k
	}
	for i, c := range m.Columns[1:] {
		if m.IsRef(i + 1) {
			continue
		}
		av, ok := item[c.Attribute]
		if !ok {
			continue
		}
		v, err := c.FromAttr(av)
		if err != nil {
			return nil, err
		}
		r[i+1] = v
	}
	return r, nil
}

// FieldDiff is one attribute that differs between the item a row maps to
// and the item found.
type FieldDiff struct {
	Attribute string `json:"attribute"`
	Want      string `json:"want"`
	Got       string `json:"got"`
}

// Diff compares the item want (from MySQL) with got (from DynamoDB),
// ignoring the toolkit's own attributes but pk. Numbers compare by value
// (DynamoDB drops trailing zeros); everything else exactly.
func Diff(want, got map[string]types.AttributeValue) []FieldDiff {
	names := map[string]bool{}
	for k := range want {
		names[k] = true
	}
	for k := range got {
		names[k] = true
	}
	var out []FieldDiff
	for k := range names {
		if k == AttrPos || k == AttrDeleted || k == AttrExpires {
			continue
		}
		w, g := want[k], got[k]
		if !equalAttr(w, g) {
			out = append(out, FieldDiff{Attribute: k, Want: Show(w), Got: Show(g)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Attribute < out[j].Attribute })
	return out
}

func equalAttr(a, b types.AttributeValue) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case *types.AttributeValueMemberS:
		y, ok := b.(*types.AttributeValueMemberS)
		return ok && x.Value == y.Value
	case *types.AttributeValueMemberN:
		y, ok := b.(*types.AttributeValueMemberN)
		if !ok {
			return false
		}
		ra, oka := new(big.Rat).SetString(x.Value)
		rb, okb := new(big.Rat).SetString(y.Value)
		return oka && okb && ra.Cmp(rb) == 0
	case *types.AttributeValueMemberB:
		y, ok := b.(*types.AttributeValueMemberB)
		return ok && string(x.Value) == string(y.Value)
	case *types.AttributeValueMemberBOOL:
		y, ok := b.(*types.AttributeValueMemberBOOL)
		return ok && x.Value == y.Value
	case *types.AttributeValueMemberNULL:
		_, ok := b.(*types.AttributeValueMemberNULL)
		return ok
	case *types.AttributeValueMemberM:
		y, ok := b.(*types.AttributeValueMemberM)
		if !ok || len(x.Value) != len(y.Value) {
			return false
		}
		for k, v := range x.Value {
			if !equalAttr(v, y.Value[k]) {
				return false
			}
		}
		return true
	case *types.AttributeValueMemberL:
		y, ok := b.(*types.AttributeValueMemberL)
		if !ok || len(x.Value) != len(y.Value) {
			return false
		}
		for i := range x.Value {
			if !equalAttr(x.Value[i], y.Value[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// Show renders an attribute compactly for reports ("<absent>" for nil).
func Show(av types.AttributeValue) string {
	switch x := av.(type) {
	case nil:
		return "<absent>"
	case *types.AttributeValueMemberS:
		return strconv.Quote(x.Value)
	case *types.AttributeValueMemberN:
		return x.Value
	case *types.AttributeValueMemberB:
		return fmt.Sprintf("0x%x", x.Value)
	case *types.AttributeValueMemberBOOL:
		return strconv.FormatBool(x.Value)
	case *types.AttributeValueMemberNULL:
		return "null"
	case *types.AttributeValueMemberM:
		keys := make([]string, 0, len(x.Value))
		for k := range x.Value {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = strconv.Quote(k) + ":" + Show(x.Value[k])
		}
		return "{" + strings.Join(parts, ",") + "}"
	case *types.AttributeValueMemberL:
		parts := make([]string, len(x.Value))
		for i, v := range x.Value {
			parts[i] = Show(v)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return fmt.Sprintf("%T", av)
}

// ItemSize estimates an item's size as DynamoDB counts it (names plus
// values), erring high.
func ItemSize(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + attrSize(v)
	}
	return n
}

func attrSize(av types.AttributeValue) int {
	switch x := av.(type) {
	case *types.AttributeValueMemberS:
		return len(x.Value)
	case *types.AttributeValueMemberN:
		return (len(x.Value)+1)/2 + 1
	case *types.AttributeValueMemberB:
		return len(x.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberM:
		n := 3
		for k, v := range x.Value {
			n += len(k) + attrSize(v) + 1
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, v := range x.Value {
			n += attrSize(v) + 1
		}
		return n
	}
	return 0
}
