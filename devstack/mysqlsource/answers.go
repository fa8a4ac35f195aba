package mysqlsource

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	vtmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/replication"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

var (
	reSelectVars  = regexp.MustCompile(`(?is)^select\s+(.+?)\s*;?\s*$`)
	reVarItem     = regexp.MustCompile(`(?i)^(@@(?:(global|session|local)\.)?([a-z_0-9]+)|version\(\))(?:\s+(?:as\s+)?` + "`?" + `([a-z_0-9@.]+)` + "`?" + `)?$`)
	reShowVars    = regexp.MustCompile(`(?is)^show\s+(global\s+|session\s+)?variables\s+(like\s+'([^']*)'|where\s+variable_name\s+in\s*\(([^)]*)\))\s*;?$`)
	reSetUserVars = regexp.MustCompile(`(?is)^set\s+@`)
	reHeartbeat   = regexp.MustCompile(`(?i)@(?:master|source)_heartbeat_period\s*=\s*(\d+)`)
	reChecksum    = regexp.MustCompile(`(?i)@(?:master|source)_binlog_checksum\s*=\s*'?(\w+)`)
	reWaitGTID    = regexp.MustCompile(`(?is)^select\s+wait_for_executed_gtid_set\(\s*'([^']*)'\s*(?:,\s*([0-9.]+)\s*)?\)\s*(?:as\s+\S+)?\s*;?$`)
	reUse         = regexp.MustCompile("(?is)^use\\s+`?([^`;\\s]+)`?\\s*;?$")
	reKill        = regexp.MustCompile(`(?is)^kill\s+(?:connection\s+|query\s+)?(\d+)\s*;?$`)
	reMariaOnly   = regexp.MustCompile(`(?i)@@(global\.|session\.)?(gtid_binlog_pos|gtid_current_pos|gtid_slave_pos|gtid_domain_id|last_gtid)\b|binlog_gtid_pos\s*\(`)
	reSpace       = regexp.MustCompile(`\s+`)
	reShowStatus  = regexp.MustCompile(`(?is)^show\s+(global\s+|session\s+)?status\b`)
	// mariaStatus are status variables only MariaDB has.
	mariaStatus = map[string]bool{"binlog_snapshot_file": true, "binlog_snapshot_position": true}
)

// answer answers the statements a MySQL server answers differently from
// the MariaDB behind the source: versions, binlog and GTID settings,
// grants, binlog files and status, replica status, the replication
// protocol's session variables, WAIT_FOR_EXECUTED_GTID_SET; and refuses
// MariaDB-only names as MySQL would. ok is false for the rest.
func (s *Source) answer(c *vtmysql.Conn, q string) (*sqltypes.Result, bool, error) {
	q = strings.TrimSpace(q)
	norm := strings.ToLower(reSpace.ReplaceAllString(strings.TrimRight(q, "; \n\t"), " "))
	if m := reMariaOnly.FindString(q); m != "" {
		if strings.HasSuffix(m, "(") {
			return nil, true, sqlerror.NewSQLErrorf(sqlerror.ERSPDoesNotExist, "42000", "FUNCTION %s.BINLOG_GTID_POS does not exist", sess(c).db)
		}
		return nil, true, sqlerror.NewSQLErrorf(sqlerror.ERUnknownSystemVariable, "HY000", "Unknown system variable '%s'", strings.TrimPrefix(strings.ToLower(m), "@@"))
	}
	major, minor, patch := parseVersion(s.cfg.Version)
	is84 := major > 8 || (major == 8 && minor >= 4)
	has82 := major > 8 || (major == 8 && minor >= 2)
	has8022 := major > 8 || (major == 8 && (minor > 0 || patch >= 22))
	switch norm {
	case "show master status":
		if is84 {
			return nil, true, syntaxError("MASTER STATUS")
		}
		return s.binlogStatus(), true, nil
	case "show binary log status":
		if !has82 {
			return nil, true, syntaxError("BINARY LOG STATUS")
		}
		return s.binlogStatus(), true, nil
	case "show binary logs", "show master logs":
		return s.binaryLogs(), true, nil
	case "show replica status", "show slave status":
		if is84 && norm == "show slave status" {
			return nil, true, syntaxError("SLAVE STATUS")
		}
		if !has8022 && norm == "show replica status" {
			return nil, true, syntaxError("REPLICA STATUS")
		}
		return result([]string{"Replica_IO_State", "Source_Host", "Executed_Gtid_Set"}), true, nil
	case "show grants", "show grants for current_user()", "show grants for current_user":
		s.mu.Lock()
		res := result([]string{"Grants for " + s.backend.User + "@%"})
		for _, g := range s.grants {
			res.Rows = append(res.Rows, []sqltypes.Value{sqltypes.NewVarChar(g)})
		}
		s.mu.Unlock()
		return res, true, nil
	case "flush binary logs", "flush logs":
		s.Rotate()
		return &sqltypes.Result{}, true, nil
	}
	if strings.HasPrefix(norm, "purge binary logs to ") || strings.HasPrefix(norm, "purge master logs to ") {
		name := strings.Trim(q[strings.LastIndex(strings.ToLower(q), " to ")+4:], " ;'\"")
		if err := s.PurgeTo(name); err != nil {
			return nil, true, sqlerror.NewSQLErrorf(sqlerror.ERUnknownError, "HY000", "%v", err)
		}
		return &sqltypes.Result{}, true, nil
	}
	if m := reUse.FindStringSubmatch(q); m != nil {
		s.mu.Lock()
		sess(c).db = m[1]
		s.mu.Unlock()
		return nil, false, nil
	}
	if m := reKill.FindStringSubmatch(q); m != nil {
		id, _ := strconv.ParseUint(m[1], 10, 32)
		s.mu.Lock()
		victim := s.conns[uint32(id)]
		s.mu.Unlock()
		if victim == nil {
			return nil, true, sqlerror.NewSQLErrorf(sqlerror.ERNoSuchThread, "HY000", "Unknown thread id: %d", id)
		}
		victim.Close()
		return &sqltypes.Result{}, true, nil
	}
	if reSetUserVars.MatchString(q) {
		if m := reHeartbeat.FindStringSubmatch(q); m != nil {
			ns, _ := strconv.ParseInt(m[1], 10, 64)
			sess(c).heartbeat = time.Duration(ns)
		}
		if m := reChecksum.FindStringSubmatch(q); m != nil {
			sess(c).checksum = strings.EqualFold(m[1], "CRC32")
		}
		return &sqltypes.Result{}, true, nil
	}
	if m := reWaitGTID.FindStringSubmatch(q); m != nil {
		res, err := s.waitExecuted(m[1], m[2])
		return res, true, err
	}
	if m := reMaxBinlogSize.FindStringSubmatch(q); m != nil {
		s.Set("max_binlog_size", m[1])
		return &sqltypes.Result{}, true, nil
	}
	if res, ok, err := s.processlist(c, q); ok {
		return res, true, err
	}
	if res, ok, err := s.schemaAnswer(c, q); ok {
		return res, true, err
	}
	if reShowStatus.MatchString(q) {
		res, err := s.forward(c, q)
		if err != nil {
			return nil, true, err
		}
		kept := res.Rows[:0]
		for _, r := range res.Rows {
			if !mariaStatus[strings.ToLower(r[0].ToString())] {
				kept = append(kept, r)
			}
		}
		res.Rows = kept
		return res, true, nil
	}
	if m := reShowVars.FindStringSubmatch(q); m != nil {
		return s.showVars(c, m[3], m[4])
	}
	if m := reSelectVars.FindStringSubmatch(q); m != nil {
		return s.selectVars(c, m[1])
	}
	return nil, false, nil
}

