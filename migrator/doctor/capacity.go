package doctor

import (
	"fmt"
	"math"
	"time"

	"github.com/anycompany/strangler/internal/guard"
)

// estimate is the backfill's estimated time, for the retention check.
type estimate struct {
	known bool
	time  time.Duration
}

// capacityChecks estimates the write capacity the backfill needs and its
// time at backfill.max_wcu (or, unthrottled, at what the table takes at
// once). The backfill's limiter counts the table's units (a guarded
// TransactWriteItems costs twice a put); the listing index is written
// besides for every item that carries its two attributes.
func (d *Doctor) capacityChecks(tbl tableFacts, ddb tablesFacts) (estimate, []Check) {
	if !tbl.ok || !ddb.ok {
		return estimate{}, nil
	}
	b := d.Migrator.Backfill
	if tbl.rows == 0 || tbl.sampled == 0 {
		return estimate{known: true}, []Check{{OK, "backfill time", "the table is empty: nothing to copy", ""}}
	}
	factor := 1.0
	if b.WriteMode == guard.Transact {
		factor = 2
	}
	items := float64(tbl.rows)
	base := items * tbl.units * factor
	ceiling, limitedBy := ddb.table.wcu, "the table's "+capacityText(ddb.table)
	assumed := !ddb.table.reported
	need := fmt.Sprintf("%s items x %.2f units (1 KB each) x %.0f (%s) = %s write units on the table", count(tbl.rows), tbl.units, factor, b.WriteMode, count(int64(math.Ceil(base))))
	if ddb.gsi != nil && tbl.indexed > 0 {
		gsi := items * tbl.indexed * tbl.units
		need += fmt.Sprintf(", plus %s on index %s (every item that has %s and %s is written there too)", count(int64(math.Ceil(gsi))), d.Migrator.Index.Name, d.Migrator.Index.Partition, d.Migrator.Index.Sort)
		if bound := ddb.gsi.wcu * factor / tbl.indexed; bound < ceiling {
			ceiling, limitedBy = bound, "index "+d.Migrator.Index.Name+"'s "+capacityText(*ddb.gsi)
			assumed = !ddb.gsi.reported
		}
	}
	cs := []Check{{OK, "write capacity", need, ""}}
	if assumed {
		limitedBy += " (AWS's default of 4,000 units/s for a new on-demand table: DescribeTable reports none)"
	}
	at := func(rate float64) time.Duration { return time.Duration(base / rate * float64(time.Second)) }
	switch {
	case b.MaxWCU == 0:
		t := at(ceiling)
		return estimate{true, t}, append(cs, Check{OK, "backfill time", fmt.Sprintf("at least %s unthrottled (backfill.max_wcu 0), at the %.0f units/s of %s", durText(t), ceiling, limitedBy), ""})
	case float64(b.MaxWCU) > ceiling:
		t := at(ceiling)
		until := ""
		if ddb.table.onDemand {
			until = " until it scales"
		}
		return estimate{true, t}, append(cs, Check{Warn, "backfill time", fmt.Sprintf("about %s: backfill.max_wcu %d is more than the %.0f units/s of %s, so writes are throttled and retried%s",
			durText(t), b.MaxWCU, ceiling, limitedBy, until), d.warmFix(ddb, b.MaxWCU, ceiling)})
	}
	t := at(float64(b.MaxWCU))
	return estimate{true, t}, append(cs, Check{OK, "backfill time", fmt.Sprintf("about %s at backfill.max_wcu %d units/s, within the %.0f units/s of %s", durText(t), b.MaxWCU, ceiling, limitedBy), ""})
}

// warmFix says how to make the table take max units a second.
func (d *Doctor) warmFix(ddb tablesFacts, maxWCU int, ceiling float64) string {
	lower := fmt.Sprintf("or lower backfill.max_wcu to %.0f", ceiling)
	if !ddb.table.onDemand {
		return fmt.Sprintf("raise the provisioned write capacity of %s (and its index) to %d units, %s", d.Migrator.Table, maxWCU, lower)
	}
	return fmt.Sprintf("pre-warm: aws dynamodb update-table --table-name %s --warm-throughput WriteUnitsPerSecond=%d (and the index, with --global-secondary-index-updates), %s",
		d.Migrator.Table, maxWCU, lower)
}

func capacityText(c capacity) string {
	if c.onDemand {
		return "on-demand warm throughput"
	}
	return "provisioned write capacity"
}

// durText renders d to the second, days and hours first: "1d2h", "3h05m", "42s".
func durText(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s >= 86400 && s%86400/3600 == 0:
		return fmt.Sprintf("%dd", s/86400)
	case s >= 86400:
		return fmt.Sprintf("%dd%dh", s/86400, s%86400/3600)
	case s >= 3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	case s >= 60:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s == 0 && d > 0:
		return "under a second"
	}
	return fmt.Sprintf("%ds", s)
}

// count renders n with thousands separators: 1,234,567.
func count(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// bytesText renders n bytes in binary units: 512 B, 1.5 MiB.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
