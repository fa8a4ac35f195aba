package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Format is how Write prints a report.
type Format string

// The formats: Aligned columns for a terminal, TSV (one check a line, tab
// separated) for scripts and logs, JSON for programs.
const (
	Aligned Format = "aligned"
	TSV     Format = "tsv"
	JSON    Format = "json"
)

// Write prints cs in format f: one line per check, "level  what  why
// fix: …" (TSV: the four fields between tabs), or in JSON {"ok": bool, "failed": n, "warned": n, "checks": [...]}.
func Write(w io.Writer, cs []Check, f Format) error {
	switch f {
	case JSON:
		warned := 0
		for _, c := range cs {
			if c.Level == Warn {
				warned++
			}
		}
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(struct {
			OK     bool    `json:"ok"`
			Failed int     `json:"failed"`
			Warned int     `json:"warned"`
			Checks []Check `json:"checks"`
		}{Failed(cs) == 0, Failed(cs), warned, cs})
	case TSV:
		for _, c := range cs {
			if _, err := fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.Level, oneLine(c.What), oneLine(c.Why), oneLine(c.Fix)); err != nil {
				return err
			}
		}
		return nil
	}
	// Level and what are aligned; why and fix follow, as a why is often
	// longer than a terminal is wide.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range cs {
		fix := ""
		if c.Fix != "" {
			fix = "  fix: " + oneLine(c.Fix)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%s\n", c.Level, oneLine(c.What), oneLine(c.Why), fix)
	}
	return tw.Flush()
}

// oneLine keeps a field on its line and out of the other columns.
func oneLine(s string) string {
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}
