package codec_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
)

// TestResolveErrors refuses mappings the table does not fit, each with an
// error that says what to change.
func TestResolveErrors(t *testing.T) {
	ctx := context.Background()
	db := openSource(t)
	exec(t, db, "CREATE TABLE t (id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(10), other INT, g POINT NULL)")
	exec(t, db, "CREATE TABLE two (a INT, b INT, PRIMARY KEY (a, b))")
	exec(t, db, "CREATE TABLE nokey (a INT)")
	exec(t, db, "CREATE TABLE timekey (at DATETIME(6) PRIMARY KEY)")
	exec(t, db, "CREATE TABLE res (id INT PRIMARY KEY, src_pos INT)")
	exec(t, db, "CREATE TABLE dup (id INT PRIMARY KEY, pk INT)")

	_, err := codec.Resolve(ctx, db, codec.Config{Table: "missing", Key: "id"})
	if !errors.Is(err, codec.ErrNoTable) {
		t.Errorf("missing table: %v, want ErrNoTable", err)
	}

	tests := []struct {
		name   string
		cfg    codec.Config
		advice string
	}{
		{"key is not the primary key", codec.Config{Table: "t", Key: "other", Exclude: []string{"g"}}, "mapping.key"},
		{"two-column primary key", codec.Config{Table: "two", Key: "a"}, "one-column primary key"},
		{"no primary key", codec.Config{Table: "nokey", Key: "a"}, "one-column primary key"},
		{"datetime key", codec.Config{Table: "timekey", Key: "at"}, "integer and string keys"},
		{"mapped column missing", codec.Config{Table: "t", Key: "id", Columns: []codec.ColumnConfig{{Name: "name"}, {Name: "nope"}}}, `"nope"`},
		{"unsupported type", codec.Config{Table: "t", Key: "id"}, "exclude the column"},
		{"reserved attribute", codec.Config{Table: "res", Key: "id"}, "rename it"},
		{"renamed onto a reserved attribute", codec.Config{Table: "t", Key: "id", Columns: []codec.ColumnConfig{{Name: "name", Attribute: codec.AttrDeleted}}}, "rename it"},
		{"column named pk", codec.Config{Table: "dup", Key: "id"}, "rename one"},
		{"two columns, one attribute", codec.Config{Table: "t", Key: "id", Columns: []codec.ColumnConfig{{Name: "name", Attribute: "x"}, {Name: "other", Attribute: "x"}}}, "rename one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := codec.Resolve(ctx, db, tt.cfg)
			var se *codec.SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("Resolve = %v, %v; want a *codec.SchemaError", m, err)
			}
			t.Log(err)
			if se.Table != tt.cfg.Table {
				t.Errorf("SchemaError.Table = %q, want %q", se.Table, tt.cfg.Table)
			}
			if !strings.Contains(se.Reason, tt.advice) {
				t.Errorf("SchemaError.Reason = %q, want it to say %q", se.Reason, tt.advice)
			}
		})
	}
}

// TestResolveConfig honours exclusions, explicit columns, renames and type
// overrides.
func TestResolveConfig(t *testing.T) {
	ctx := context.Background()
	db := openSource(t)
	exec(t, db, "CREATE TABLE t (ID BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(10), doc TEXT, secret VARCHAR(10), g POINT NULL, "+
		"j LONGTEXT NULL CHECK (j IS NULL OR json_valid(j)))")
	exec(t, db, "INSERT INTO t VALUES (7, 'n', '{\"a\": 1}', 's', ST_GeomFromText('POINT(1 2)'), '[1]')")

	tests := []struct {
		name string
		cfg  codec.Config
		want []codec.Column
	}{
		{"excluded columns skipped", codec.Config{Table: "t", Key: "id", Exclude: []string{"G", "secret"}}, []codec.Column{
			{Name: "ID", Attribute: codec.AttrPK, Type: codec.Uint},
			{Name: "name", Attribute: "name", Type: codec.String},
			{Name: "doc", Attribute: "doc", Type: codec.String},
			{Name: "j", Attribute: "j", Type: codec.JSON},
		}},
		{"explicit columns, renamed and typed", codec.Config{Table: "t", Key: "id", Columns: []codec.ColumnConfig{
			{Name: "doc", Attribute: "document", Type: codec.JSON},
			{Name: "NAME", Attribute: "customer"},
			{Name: "g", Type: codec.Blob},
		}}, []codec.Column{
			{Name: "ID", Attribute: codec.AttrPK, Type: codec.Uint},
			{Name: "doc", Attribute: "document", Type: codec.JSON},
			{Name: "name", Attribute: "customer", Type: codec.String},
			{Name: "g", Attribute: "g", Type: codec.Blob},
		}},
		{"key listed in columns and excluded columns", codec.Config{Table: "t", Key: "id", Columns: []codec.ColumnConfig{
			{Name: "id", Attribute: "ignored"}, {Name: "name"}, {Name: "secret"},
		}, Exclude: []string{"secret"}}, []codec.Column{
			{Name: "ID", Attribute: codec.AttrPK, Type: codec.Uint},
			{Name: "name", Attribute: "name", Type: codec.String},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp, err := codec.Resolve(ctx, db, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, mp.Columns); diff != "" {
				t.Fatalf("columns (-want +got):\n%s", diff)
			}
			if mp.Key().Name != "ID" || mp.Table != "t" {
				t.Errorf("Key = %q, Table = %q", mp.Key().Name, mp.Table)
			}
			// The mapping reads its rows and encodes them.
			raws := readText(t, db, mp)
			row, err := mp.RowFromText(raws[0])
			if err != nil {
				t.Fatal(err)
			}
			it, err := mp.Item(row)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.want {
				if _, ok := it[c.Attribute]; !ok {
					t.Errorf("item %s has no attribute %q", codec.Show(m(it)), c.Attribute)
				}
			}
			if len(it) != len(tt.want) {
				t.Errorf("item %s has %d attributes, want %d", codec.Show(m(it)), len(it), len(tt.want))
			}
		})
	}
}
