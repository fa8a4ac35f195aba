package cdc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/internal/position"
)

// ErrSource is a source the cdc cannot read correctly; the message says
// what to change.
var ErrSource = errors.New("source not usable for cdc")

// Inspector checks the source before the cdc reads it (invariant 2). Its
// checks are Findings, which `strangler doctor` prints too; CheckSource
// refuses on the first that fails.
type Inspector struct {
	db *sql.DB
}

// NewInspector returns an inspector of db.
func NewInspector(db *sql.DB) *Inspector { return &Inspector{db: db} }

// Finding is the outcome of one check of the source. Level is "ok", "warn"
// (works, but read Why) or "fail" (the cdc refuses to start); What names
// the setting and its value, Why says why it matters and Fix what to do
// (empty when nothing is to be done). It may be copied.
type Finding struct {
	Level          string
	What, Why, Fix string
}

// The levels of a Finding.
const (
	LevelOK   = "ok"
	LevelWarn = "warn"
	LevelFail = "fail"
)

// Source is what the inspector read of a server. The flavor is the
// server's own (its version string), never configuration. It may be copied.
type Source struct {
	// Version is @@version, e.g. "8.0.36" or "10.11.6-MariaDB-0+deb12u1".
	Version string
	// Flavor is go-mysql's name of the replication protocol the server
	// speaks: gomysql.MySQLFlavor or gomysql.MariaDBFlavor.
	Flavor string
	// Major, Minor and Patch are Version's numbers.
	Major, Minor, Patch int
	// Hosting is "Aurora MySQL <aurora_version>", "RDS" or "" (self-run).
	Hosting string
	// Vars are the global variables the checks read, by lower-case name; a
	// variable the server does not have is absent.
	Vars map[string]string
	// Grants are the user's SHOW GRANTS lines, upper-cased.
	Grants string
	// Replica is true when the server replicates from another one.
	Replica bool
}

// MariaDB reports whether s is a MariaDB server.
func (s Source) MariaDB() bool { return s.Flavor == gomysql.MariaDBFlavor }

// atLeast reports whether s's version is major.minor.patch or newer.
func (s Source) atLeast(major, minor, patch int) bool {
	if s.Major != major {
		return s.Major > major
	}
	if s.Minor != minor {
		return s.Minor > minor
	}
	return s.Patch >= patch
}

// inspected are the global variables Read fetches; a server lacking one
// (binlog_row_metadata before MySQL 8.0.1, gtid_mode on MariaDB) leaves it
// out of Source.Vars.
var inspected = []string{
	"log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata", "binlog_row_value_options",
	"gtid_mode", "enforce_gtid_consistency", "binlog_order_commits", "log_replica_updates", "log_slave_updates",
	"basedir", "aurora_version", "version_comment",
}

// Read reads the server's flavor, version, settings and the user's grants.
func (in *Inspector) Read(ctx context.Context) (Source, error) {
	var s Source
	if err := in.db.QueryRowContext(ctx, "SELECT @@version").Scan(&s.Version); err != nil {
		return s, fmt.Errorf("reading the source's version: %w", err)
	}
	s.Flavor, s.Major, s.Minor, s.Patch = parseVersion(s.Version)
	q := "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('" + strings.Join(inspected, "','") + "')"
	rows, err := in.db.QueryContext(ctx, q)
	if err != nil {
		return s, fmt.Errorf("reading the source's binlog settings: %w", err)
	}
	s.Vars = map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			rows.Close()
			return s, fmt.Errorf("reading the source's binlog settings: %w", err)
		}
		s.Vars[strings.ToLower(name)] = value
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return s, fmt.Errorf("reading the source's binlog settings: %w", err)
	}
	switch {
	case s.Vars["aurora_version"] != "":
		s.Hosting = "Aurora MySQL " + s.Vars["aurora_version"]
	case strings.HasPrefix(s.Vars["basedir"], "/rdsdbbin/"):
		s.Hosting = "RDS"
	}
	if s.Grants, err = in.grants(ctx); err != nil {
		return s, err
	}
	s.Replica, err = in.replica(ctx, s)
	return s, err
}

// parseVersion reads @@version: "10.11.6-MariaDB-0+deb12u1" is MariaDB,
// anything else MySQL ("8.0.36", "8.4.3-log", "5.7.12" on Aurora 2).
func parseVersion(v string) (flavor string, major, minor, patch int) {
	flavor = gomysql.MySQLFlavor
	if strings.Contains(strings.ToLower(v), "mariadb") {
		flavor = gomysql.MariaDBFlavor
	}
	num, _, _ := strings.Cut(v, "-")
	parts := strings.SplitN(num, ".", 3)
	nums := []*int{&major, &minor, &patch}
	for i, p := range parts {
		end := strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' })
		if end >= 0 {
			p = p[:end]
		}
		*nums[i], _ = strconv.Atoi(p)
	}
	return flavor, major, minor, patch
}

