package migrator_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/migrator"
)

// heldInsert is the statement the racing transaction runs.
const heldInsert = "INSERT INTO race VALUES (4, 'held')"

// holder makes the insert of row 4 a transaction binlogged but not yet
// visible: hold starts it and returns once it is in the binlog; release
// lets it commit and returns once it has.
type holder struct {
	hold    func(t *testing.T, insert func() error)
	release func(t *testing.T)
}

// checkSnapshotRace: a chunk snapshotted while a transaction is binlogged
// but not yet visible does not see it, so its stamp must not count it:
// every transaction at or below a chunk's stamp is visible in the chunk
// (docs/positions.md, The snapshot stamp). Once it committed, the next
// chunk sees it.
func checkSnapshotRace(t *testing.T, db *sql.DB, h holder) {
	ctx := context.Background()
	for _, q := range []string{
		"CREATE TABLE race (id BIGINT PRIMARY KEY, note VARCHAR(20) NOT NULL)",
		"INSERT INTO race VALUES (1, 'a'), (2, 'b'), (3, 'c')",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	m, err := codec.Resolve(ctx, db, codec.Config{Table: "race", Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	in := migrator.NewInspector(db, m)
	h.hold(t, func() error {
		_, err := db.Exec(heldInsert)
		return err
	})
	var visible int
	if err := db.QueryRow("SELECT COUNT(*) FROM race WHERE id = 4").Scan(&visible); err != nil || visible != 0 {
		t.Fatalf("the held transaction is visible (%d, %v): the hold does not hold", visible, err)
	}
	during, err := in.ReadChunk(ctx, migrator.Bound{}, migrator.Bound{})
	if err != nil {
		t.Fatal(err)
	}
	h.release(t)
	held, err := position.Current(ctx, db) // the held transaction is the last one
	if err != nil {
		t.Fatal(err)
	}
	after, err := in.ReadChunk(ctx, migrator.Bound{}, migrator.Bound{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(during.Rows); n != 3 {
		t.Errorf("the chunk read during the hold has %d rows, want 3 (the held row is not visible)", n)
	}
	if c, err := position.Compare(during.Pos, held); err != nil || c >= 0 {
		t.Errorf("stamp %s of the chunk that does not see the held transaction counts it (held at %s): %d, %v", during.Pos, held, c, err)
	}
	if n := len(after.Rows); n != 4 {
		t.Errorf("the chunk read after the commit has %d rows, want 4", n)
	}
	if held.Kind != position.File { // a file stamp is the file's start: a bound, not exact
		if c, err := position.Compare(after.Pos, held); err != nil || c < 0 {
			t.Errorf("stamp %s of the chunk that sees the held transaction is below it (%s): %d, %v", after.Pos, held, c, err)
		}
	}
}

// TestSnapshotRaceMariaDB holds the transaction with semi-synchronous
// replication waiting AFTER_SYNC for a replica that never acknowledges: it
// is in the binlog (and in @@gtid_binlog_pos) but not committed. A private
// server: the setting is GLOBAL.
func TestSnapshotRaceMariaDB(t *testing.T) {
	db, err := sql.Open("mysql", stacktest.PrivateMariaDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	done := make(chan error, 1)
	checkSnapshotRace(t, db, holder{
		hold: func(t *testing.T, insert func() error) {
			var before string
			if err := db.QueryRow("SELECT @@GLOBAL.gtid_binlog_pos").Scan(&before); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				"SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'",
				"SET GLOBAL rpl_semi_sync_master_timeout = 600000",
				"SET GLOBAL rpl_semi_sync_master_enabled = ON",
			} {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			go func() { done <- insert() }()
			waitUntil(t, "the held transaction is in the binlog", func() bool {
				var now string
				return db.QueryRow("SELECT @@GLOBAL.gtid_binlog_pos").Scan(&now) == nil && now != before
			})
		},
		release: func(t *testing.T) {
			if _, err := db.Exec("SET GLOBAL rpl_semi_sync_master_enabled = OFF"); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("the held insert: %v", err)
			}
		},
	})
}

// waitUntil polls cond every 10ms for up to 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}