func syntaxError(near string) error {
	return sqlerror.NewSQLErrorf(sqlerror.ERParseError, "42000", "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near '%s' at line 1", near)
}

// result is an empty result with VARCHAR columns.
func result(cols []string) *sqltypes.Result {
	res := &sqltypes.Result{}
	for _, c := range cols {
		res.Fields = append(res.Fields, &querypb.Field{Name: c, Type: sqltypes.VarChar, Charset: CollationUTF8MB4, ColumnLength: 1024})
	}
	return res
}

func (s *Source) binlogStatus() *sqltypes.Result {
	file, pos, executed := s.Status()
	if !s.gtidMode() {
		executed = ""
	}
	res := result([]string{"File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB", "Executed_Gtid_Set"})
	res.Fields[1].Type = sqltypes.Uint64
	res.Rows = [][]sqltypes.Value{{sqltypes.NewVarChar(file), sqltypes.NewUint64(uint64(pos)), sqltypes.NewVarChar(""), sqltypes.NewVarChar(""), sqltypes.NewVarChar(executed)}}
	return res
}

func (s *Source) binaryLogs() *sqltypes.Result {
	res := result([]string{"Log_name", "File_size", "Encrypted"})
	res.Fields[1].Type = sqltypes.Uint64
	for _, f := range s.binlog.state().files {
		res.Rows = append(res.Rows, []sqltypes.Value{sqltypes.NewVarChar(f.name), sqltypes.NewUint64(uint64(f.size)), sqltypes.NewVarChar("No")})
	}
	return res
}

