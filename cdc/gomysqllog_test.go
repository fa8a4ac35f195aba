package cdc

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
)

// TestGoMySQLLogger: creating and closing a BinlogSyncer logs no config
// dump (JSON cannot encode it: "!ERROR:json: unsupported type") and no
// info line; go-mysql's lines come as debug lines, its warnings as they
// are.
func TestGoMySQLLogger(t *testing.T) {
	syncer := func(wrap bool) string {
		var buf bytes.Buffer
		l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		if wrap {
			l = goMySQLLogger(l)
		}
		replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: 1, Flavor: "mariadb", Logger: l}).Close()
		l.Warn("a warning")
		return buf.String()
	}
	if plain := syncer(false); !strings.Contains(plain, "unsupported type") {
		t.Fatalf("go-mysql's own logging no longer shows the bad config line; this test checks nothing:\n%s", plain)
	}
	got := syncer(true)
	for _, bad := range []string{"unsupported type", "create BinlogSyncer", `"level":"INFO"`} {
		if strings.Contains(got, bad) {
			t.Errorf("the log holds %q:\n%s", bad, got)
		}
	}
	for _, want := range []string{`"level":"DEBUG","msg":"syncer is closing..."`, `"level":"WARN","msg":"a warning","component":"go-mysql"`} {
		if !strings.Contains(got, want) {
			t.Errorf("the log lacks %s:\n%s", want, got)
		}
	}
}
