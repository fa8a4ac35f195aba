package doctor

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/migrator"
)

func TestCapacityEstimate(t *testing.T) {
	million := tableFacts{ok: true, rows: 1_000_000, sampled: 1000, units: 1, size: 600, indexed: 1}
	onDemand := tablesFacts{ok: true, table: capacity{wcu: 4000, onDemand: true}, gsi: &capacity{wcu: 4000, onDemand: true}}
	cases := []struct {
		name    string
		mode    guard.Mode
		maxWCU  int
		tbl     tableFacts
		ddb     tablesFacts
		level   Level
		time    time.Duration
		why     string // in the backfill time check
		fix     string
		written string // in the write capacity check
	}{
		{"transact at max_wcu", guard.Transact, 1000, million, onDemand, OK, 2000 * time.Second, "about 33m20s at backfill.max_wcu 1000", "",
			"1,000,000 items x 1.00 units (1 KB each) x 2 (transact) = 2,000,000 write units on the table, plus 1,000,000 on index by_customer"},
		{"batch at max_wcu", guard.Batch, 1000, million, onDemand, OK, 1000 * time.Second, "about 16m40s", "", "x 1 (batch) = 1,000,000"},
		{"unthrottled, on-demand warm", guard.Transact, 0, million, onDemand, OK, 500 * time.Second, "at least 8m20s unthrottled", "", ""},
		{"unthrottled, the GSI bounds", guard.Put, 0, million,
			tablesFacts{ok: true, table: capacity{wcu: 4000, onDemand: true, reported: true}, gsi: &capacity{wcu: 1000, onDemand: true, reported: true}},
			OK, 1000 * time.Second, "at the 1000 units/s of index by_customer's on-demand warm throughput", "", ""},
		{"max_wcu over warm throughput", guard.Transact, 10000, million, onDemand, Warn, 500 * time.Second,
			"backfill.max_wcu 10000 is more than the 4000 units/s of the table's on-demand warm throughput (AWS's default of 4,000 units/s for a new on-demand table: DescribeTable reports none), so writes are throttled and retried until it scales", "--warm-throughput WriteUnitsPerSecond=10000", ""},
		{"max_wcu over provisioned", guard.Put, 500, million, tablesFacts{ok: true, table: capacity{wcu: 100, reported: true}}, Warn, 10000 * time.Second,
			"more than the 100 units/s of the table's provisioned write capacity, so writes are throttled and retried", "raise the provisioned write capacity", ""},
		{"2.5 KB items", guard.Put, 300, tableFacts{ok: true, rows: 900, sampled: 900, units: 3}, onDemand, OK, 9 * time.Second, "about 9s", "", "x 3.00 units"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &Doctor{Migrator: migrator.DefaultConfig()}
			d.Migrator.Backfill.WriteMode, d.Migrator.Backfill.MaxWCU = tc.mode, tc.maxWCU
			est, cs := d.capacityChecks(tc.tbl, tc.ddb)
			if !est.known || est.time != tc.time {
				t.Errorf("estimate %+v, want %v", est, tc.time)
			}
			if len(cs) != 2 {
				t.Fatalf("checks %+v", cs)
			}
			c := cs[1]
			if c.Level != tc.level || !strings.Contains(c.Why, tc.why) || !strings.Contains(c.Fix, tc.fix) || (tc.fix == "") != (c.Fix == "") {
				t.Errorf("backfill time %+v: want %s, why with %q, fix with %q", c, tc.level, tc.why, tc.fix)
			}
			if !strings.Contains(cs[0].Why, tc.written) {
				t.Errorf("write capacity %q lacks %q", cs[0].Why, tc.written)
			}
		})
	}
	d := &Doctor{Migrator: migrator.DefaultConfig()}
	if est, cs := d.capacityChecks(tableFacts{ok: true}, onDemand); !est.known || est.time != 0 || len(cs) != 1 || !strings.Contains(cs[0].Why, "empty") {
		t.Errorf("empty table: %+v %+v", est, cs)
	}
	if est, cs := d.capacityChecks(million, tablesFacts{}); est.known || cs != nil {
		t.Errorf("no DynamoDB facts: %+v %+v", est, cs)
	}
}

