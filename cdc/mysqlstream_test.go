package cdc_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/mysqlsource"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/internal/stacktest"
)

// mysqlSource starts the MySQL test source (devstack/mysqlsource) of
// version in front of a fresh database of the local MariaDB; it returns the
// source, a connection through it and the address the cdc reads from.
func mysqlSource(t *testing.T, version string) (*mysqlsource.Source, *sql.DB, cdc.SourceAddr) {
	t.Helper()
	dsn := stacktest.MySQLDatabase(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	src, err := mysqlsource.Start(context.Background(), mysqlsource.Config{Backend: dsn, Database: cfg.DBName, Version: version,
		ServerUUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	front, err := src.DSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", front)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	host, port := src.HostPort()
	return src, db, cdc.SourceAddr{Host: host, Port: port, User: cfg.User, Password: cfg.Passwd, Schema: cfg.DBName, ServerID: 4242}
}

// streamFrom runs a Streamer of table from `from` until the test ends and
// returns its transactions' channel.
func streamFrom(t *testing.T, db *sql.DB, addr cdc.SourceAddr, table string, from position.Position) <-chan cdc.Txn {
	t.Helper()
	mc := codec.Config{Table: table, Key: "id"}
	m, err := codec.Resolve(context.Background(), db, mc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan cdc.Txn, 16)
	done := make(chan error, 1)
	s := cdc.NewStreamer(cdc.StreamerDeps{Addr: addr, DB: db, MappingConfig: mc, Mapping: m, Logger: slog.New(slog.DiscardHandler)})
	go func() { done <- s.Run(ctx, from, out) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return out
}

// next is the next transaction with changes of the mapped table.
func next(t *testing.T, txns <-chan cdc.Txn) cdc.Txn {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case txn := <-txns:
			if len(txn.Changes) > 0 {
				return txn
			}
		case <-deadline:
			t.Fatal("no transaction from the stream within 20s")
		}
	}
}

// TestStreamMySQLPositions reads a MySQL source over the replication
// protocol: with GTIDs, each transaction's position is the executed set
// after it (two server uuids once the source switched uuid, as a failover
// does), its number one higher than the last; without, file:offset of its
// end across a rotation. Both resume exactly from a transaction's position.
func TestStreamMySQLPositions(t *testing.T) {
	for _, tc := range []struct{ version, mode string }{{"8.0.36", "ON"}, {"8.0.36", "OFF"}, {"8.4.3", "ON"}, {"8.4.3", "OFF"}, {"5.7.44-log", "ON"}} {
		version, mode := tc.version, tc.mode
		t.Run(version+"/gtid_mode="+mode, func(t *testing.T) {
			ctx := context.Background()
			src, db, addr := mysqlSource(t, version)
			src.Set("gtid_mode", mode)
			for _, q := range []string{"CREATE TABLE items (id BIGINT PRIMARY KEY, note VARCHAR(20) NOT NULL)", "INSERT INTO items VALUES (1, 'a')"} {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			from, err := position.Current(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			txns := streamFrom(t, db, addr, "items", from)
			mustExec(t, db, "INSERT INTO items VALUES (2, 'b')")
			first := src.Files()[len(src.Files())-1]
			second := src.Rotate()
			if mode == "ON" {
				if err := src.SetServerUUID("9c1d5b2e-0000-11ef-8000-000000000002"); err != nil {
					t.Fatal(err)
				}
			}
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{"INSERT INTO items VALUES (3, 'c')", "UPDATE items SET note = 'a2' WHERE id = 1"} {
				if _, err := tx.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			got := []cdc.Txn{next(t, txns), next(t, txns)}
			now, err := position.Current(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			checkPositions(t, mode, from, got, now, first, second)

			// Resuming after the first transaction reads the second again,
			// at the same position.
			again := next(t, streamFrom(t, db, addr, "items", got[0].Pos))
			if again.Pos != got[1].Pos || len(again.Changes) != 2 {
				t.Errorf("resumed after %s: got %s with %d changes, want %s with 2", got[0].Pos, again.Pos, len(again.Changes), got[1].Pos)
			}
		})
	}
}

func checkPositions(t *testing.T, mode string, from position.Position, got []cdc.Txn, now position.Position, first, second string) {
	t.Helper()
	for i, txn := range got {
		if c, err := position.Compare(from, txn.Pos); err != nil || c >= 0 {
			t.Errorf("transaction %d at %s is not after the start %s: %d, %v", i, txn.Pos, from, c, err)
		}
		for j, ch := range txn.Changes {
			if ch.Pos != txn.Pos.At(uint32(j)) {
				t.Errorf("change %d of %s at %s", j, txn.Pos, ch.Pos)
			}
		}
	}
	if now.At(0) != got[1].Pos {
		t.Errorf("the last transaction's position %s is not the source's (%s)", got[1].Pos, now)
	}
	if mode == "ON" {
		if got[0].Pos.Kind != position.GTIDSet || got[0].Pos.Seq != from.Seq+1 || got[1].Pos.Seq != from.Seq+2 {
			t.Errorf("GTID set positions %s, %s after %s: want sizes +1, +2", got[0].Pos, got[1].Pos, from)
		}
		if !strings.HasPrefix(got[1].Pos.Set, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-") || !strings.HasSuffix(got[1].Pos.Set, ",9c1d5b2e-0000-11ef-8000-000000000002:1") {
			t.Errorf("executed set %q: want the first uuid's and the second's", got[1].Pos.Set)
		}
		return
	}
	if got[0].Pos.Kind != position.File || got[0].Pos.File != first || got[1].Pos.File != second {
		t.Errorf("file positions %s, %s: want in %s, then %s", got[0].Pos, got[1].Pos, first, second)
	}
}

func mustExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestFindingsMySQLSource: the MySQL test source of 8.4 passes (its renamed
// statements answered), and PARTIAL_JSON and a GTID mode transition are
// refused, naming the setting.
func TestFindingsMySQLSource(t *testing.T) {
	ctx := context.Background()
	src, db, _ := mysqlSource(t, "8.4.3")
	in := cdc.NewInspector(db)
	if err := in.CheckSource(ctx); err != nil {
		t.Fatalf("CheckSource on MySQL 8.4: %v", err)
	}
	s, err := in.Read(ctx)
	if err != nil || s.MariaDB() || s.Major != 8 || s.Minor != 4 {
		t.Fatalf("Read = %+v, %v; want MySQL 8.4", s, err)
	}
	for name, value := range map[string]string{"binlog_row_value_options": "PARTIAL_JSON", "gtid_mode": "ON_PERMISSIVE", "binlog_row_image": "MINIMAL"} {
		old := src.Var(name)
		src.Set(name, value)
		err := in.CheckSource(ctx)
		src.Set(name, old)
		if !errors.Is(err, cdc.ErrSource) || !strings.Contains(err.Error(), name+"="+value) || !strings.Contains(err.Error(), "Fix:") {
			t.Errorf("CheckSource with %s=%s: %v; want ErrSource naming it and a fix", name, value, err)
		}
	}
}

// TestStreamMySQLRefusals: a start whose transactions the source purged
// stops the stream with ErrPositionPurged (not retried); a start holding a
// GTID the source never executed (a failover that lost it, or another
// server) is refused at start with ErrSource naming the failover step.
func TestStreamMySQLRefusals(t *testing.T) {
	ctx := context.Background()
	src, db, addr := mysqlSource(t, "8.0.36")
	mustExec(t, db, "CREATE TABLE items (id BIGINT PRIMARY KEY, note VARCHAR(20) NOT NULL)")
	old, err := position.Current(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "INSERT INTO items VALUES (1, 'a')")
	if err := src.PurgeTo(src.Rotate()); err != nil {
		t.Fatal(err)
	}
	mc := codec.Config{Table: "items", Key: "id"}
	m, err := codec.Resolve(ctx, db, mc)
	if err != nil {
		t.Fatal(err)
	}
	s := cdc.NewStreamer(cdc.StreamerDeps{Addr: addr, DB: db, MappingConfig: mc, Mapping: m, Logger: slog.New(slog.DiscardHandler)})
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.Run(rctx, old, make(chan cdc.Txn, 1)); !errors.Is(err, cdc.ErrPositionPurged) {
		t.Errorf("streaming from the purged %s: %v, want ErrPositionPurged", old, err)
	}

	now, err := position.Current(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	lost, err := position.ParseMySQLGTIDSet(now.Set + ",9c1d5b2e-0000-11ef-8000-000000000002:1-5")
	if err != nil {
		t.Fatal(err)
	}
	in := cdc.NewInspector(db)
	if err := in.CheckStart(ctx, lost); !errors.Is(err, cdc.ErrSource) || !strings.Contains(err.Error(), "Failover") {
		t.Errorf("CheckStart(%s) on a source at %s: %v, want ErrSource naming the failover step", lost, now, err)
	}
	if err := in.CheckStart(ctx, now); err != nil {
		t.Errorf("CheckStart at the source's own position: %v", err)
	}
	file, _ := position.FilePosition(src.Files()[0], 4)
	if err := in.CheckStart(ctx, file); !errors.Is(err, cdc.ErrSource) {
		t.Errorf("CheckStart from a file position on a GTID source: %v, want ErrSource", err)
	}
}

// TestReplicaStatusMySQLVersions: the Inspector asks each MySQL version
// for its replica status with the statement it has (SHOW SLAVE STATUS
// before 8.0.22, SHOW REPLICA STATUS from then on, the only one on 8.4),
// and the source refuses the other one, as MySQL does, so a wrong choice
// fails CheckSource rather than reading as "not a replica".
func TestReplicaStatusMySQLVersions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ version, has, hasNot string }{
		{"5.7.44-log", "SHOW SLAVE STATUS", "SHOW REPLICA STATUS"},
		{"8.0.21", "SHOW SLAVE STATUS", "SHOW REPLICA STATUS"},
		{"8.0.36", "SHOW REPLICA STATUS", ""},
		{"8.4.3", "SHOW REPLICA STATUS", "SHOW SLAVE STATUS"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			_, db, _ := mysqlSource(t, tc.version)
			in := cdc.NewInspector(db)
			s, err := in.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := cdc.ReplicaStatusStatement(s); got != tc.has {
				t.Errorf("replica status statement on %s: %q, want %q", tc.version, got, tc.has)
			}
			if err := in.CheckSource(ctx); err != nil {
				t.Errorf("CheckSource on %s: %v", tc.version, err)
			}
			if tc.hasNot != "" {
				if _, err := db.Exec(tc.hasNot); err == nil {
					t.Errorf("%s on %s: no error, want MySQL's syntax error", tc.hasNot, tc.version)
				}
			}
		})
	}
}