func (in *Inspector) grants(ctx context.Context) (string, error) {
	rows, err := in.db.QueryContext(ctx, "SHOW GRANTS")
	if err != nil {
		return "", fmt.Errorf("reading the user's grants: %w", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return "", fmt.Errorf("reading the user's grants: %w", err)
		}
		b.WriteString(strings.ToUpper(g))
		b.WriteByte('\n')
	}
	return b.String(), rows.Err()
}

// ReplicaStatusStatement is the statement that shows a server's replication
// from its own source: MySQL 8.4 removed SHOW SLAVE STATUS (8.0.22 added
// SHOW REPLICA STATUS), MariaDB has SHOW REPLICA STATUS from 10.5.1.
func ReplicaStatusStatement(s Source) string {
	if (s.MariaDB() && s.atLeast(10, 5, 1)) || (!s.MariaDB() && s.atLeast(8, 0, 22)) {
		return "SHOW REPLICA STATUS"
	}
	return "SHOW SLAVE STATUS"
}

// replica reports whether the server replicates from another one; a user
// not allowed to ask is answered "no" (the check only warns then).
func (in *Inspector) replica(ctx context.Context, s Source) (bool, error) {
	rows, err := in.db.QueryContext(ctx, ReplicaStatusStatement(s))
	if err != nil {
		// No privilege for it (1227): not known. Any other refusal (a
		// statement this server does not have) is an error, never a "no".
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1227 {
			return false, nil
		}
		return false, fmt.Errorf("reading %s: %w", ReplicaStatusStatement(s), err)
	}
	defer rows.Close()
	return rows.Next(), rows.Err()
}

// Findings checks the source: its version and flavor, the binlog settings
// the cdc needs, binlog_row_metadata, the GTID mode and the user's
// privileges, one Finding each. An error is a source that could not be
// read at all.
func (in *Inspector) Findings(ctx context.Context) ([]Finding, error) {
	s, err := in.Read(ctx)
	if err != nil {
		return nil, err
	}
	return Judge(s), nil
}

// CheckSource refuses (ErrSource) a source one of whose Findings fails,
// naming the first: what, why and the fix.
func (in *Inspector) CheckSource(ctx context.Context) error {
	fs, err := in.Findings(ctx)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.Level == LevelFail {
			return fmt.Errorf("%w: %s: %s. Fix: %s", ErrSource, f.What, f.Why, f.Fix)
		}
	}
	return nil
}

// CheckStart refuses a start position older than the oldest binlog the
// source still has (ErrPositionPurged) or ahead of the source.
func (in *Inspector) CheckStart(ctx context.Context, start position.Position) error {
	cur, err := position.Current(ctx, in.db)
	if err != nil {
		return err
	}
	if start.Kind != cur.Kind {
		return fmt.Errorf("%w: the start position %s is a %s position but the source names its transactions by %s: "+
			"a source keeps one kind for life (docs/positions.md); start from a position of the source's kind", ErrSource, start, start.Kind, cur.Kind)
	}
	switch start.Kind {
	case position.GTIDSet:
		if holds, err := position.Holds(cur, start); err == nil && !holds {
			return fmt.Errorf("%w: the start position %s holds transactions the source (%s) has not executed: is this the right server? "+
				"After a failover that lost them, follow docs/positions.md, Failover", ErrSource, start, cur)
		}
		return nil // a purged start is refused by the stream itself (ErrPositionPurged)
	case position.File:
		return nil
	}
	if start.Server != "" && cur.Domain == start.Domain && start.Seq > cur.Seq {
		return fmt.Errorf("%w: the start position %s is ahead of the source (%s): is this the right server?", ErrSource, start, cur)
	}
	file, err := in.oldestBinlog(ctx)
	if err != nil || file == "" {
		return err
	}
	var oldest sql.NullString
	if err := in.db.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, 4)", file).Scan(&oldest); err != nil || !oldest.Valid {
		return nil // not answerable here; the stream's own refusal still maps to ErrPositionPurged
	}
	first, err := position.ParseMariaDBGTID(oldest.String)
	if err != nil || first.Server == "" {
		return nil
	}
	if first.Domain == start.Domain && start.Seq < first.Seq {
		return fmt.Errorf("%w (start %s; the oldest binlog %s begins after %s)", ErrPositionPurged, start, file, first)
	}
	return nil
}

