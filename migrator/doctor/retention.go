package doctor

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// minRetention is the least binlog retention the doctor calls ok, however
// short the backfill: a cdc stopped over a night must find its place again.
const minRetention = 24 * time.Hour

// retention is how long the source keeps its binlogs.
type retention struct {
	keep  time.Duration // 0: never purged automatically
	rds   bool          // set by mysql.rds_set_configuration
	unset bool          // RDS's binlog retention hours is NULL: purged at once
	from  string        // the setting it was read from, with its value
	maria bool
}

// retentionChecks compares the source's binlog retention with the
// backfill's estimated time: the cdc starts from the position recorded
// before the backfill, so the binlogs from there on must outlive it.
func (d *Doctor) retentionChecks(ctx context.Context, est estimate) ([]Check, error) {
	r, err := readRetention(ctx, d.Source)
	if err != nil {
		return nil, err
	}
	return judgeRetention(r, est), nil
}

// judgeRetention is the verdict on retention r for a backfill of est.
func judgeRetention(r retention, est estimate) []Check {
	what := "binlog retention"
	why := "the cdc reads the binlog from the position recorded before the backfill"
	want := max(minRetention, 2*est.time)
	switch {
	case r.unset:
		return []Check{{Fail, what + " (RDS: unset)", "RDS purges binlogs as soon as no replica needs them, before a cdc started after the backfill could read them; " + why,
			r.fix(want)}}
	case r.keep == 0:
		return []Check{{OK, what + " (" + r.from + ")", "binlogs are never purged automatically: " + why + "; watch the disk", ""}}
	case est.known && r.keep < est.time:
		return []Check{{Fail, what + " " + durText(r.keep) + " (" + r.from + ")", fmt.Sprintf("shorter than the backfill's estimated %s: %s", durText(est.time), why), r.fix(want)}}
	case r.keep < want:
		return []Check{{Warn, what + " " + durText(r.keep) + " (" + r.from + ")", fmt.Sprintf("less than twice the backfill's estimated time, or a day: a cdc stopped for long loses its place (%s)", why), r.fix(want)}}
	}
	if !est.known || est.time == 0 {
		return []Check{{OK, what + " " + durText(r.keep) + " (" + r.from + ")", "a day or more (the backfill's time is not estimated or nil): " + why, ""}}
	}
	return []Check{{OK, what + " " + durText(r.keep) + " (" + r.from + ")", fmt.Sprintf("at least twice the backfill's estimated %s and a day: %s", durText(est.time), why), ""}}
}

// fix says how to keep binlogs for want.
func (r retention) fix(want time.Duration) string {
	hours := int64(math.Ceil(want.Hours()))
	switch {
	case r.rds:
		return fmt.Sprintf("CALL mysql.rds_set_configuration('binlog retention hours', %d)", hours)
	case r.maria:
		return fmt.Sprintf("SET GLOBAL binlog_expire_logs_seconds = %d, and in the server's config", hours*3600)
	}
	return fmt.Sprintf("SET PERSIST binlog_expire_logs_seconds = %d (MySQL 5.7: expire_logs_days = %d in the server's config)", hours*3600, (hours+23)/24)
}

// readRetention reads the binlog retention: RDS and Aurora's binlog
// retention hours where mysql.rds_show_configuration exists, else
// binlog_expire_logs_seconds (MySQL 8, MariaDB 10.6+) or expire_logs_days.
func readRetention(ctx context.Context, db *sql.DB) (retention, error) {
	var r retention
	var version string
	if err := db.QueryRowContext(ctx, "SELECT @@version").Scan(&version); err != nil {
		return r, fmt.Errorf("reading the version: %w", err)
	}
	r.maria = strings.Contains(strings.ToLower(version), "mariadb")
	var procs int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.ROUTINES
		WHERE ROUTINE_SCHEMA = 'mysql' AND ROUTINE_NAME = 'rds_show_configuration'`).Scan(&procs); err != nil {
		return r, fmt.Errorf("looking for mysql.rds_show_configuration: %w", err)
	}
	if procs > 0 {
		return rdsRetention(ctx, db, r)
	}
	vars, err := globals(ctx, db, "binlog_expire_logs_seconds", "expire_logs_days")
	if err != nil {
		return r, err
	}
	secs, _ := strconv.ParseFloat(vars["binlog_expire_logs_seconds"], 64)
	days, _ := strconv.ParseFloat(vars["expire_logs_days"], 64)
	switch {
	case secs > 0:
		r.keep, r.from = time.Duration(secs)*time.Second, "binlog_expire_logs_seconds="+vars["binlog_expire_logs_seconds"]
	case days > 0:
		r.keep, r.from = time.Duration(days*24*float64(time.Hour)), "expire_logs_days="+vars["expire_logs_days"]
	default:
		r.from = "binlog_expire_logs_seconds=0, expire_logs_days=0"
	}
	return r, nil
}

// rdsRetention reads binlog retention hours from CALL
// mysql.rds_show_configuration (columns name, value, description).
func rdsRetention(ctx context.Context, db *sql.DB, r retention) (retention, error) {
	r.rds = true
	rows, err := db.QueryContext(ctx, "CALL mysql.rds_show_configuration")
	if err != nil {
		return r, fmt.Errorf("CALL mysql.rds_show_configuration: %w", err)
	}
	defer rows.Close()
	r.unset = true
	for rows.Next() {
		var name, desc sql.NullString
		var value sql.NullString
		if err := rows.Scan(&name, &value, &desc); err != nil {
			return r, fmt.Errorf("reading mysql.rds_show_configuration: %w", err)
		}
		if !strings.EqualFold(name.String, "binlog retention hours") || !value.Valid {
			continue
		}
		h, err := strconv.ParseFloat(value.String, 64)
		if err != nil {
			return r, fmt.Errorf("mysql.rds_show_configuration: binlog retention hours %q is not a number", value.String)
		}
		r.unset, r.keep, r.from = h <= 0, time.Duration(h*float64(time.Hour)), "RDS binlog retention hours="+value.String
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("reading mysql.rds_show_configuration: %w", err)
	}
	return r, nil
}

// globals reads global variables by name; a variable the server lacks is
// absent from the map.
func globals(ctx context.Context, db *sql.DB, names ...string) (map[string]string, error) {
	q := "SHOW GLOBAL VARIABLES WHERE Variable_name IN (?" + strings.Repeat(", ?", len(names)-1) + ")"
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading %v: %w", names, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("reading %v: %w", names, err)
		}
		out[strings.ToLower(k)] = v
	}
	return out, rows.Err()
}