// globalVar is the source's value of a variable, if it has one.
func (s *Source) globalVar(name string) (string, bool) {
	name = strings.ToLower(name)
	st := s.binlog.state()
	switch name {
	case "gtid_executed":
		return st.executed.String(), true
	case "gtid_purged":
		return st.purged.String(), true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vars[name]
	return v, ok
}

// since80 are the variables MySQL 5.7 does not have (its table maps carry
// no optional metadata, its rows no partial JSON, its transactions are
// never compressed).
var since80 = map[string]bool{"binlog_row_metadata": true, "binlog_row_value_options": true, "binlog_transaction_compression": true}

// unknownVar says whether the server the source plays has no variable of
// that name although the backend may: 8.0's on a 5.7 source.
func (s *Source) unknownVar(name string) bool {
	s.mu.Lock()
	major, _, _ := parseVersion(s.cfg.Version)
	s.mu.Unlock()
	return major < 8 && since80[strings.ToLower(name)]
}

// selectVars answers a SELECT of system variables and VERSION() alone;
// a variable the source does not keep is read from the backend.
func (s *Source) selectVars(c *vtmysql.Conn, list string) (*sqltypes.Result, bool, error) {
	items := strings.Split(list, ",")
	res := &sqltypes.Result{}
	var row []sqltypes.Value
	for _, it := range items {
		it = strings.TrimSpace(it)
		m := reVarItem.FindStringSubmatch(it)
		if m == nil {
			return nil, false, nil
		}
		name := m[3]
		if strings.EqualFold(m[1], "version()") {
			name = "version"
		}
		label := m[1]
		if m[4] != "" {
			label = m[4]
		}
		if s.unknownVar(name) {
			return nil, true, sqlerror.NewSQLErrorf(sqlerror.ERUnknownSystemVariable, "HY000", "Unknown system variable '%s'", strings.ToLower(name))
		}
		v, ok := s.globalVar(name)
		if !ok {
			backend, err := s.forward(c, "SELECT "+m[1])
			if err != nil {
				return nil, true, err
			}
			v = backend.Rows[0][0].ToString()
		}
		res.Fields = append(res.Fields, &querypb.Field{Name: label, Type: sqltypes.VarChar, Charset: CollationUTF8MB4, ColumnLength: 1024})
		row = append(row, sqltypes.NewVarChar(v))
	}
	res.Rows = [][]sqltypes.Value{row}
	return res, true, nil
}

// showVars answers SHOW VARIABLES LIKE 'p' or WHERE Variable_name IN
// (…): the source's variables first, then the backend's others.
func (s *Source) showVars(c *vtmysql.Conn, like, in string) (*sqltypes.Result, bool, error) {
	match := func(name string) bool { return likeMatch(like, name) }
	if in != "" {
		want := map[string]bool{}
		for _, n := range strings.Split(in, ",") {
			want[strings.ToLower(strings.Trim(strings.TrimSpace(n), "'\""))] = true
		}
		match = func(name string) bool { return want[name] }
	}
	res := result([]string{"Variable_name", "Value"})
	seen := map[string]bool{}
	s.mu.Lock()
	names := make([]string, 0, len(s.vars))
	for n := range s.vars {
		names = append(names, n)
	}
	s.mu.Unlock()
	names = append(names, "gtid_executed", "gtid_purged")
	sort.Strings(names)
	for _, n := range names {
		if match(n) && !s.unknownVar(n) {
			v, _ := s.globalVar(n)
			res.Rows = append(res.Rows, []sqltypes.Value{sqltypes.NewVarChar(n), sqltypes.NewVarChar(v)})
			seen[n] = true
		}
	}
	backend, err := s.forward(c, "SHOW GLOBAL VARIABLES")
	if err != nil {
		return nil, true, err
	}
	for _, r := range backend.Rows {
		n := strings.ToLower(r[0].ToString())
		if !seen[n] && match(n) && !reMariaOnly.MatchString("@@"+n) && !s.unknownVar(n) {
			res.Rows = append(res.Rows, []sqltypes.Value{sqltypes.NewVarChar(n), sqltypes.NewVarChar(r[1].ToString())})
		}
	}
	return res, true, nil
}

// likeMatch is SQL LIKE, case-insensitive.
func likeMatch(pattern, s string) bool {
	var re strings.Builder
	re.WriteString("(?is)^")
	for i := 0; i < len(pattern); i++ {
		switch ch := pattern[i]; ch {
		case '%':
			re.WriteString(".*")
		case '_':
			re.WriteString(".")
		case '\\':
			if i+1 < len(pattern) {
				i++
				re.WriteString(regexp.QuoteMeta(string(pattern[i])))
			}
		default:
			re.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	re.WriteString("$")
	ok, _ := regexp.MatchString(re.String(), s)
	return ok
}

// waitExecuted is WAIT_FOR_EXECUTED_GTID_SET: 0 once every GTID of set
// is executed and visible, 1 after timeout seconds.
func (s *Source) waitExecuted(set, timeout string) (*sqltypes.Result, error) {
	want, err := replication.ParseMysql56GTIDSet(set)
	if err != nil {
		return nil, sqlerror.NewSQLErrorf(sqlerror.ERWrongArguments, "HY000", "Malformed GTID set specification '%s'.", set)
	}
	ctx := context.Background()
	if timeout != "" {
		secs, _ := strconv.ParseFloat(timeout, 64)
		if secs > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(secs*float64(time.Second)))
			defer cancel()
		}
	}
	res := result([]string{fmt.Sprintf("WAIT_FOR_EXECUTED_GTID_SET('%s')", set)})
	res.Fields[0].Type = sqltypes.Int64
	for {
		changed := s.binlog.waitChan()
		if s.binlog.state().visible.Contains(want) {
			res.Rows = [][]sqltypes.Value{{sqltypes.NewInt64(0)}}
			return res, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			res.Rows = [][]sqltypes.Value{{sqltypes.NewInt64(1)}}
			return res, nil
		case <-s.done:
			return nil, fmt.Errorf("the source is shutting down")
		}
	}
}
