// Package doctor is `strangler doctor`: before the first row moves, it
// checks whether a migration will work, and says for each check what it
// found, why it matters and what to do. It reads what the parts read (the
// migrator's and the cdc's configuration) and asks what they would ask:
//
//   - the source as the cdc sees it (binlog settings, GTID mode, the cdc
//     user's privileges: the cdc's own Inspector, given as Inspect);
//   - the table: a one-column primary key, columns the codec maps, rows and
//     bytes, and binlog retention against the backfill's estimated time;
//   - the DynamoDB tables, the listing GSI and the tombstones' TTL;
//   - the write capacity the backfill needs and its time at backfill.max_wcu;
//   - the event bus and whether its rules hear the cdc's events.
//
// Every problem is a Check of its own, never an error: one run lists them
// all.
package doctor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/migrator"
)

// Level is a check's verdict.
type Level string

// The levels: ok, warn (it works, but read why) and fail (the migration
// will not work until it is fixed).
const (
	OK   Level = "ok"
	Warn Level = "warn"
	Fail Level = "fail"
)

// Check is one line of the report. Fix is empty when nothing is to be
// done. It may be copied.
type Check struct {
	Level Level  `json:"level"`
	What  string `json:"what"`
	Why   string `json:"why"`
	Fix   string `json:"fix,omitempty"`
}

// ErrFailed is returned by Run when a check failed; the report says which.
var ErrFailed = errors.New("the migration will not work as configured")

// Failed counts the failed checks of cs.
func Failed(cs []Check) int {
	n := 0
	for _, c := range cs {
		if c.Level == Fail {
			n++
		}
	}
	return n
}

// CDC is the part of the cdc's configuration (configs/cdc.yaml) the doctor
// checks. It may be copied.
type CDC struct {
	// DSN is the cdc's source (mysql.dsn).
	DSN string
	// Table, ControlTable and Mapping must name what the migrator's do.
	Table, ControlTable string
	Mapping             codec.Config
	// EventBridge is the bus's endpoint; Bus ("" is the default bus) and
	// Source are what the cdc publishes with, DetailTypes the types its
	// rules give events.
	EventBridge awsconf.Endpoint
	Bus, Source string
	DetailTypes []string
}

// Doctor runs the checks. Build one with a literal; every field is
// required. It holds no state between runs.
type Doctor struct {
	// Migrator is the migrator's configuration (configs/migrator.yaml).
	Migrator migrator.Config
	// CDC is the cdc's (configs/cdc.yaml).
	CDC CDC
	// Source is the migrator's source database (Migrator.MySQL.DSN).
	Source *sql.DB
	// Inspect returns the cdc's own checks of its source (binlog settings,
	// GTID mode, privileges), as cdc.Inspector.Findings makes them; an
	// error means the source could not be read.
	Inspect func(ctx context.Context) ([]Check, error)
	// DynamoDB reads the tables.
	DynamoDB TablesAPI
	// Bus reads the event bus.
	Bus BusAPI
	// Timeout bounds each group of checks. Optional: defaults to 20s.
	Timeout time.Duration
}

// Run runs every check, in the order a reader fixes them, and returns
// them with ErrFailed when one failed.
func (d *Doctor) Run(ctx context.Context) ([]Check, error) {
	var out []Check
	add := func(cs ...Check) { out = append(out, cs...) }
	add(d.configChecks()...)
	add(d.group(ctx, "cdc source", "configs/cdc.yaml mysql.dsn", d.Inspect)...)

	var tbl tableFacts
	add(d.group(ctx, "table "+d.Migrator.Mapping.Table, "configs/migrator.yaml mysql.dsn", func(ctx context.Context) ([]Check, error) {
		var cs []Check
		var err error
		tbl, cs, err = d.tableChecks(ctx)
		return cs, err
	})...)

	var ddb tablesFacts
	add(d.group(ctx, "dynamodb", "configs/migrator.yaml dynamodb.url and region, and AWS credentials", func(ctx context.Context) ([]Check, error) {
		var cs []Check
		var err error
		ddb, cs, err = d.tablesChecks(ctx)
		return cs, err
	})...)

	est, cs := d.capacityChecks(tbl, ddb)
	add(cs...)
	if tbl.reached { // else the table's check said why
		add(d.group(ctx, "binlog retention", "configs/migrator.yaml mysql.dsn", func(ctx context.Context) ([]Check, error) {
			return d.retentionChecks(ctx, est)
		})...)
	}
	add(d.group(ctx, "event bus", "configs/cdc.yaml eventbridge.url and region, and AWS credentials", d.busChecks)...)
	if Failed(out) > 0 {
		return out, ErrFailed
	}
	return out, nil
}

// group runs one group of checks under the timeout; an error (what could
// not be read) becomes one failed check naming where the address is set.
func (d *Doctor) group(ctx context.Context, what, where string, run func(context.Context) ([]Check, error)) []Check {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cs, err := run(ctx)
	if err != nil {
		cs = append(cs, Check{Fail, what, "cannot be read: " + err.Error(), "check " + where + ", and that it is up and reachable from here"})
	}
	return cs
}

// configChecks compares the cdc's configuration with the migrator's: both
// must copy the same table of the same source into the same tables.
func (d *Doctor) configChecks() []Check {
	m, c := d.Migrator, d.CDC
	var diff []string
	if !sameMapping(m.Mapping, c.Mapping) {
		diff = append(diff, "mapping")
	}
	if m.Table != c.Table {
		diff = append(diff, fmt.Sprintf("table (%s, %s)", m.Table, c.Table))
	}
	if m.ControlTable != c.ControlTable {
		diff = append(diff, fmt.Sprintf("control_table (%s, %s)", m.ControlTable, c.ControlTable))
	}
	mc, err1 := mysql.ParseDSN(m.MySQL.DSN.Reveal())
	cc, err2 := mysql.ParseDSN(c.DSN)
	if err1 == nil && err2 == nil && (mc.Addr != cc.Addr || mc.DBName != cc.DBName) {
		diff = append(diff, fmt.Sprintf("mysql.dsn (%s/%s, %s/%s)", mc.Addr, mc.DBName, cc.Addr, cc.DBName))
	}
	if len(diff) > 0 {
		return []Check{{Fail, "config", fmt.Sprintf("configs/migrator.yaml and configs/cdc.yaml differ in %s: the cdc would not carry on where the backfill stops", strings.Join(diff, ", ")),
			"make these keys the same in both files (or their STRANGLER_MIGRATOR_/STRANGLER_CDC_ variables)"}}
	}
	return []Check{{OK, "config", "configs/migrator.yaml and configs/cdc.yaml name the same source, table, mapping and DynamoDB tables", ""}}
}

// sameMapping compares two mappings, an empty list equal to none.
func sameMapping(a, b codec.Config) bool {
	return a.Table == b.Table && a.Key == b.Key && a.Ref == b.Ref && slices.Equal(a.Columns, b.Columns) && slices.Equal(a.Exclude, b.Exclude)
}