// oldestBinlog is the first file SHOW BINARY LOGS lists ("" when none).
func (in *Inspector) oldestBinlog(ctx context.Context) (string, error) {
	rows, err := in.db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return "", fmt.Errorf("listing the binary logs: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", fmt.Errorf("listing the binary logs: %w", err)
	}
	var file string
	dest := []any{&file}
	for len(dest) < len(cols) {
		dest = append(dest, new(any))
	}
	if rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return "", fmt.Errorf("listing the binary logs: %w", err)
		}
	}
	return file, rows.Err()
}

// Judge turns what Read read into Findings, in the order a reader fixes
// them: version, binlog, row images, metadata, GTIDs, privileges.
func Judge(s Source) []Finding {
	fs := []Finding{judgeVersion(s)}
	fs = append(fs, judgeBinlog(s)...)
	fs = append(fs, judgeGTID(s)...)
	return append(fs, judgeGrants(s)...)
}

func judgeVersion(s Source) Finding {
	name := "MySQL " + s.Version
	if s.MariaDB() {
		name = "MariaDB " + s.Version
	}
	if s.Hosting != "" {
		name += " (" + s.Hosting + ")"
	}
	switch {
	case !s.MariaDB() && !s.atLeast(5, 7, 0):
		return Finding{LevelFail, "server " + name,
			"MySQL older than 5.7 lacks the binlog the cdc reads (no binlog_row_image before 5.6, no GTID auto-positioning it relies on, end of life)",
			"upgrade the source to MySQL 5.7, 8.0 or 8.4 (or Aurora MySQL 2 or 3)"}
	case s.MariaDB() && !s.atLeast(10, 6, 0):
		return Finding{LevelWarn, "server " + name, "strangler is tested with MariaDB 10.6 and newer", "upgrade the source to MariaDB 10.6 or newer"}
	}
	return Finding{LevelOK, "server " + name, "the cdc reads this flavor (" + s.Flavor + ") from the server itself", ""}
}

// onOff reads a boolean variable: "ON" or "1".
func onOff(v string) bool { return v == "1" || strings.EqualFold(v, "ON") }

func judgeBinlog(s Source) []Finding {
	v := s.Vars
	restart := "and in the server's config file"
	if s.Hosting != "" {
		restart = "in the DB parameter group (RDS/Aurora: the cluster parameter group)"
	}
	if !onOff(v["log_bin"]) {
		fix := "start the server with --log-bin (and --server-id)"
		if s.Hosting != "" {
			fix = "turn on automated backups (RDS) or set binlog_format in the DB cluster parameter group (Aurora), then reboot"
		}
		return []Finding{{LevelFail, "log_bin=" + v["log_bin"], "the binary log is off: there is nothing for the cdc to read", fix}}
	}
	fs := []Finding{{LevelOK, "log_bin=ON", "the binary log is on", ""}}
	add := func(ok bool, what, why, fix string) {
		if ok {
			fs = append(fs, Finding{LevelOK, what, why, ""})
		} else {
			fs = append(fs, Finding{LevelFail, what, why, fix})
		}
	}
	format, image := v["binlog_format"], v["binlog_row_image"]
	add(strings.EqualFold(format, "ROW"), "binlog_format="+format, "the cdc needs ROW so every change carries its row",
		"SET GLOBAL binlog_format = 'ROW', "+restart)
	add(strings.EqualFold(image, "FULL"), "binlog_row_image="+image, "the cdc needs FULL so every change carries the whole row, before and after",
		"SET GLOBAL binlog_row_image = 'FULL', "+restart)
	if opts, ok := v["binlog_row_value_options"]; ok {
		add(!strings.Contains(strings.ToUpper(opts), "PARTIAL_JSON"), "binlog_row_value_options="+opts,
			"PARTIAL_JSON logs a JSON update as a diff of the changed paths, not the whole value: the cdc would lose changes",
			"SET GLOBAL binlog_row_value_options = '', "+restart)
	}
	return append(fs, judgeMetadata(s, restart))
}

func judgeMetadata(s Source, restart string) Finding {
	meta, ok := s.Vars["binlog_row_metadata"]
	if strings.EqualFold(meta, "FULL") {
		return Finding{LevelOK, "binlog_row_metadata=FULL", "the cdc decodes each row event with the column names and ENUM/SET labels it was written with", ""}
	}
	// Without names the Streamer names the columns from information_schema
	// (tablecols.go) and refuses an event whose layout no longer fits.
	why := "without FULL the cdc names the columns from information_schema and refuses (ErrLayoutChanged) an event written before an ALTER TABLE it has not read yet; a column renamed, or two of one type swapped, in that window would go unseen"
	if !ok {
		return Finding{LevelWarn, "binlog_row_metadata (absent before MySQL 8.0.1)", why,
			"alter the mapped table only while the cdc is caught up, or upgrade to MySQL 8.0 and SET PERSIST binlog_row_metadata = 'FULL'"}
	}
	return Finding{LevelWarn, "binlog_row_metadata=" + meta, why, "SET GLOBAL binlog_row_metadata = 'FULL', " + restart}
}