func TestJudgeRetention(t *testing.T) {
	hour := time.Hour
	cases := []struct {
		name  string
		r     retention
		est   estimate
		level Level
		fix   string
	}{
		{"never purged", retention{from: "binlog_expire_logs_seconds=0, expire_logs_days=0"}, estimate{true, 100 * hour}, OK, ""},
		{"two days for an hour", retention{keep: 48 * hour, maria: true}, estimate{true, hour}, OK, ""},
		{"shorter than the backfill", retention{keep: hour, maria: true}, estimate{true, 2 * hour}, Fail, "SET GLOBAL binlog_expire_logs_seconds = 86400"},
		{"under twice the backfill", retention{keep: 30 * hour}, estimate{true, 20 * hour}, Warn, "SET PERSIST binlog_expire_logs_seconds = 144000 (MySQL 5.7: expire_logs_days = 2"},
		{"under a day, backfill unknown", retention{keep: 12 * hour, maria: true}, estimate{}, Warn, "86400"},
		{"a day, backfill unknown", retention{keep: 24 * hour}, estimate{}, OK, ""},
		{"RDS unset", retention{rds: true, unset: true}, estimate{true, hour}, Fail, "CALL mysql.rds_set_configuration('binlog retention hours', 24)"},
		{"RDS too short", retention{rds: true, keep: 24 * hour}, estimate{true, 30 * hour}, Fail, "CALL mysql.rds_set_configuration('binlog retention hours', 60)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := judgeRetention(tc.r, tc.est)
			if len(cs) != 1 || cs[0].Level != tc.level || !strings.Contains(cs[0].Fix, tc.fix) || (tc.fix == "") != (cs[0].Fix == "") {
				t.Errorf("%+v: want %s with fix %q", cs, tc.level, tc.fix)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	cs := []Check{
		{OK, "config", "same", ""},
		{Fail, "binlog_format=STATEMENT", "the cdc needs\tROW", "SET GLOBAL binlog_format = 'ROW'"},
	}
	var tsv, aligned, js bytes.Buffer
	if err := Write(&tsv, cs, TSV); err != nil {
		t.Fatal(err)
	}
	want := "ok\tconfig\tsame\t\nfail\tbinlog_format=STATEMENT\tthe cdc needs ROW\tSET GLOBAL binlog_format = 'ROW'\n"
	if diff := cmp.Diff(want, tsv.String()); diff != "" {
		t.Errorf("TSV (-want +got):\n%s", diff)
	}
	if err := Write(&aligned, cs, Aligned); err != nil {
		t.Fatal(err)
	}
	want = "ok    config                   same\n" +
		"fail  binlog_format=STATEMENT  the cdc needs ROW  fix: SET GLOBAL binlog_format = 'ROW'\n"
	if diff := cmp.Diff(want, aligned.String()); diff != "" {
		t.Errorf("aligned (-want +got):\n%s", diff)
	}
	if err := Write(&js, cs, JSON); err != nil {
		t.Fatal(err)
	}
	var got struct {
		OK             bool
		Failed, Warned int
		Checks         []Check
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil || got.OK || got.Failed != 1 || got.Warned != 0 || !cmp.Equal(got.Checks, cs) {
		t.Errorf("JSON %v:\n%s", err, js.String())
	}
}

func TestTexts(t *testing.T) {
	for in, want := range map[time.Duration]string{
		0: "0s", 400 * time.Millisecond: "under a second", 42 * time.Second: "42s", 2000 * time.Second: "33m20s",
		3*time.Hour + 5*time.Minute: "3h05m", 48 * time.Hour: "2d", 50 * time.Hour: "2d2h",
	} {
		if got := durText(in); got != want {
			t.Errorf("durText(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := count(in); got != want {
			t.Errorf("count(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{512: "512 B", 1536: "1.5 KiB", 3 << 30: "3.0 GiB"} {
		if got := bytesText(in); got != want {
			t.Errorf("bytesText(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigChecks(t *testing.T) {
	d := &Doctor{Migrator: migrator.DefaultConfig()}
	m := d.Migrator
	d.CDC = CDC{DSN: "cdc:cdc@tcp(127.0.0.1:3307)/strangler", Table: m.Table, ControlTable: m.ControlTable, Mapping: m.Mapping}
	d.CDC.Mapping.Columns = []codec.ColumnConfig{} // `columns: []` in one file, absent in the other
	if cs := d.configChecks(); len(cs) != 1 || cs[0].Level != OK {
		t.Errorf("same configs: %+v", cs)
	}
	d.CDC.Mapping.Exclude = []string{"notes"}
	d.CDC.Table = "orders2"
	d.CDC.DSN = "cdc:cdc@tcp(127.0.0.1:3307)/other"
	cs := d.configChecks()
	if len(cs) != 1 || cs[0].Level != Fail || !strings.Contains(cs[0].Why, "differ in mapping, table (orders, orders2), mysql.dsn (127.0.0.1:3307/strangler, 127.0.0.1:3307/other): the cdc") {
		t.Errorf("different configs: %+v", cs)
	}
}
