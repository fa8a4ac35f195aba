package mysqlsource

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	vtmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/sqltypes"
)

var (
	reProcesslist     = regexp.MustCompile(`(?is)information_schema\s*\.\s*processlist\b`)
	reShowProcesslist = regexp.MustCompile(`(?is)^show\s+(full\s+)?processlist\s*;?$`)
	reMaxBinlogSize   = regexp.MustCompile(`(?is)^set\s+(?:global\s+|@@global\.)max_binlog_size\s*=\s*'?(\d+)'?\s*;?$`)
)

// processlist answers what lists connections with the source's own: a
// replica's dump shows as MySQL shows it ("Binlog Dump GTID" or "Binlog
// Dump"), so a test can find and KILL it. A query on
// information_schema.PROCESSLIST runs on the backend against a derived
// table of them (the backend evaluates its WHERE clause).
func (s *Source) processlist(c *vtmysql.Conn, q string) (*sqltypes.Result, bool, error) {
	switch {
	case reShowProcesslist.MatchString(q):
		res := result([]string{"Id", "User", "Host", "db", "Command", "Time", "State", "Info"})
		for _, p := range s.procs() {
			res.Rows = append(res.Rows, []sqltypes.Value{sqltypes.NewVarChar(fmt.Sprint(p.id)), sqltypes.NewVarChar(p.user),
				sqltypes.NewVarChar("localhost"), sqltypes.NewVarChar(p.db), sqltypes.NewVarChar(p.command),
				sqltypes.NewVarChar("0"), sqltypes.NewVarChar(""), sqltypes.NULL})
		}
		return res, true, nil
	case reProcesslist.MatchString(q):
		var rows []string
		for _, p := range s.procs() {
			rows = append(rows, fmt.Sprintf("SELECT %d AS ID, %s AS USER, 'localhost' AS HOST, %s AS DB, %s AS COMMAND, 0 AS TIME, '' AS STATE, NULL AS INFO",
				p.id, quote(p.user), quote(p.db), quote(p.command)))
		}
		derived := "(" + strings.Join(rows, " UNION ALL ") + ") AS PROCESSLIST"
		res, err := s.forward(c, reProcesslist.ReplaceAllString(q, derived))
		return res, true, err
	}
	return nil, false, nil
}

type proc struct {
	id                uint32
	user, db, command string
}

// procs are the source's connections, this one included.
func (s *Source) procs() []proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]proc, 0, len(s.conns))
	for id, c := range s.conns {
		ss := sess(c)
		if !ss.ready {
			continue
		}
		cmd := ss.command
		if cmd == "" {
			cmd = "Query"
		}
		out = append(out, proc{id: id, user: ss.user, db: ss.db, command: cmd})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