func judgeGTID(s Source) []Finding {
	var fs []Finding
	if s.MariaDB() {
		fs = append(fs, Finding{LevelOK, "MariaDB GTIDs", "positions are domain-server-seq GTIDs of one replication domain", ""})
	} else {
		mode := strings.ToUpper(s.Vars["gtid_mode"])
		switch mode {
		case "ON":
			fs = append(fs, Finding{LevelOK, "gtid_mode=ON", "the checkpoint is a GTID set: the cdc resumes exactly, also on a promoted replica", ""})
		case "OFF", "":
			fs = append(fs, Finding{LevelWarn, "gtid_mode=OFF", "positions are binlog file:offset: after a failover to a replica the cdc cannot find its place by itself (docs/positions.md, Failover)",
				"SET GLOBAL gtid_mode step by step to ON (OFF_PERMISSIVE, ON_PERMISSIVE, ON) with enforce_gtid_consistency=ON"})
		default:
			fs = append(fs, Finding{LevelFail, "gtid_mode=" + mode, "the server is part-way through a GTID mode transition: its binlog mixes anonymous and GTID transactions, which neither kind of position orders",
				"finish the transition: SET GLOBAL gtid_mode = 'ON' (or 'OFF') one step at a time, then restart the cdc"})
		}
		if oc, ok := s.Vars["binlog_order_commits"]; ok && !onOff(oc) {
			fs = append(fs, Finding{LevelFail, "binlog_order_commits=OFF", "transactions may then become visible out of binlog order, and the backfill's snapshot stamp is no longer a safe lower bound",
				"SET GLOBAL binlog_order_commits = ON"})
		}
	}
	updates, ok := s.Vars["log_replica_updates"]
	if !ok {
		updates, ok = s.Vars["log_slave_updates"]
	}
	if s.Replica && ok && !onOff(updates) {
		fs = append(fs, Finding{LevelFail, "log_replica_updates=OFF on a replica", "the changes this replica applies do not reach its binlog: the cdc would miss them",
			"point mysql.dsn at the primary, or start the replica with log_replica_updates=ON"})
	}
	return fs
}

func judgeGrants(s Source) []Finding {
	privs := privileges(s.Grants)
	has := func(any ...string) bool {
		for _, g := range any {
			if privs[g] {
				return true
			}
		}
		return false
	}
	grant := "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO <cdc user>"
	if s.MariaDB() {
		grant = "GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO <cdc user>"
	} else if s.atLeast(8, 4, 0) {
		grant = "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO <cdc user> (8.4 also spells it REPLICATION REPLICA)"
	}
	var fs []Finding
	if has("REPLICATION SLAVE", "REPLICATION REPLICA", "ALL PRIVILEGES") {
		fs = append(fs, Finding{LevelOK, "privilege REPLICATION SLAVE", "the user may read the binlog as a replica", ""})
	} else {
		fs = append(fs, Finding{LevelFail, "privilege REPLICATION SLAVE missing", "the cdc reads the binlog as a replica", grant})
	}
	if has("REPLICATION CLIENT", "BINLOG MONITOR", "ALL PRIVILEGES", "SUPER") {
		fs = append(fs, Finding{LevelOK, "privilege REPLICATION CLIENT", "the user may read the source's binlog position and list its binlogs", ""})
	} else {
		fs = append(fs, Finding{LevelFail, "privilege REPLICATION CLIENT missing", "the cdc reads the source's binlog position and lists its binlogs (BINLOG MONITOR on MariaDB)", grant})
	}
	return fs
}

// privileges are the global privileges ("ON *.*") SHOW GRANTS lists, by
// name: "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO ..." has
// REPLICATION SLAVE and BINLOG MONITOR (not REPLICATION SLAVE ADMIN's
// prefix).
func privileges(grants string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(grants, "\n") {
		list, rest, ok := strings.Cut(strings.TrimPrefix(line, "GRANT "), " ON ")
		if !ok || !strings.HasPrefix(strings.TrimSpace(rest), "*.*") {
			continue
		}
		for _, p := range strings.Split(list, ",") {
			out[strings.TrimSpace(p)] = true
		}
	}
	return out
}
