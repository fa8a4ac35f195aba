package mysqlsource

import (
	"regexp"
	"strings"

	vtmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
)

var (
	reColumnsTable = regexp.MustCompile(`(?is)information_schema\s*\.\s*columns\b`)
	reChecks       = regexp.MustCompile(`(?is)information_schema\s*\.\s*check_constraints\b`)
	reTableNameIs  = regexp.MustCompile(`(?is)table_name\s*=\s*'([^']*)'`)
	reJSONValid    = regexp.MustCompile("(?i)^\\s*json_valid\\(`([^`]+)`\\)\\s*$")
)

// schemaAnswer makes information_schema look as MySQL's does for the
// JSON columns MariaDB keeps as LONGTEXT with a json_valid check: COLUMNS
// says json, and CHECK_CONSTRAINTS has no TABLE_NAME (MySQL's has none)
// and no json_valid checks.
func (s *Source) schemaAnswer(c *vtmysql.Conn, q string) (*sqltypes.Result, bool, error) {
	switch {
	case reChecks.MatchString(q):
		if strings.Contains(strings.ToLower(q), "table_name") {
			return nil, true, sqlerror.NewSQLErrorf(sqlerror.ERBadFieldError, "42S22", "Unknown column 'TABLE_NAME' in 'where clause'")
		}
		res, err := s.forward(c, q)
		if err != nil {
			return nil, true, err
		}
		if i := fieldIndex(res, "check_clause"); i >= 0 {
			kept := res.Rows[:0]
			for _, r := range res.Rows {
				if !reJSONValid.MatchString(r[i].ToString()) {
					kept = append(kept, r)
				}
			}
			res.Rows = kept
		}
		return res, true, nil
	case reColumnsTable.MatchString(q):
		res, err := s.forward(c, q)
		if err != nil {
			return nil, true, err
		}
		return res, true, s.markJSON(c, q, res)
	}
	return nil, false, nil
}

// markJSON rewrites DATA_TYPE and COLUMN_TYPE of JSON columns to json.
func (s *Source) markJSON(c *vtmysql.Conn, q string, res *sqltypes.Result) error {
	name, dt, ct, tn := fieldIndex(res, "column_name"), fieldIndex(res, "data_type"), fieldIndex(res, "column_type"), fieldIndex(res, "table_name")
	if name < 0 || (dt < 0 && ct < 0) {
		return nil
	}
	checks, err := s.forward(c, "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()")
	if err != nil {
		return err
	}
	json := map[[2]string]bool{}
	for _, r := range checks.Rows {
		if m := reJSONValid.FindStringSubmatch(r[1].ToString()); m != nil {
			json[[2]string{strings.ToLower(r[0].ToString()), strings.ToLower(m[1])}] = true
		}
	}
	table := ""
	if m := reTableNameIs.FindStringSubmatch(q); m != nil {
		table = strings.ToLower(m[1])
	}
	for _, r := range res.Rows {
		t := table
		if tn >= 0 {
			t = strings.ToLower(r[tn].ToString())
		}
		if !json[[2]string{t, strings.ToLower(r[name].ToString())}] {
			continue
		}
		for _, i := range []int{dt, ct} {
			if i >= 0 {
				r[i] = sqltypes.MakeTrusted(r[i].Type(), []byte("json"))
			}
		}
	}
	return nil
}

func fieldIndex(res *sqltypes.Result, name string) int {
	for i, f := range res.Fields {
		if strings.EqualFold(f.Name, name) {
			return i
		}
	}
	return -1
}
