package doctor_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/devstack/eventbus/bustest"
	"github.com/anycompany/strangler/devstack/loadgen"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/legacy"
	"github.com/anycompany/strangler/migrator"
	"github.com/anycompany/strangler/migrator/doctor"
)

// server is a MySQL server to check: its admin DSN (no database) and the
// cdc user's name and password on it.
type server struct {
	admin           string
	cdcUser, cdcPwd string
}

// localStack is the shared MariaDB of scripts/stack.sh, with its cdc user.
func localStack() server {
	return server{admin: stacktest.MySQLDSN(), cdcUser: "cdc", cdcPwd: "cdc"}
}

// fixture is a seeded legacy table, its DynamoDB tables (migrate init) and
// a bus with the shipped rules: everything a migration needs, all ok.
type fixture struct {
	t      *testing.T // the test the fixture lives for
	srv    server
	db     *sql.DB // admin, on the test database
	dsn    string  // admin, on the test database
	dbName string
	ddb    *dynamodb.Client
	bus    *bustest.Bus
	d      *doctor.Doctor
}

func newFixture(t *testing.T, srv server, rows int64) *fixture {
	t.Helper()
	ctx := t.Context()
	dsn, name := createDatabase(t, srv.admin)
	db, err := legacy.OpenDB(legacy.MySQLConfig{DSN: config.Secret(dsn), MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := legacy.NewSchemaMigrator(db).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := loadgen.NewSeeder(db, loadgen.DefaultConfig(), slog.New(slog.DiscardHandler)).Seed(ctx, rows); err != nil {
		t.Fatalf("seeding: %v", err)
	}
	src, err := migrator.OpenSource(config.Secret(dsn), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	f := &fixture{t: t, srv: srv, db: db, dsn: dsn, dbName: name, ddb: stacktest.DynamoDB(t), bus: bustest.Start(t, shippedRules(t))}
	mcfg := migrator.DefaultConfig()
	mcfg.MySQL.DSN = config.Secret(dsn)
	mcfg.DynamoDB = stacktest.DynamoDBEndpoint()
	mcfg.Table = stacktest.TableName(t, f.ddb, "orders")
	mcfg.ControlTable = stacktest.TableName(t, f.ddb, "control")
	mcfg.MetricsListen = ""
	if err := mcfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := migrator.RunInit(ctx, mcfg, migrator.Env{Log: slog.New(slog.DiscardHandler), Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	ccfg := cdc.DefaultConfig()
	ccfg.MySQL.DSN = config.Secret(f.cdcDSN(srv.cdcUser, srv.cdcPwd))
	ccfg.Table, ccfg.ControlTable = mcfg.Table, mcfg.ControlTable
	ccfg.EventBridge.URL = f.bus.URL
	var types []string
	for _, r := range ccfg.Events.Rules {
		types = append(types, r.DetailType)
	}
	f.d = &doctor.Doctor{
		Migrator: mcfg,
		CDC: doctor.CDC{DSN: ccfg.MySQL.DSN.Reveal(), Table: ccfg.Table, ControlTable: ccfg.ControlTable, Mapping: ccfg.Mapping,
			EventBridge: ccfg.EventBridge, Source: ccfg.Events.Source, DetailTypes: types},
		Source:   src,
		DynamoDB: f.ddb,
		Bus:      f.bus.SDK,
		Timeout:  10 * time.Second,
	}
	f.setCDCUser(srv.cdcUser, srv.cdcPwd)
	return f
}

// cdcDSN is the test database's DSN for user.
func (f *fixture) cdcDSN(user, pwd string) string {
	c, _ := mysql.ParseDSN(f.srv.admin)
	c.User, c.Passwd, c.DBName = user, pwd, f.dbName
	return c.FormatDSN()
}

// setCDCUser makes the doctor inspect the source as user, with the cdc's
// own Inspector.
func (f *fixture) setCDCUser(user, pwd string) {
	f.t.Helper()
	db, err := sql.Open("mysql", f.cdcDSN(user, pwd))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	f.d.CDC.DSN = f.cdcDSN(user, pwd)
	f.d.Inspect = cdcInspect(db)
}

// cdcInspect is the cdc's Inspector as the doctor's Inspect, as
// cmd/strangler wires it.
func cdcInspect(db *sql.DB) func(context.Context) ([]doctor.Check, error) {
	return func(ctx context.Context) ([]doctor.Check, error) {
		fs, err := cdc.NewInspector(db).Findings(ctx)
		cs := make([]doctor.Check, len(fs))
		for i, f := range fs {
			cs[i] = doctor.Check{Level: doctor.Level(f.Level), What: f.What, Why: f.Why, Fix: f.Fix}
		}
		return cs, err
	}
}

// shippedRules gives the bus the rules of configs/eventbus.yaml.
func shippedRules(t *testing.T) func(*eventbus.Config) {
	t.Helper()
	cfg := eventbus.DefaultConfig()
	if err := config.Load(config.Source{Part: "eventbus", File: "../../configs/eventbus.yaml"}, &cfg); err != nil {
		t.Fatalf("configs/eventbus.yaml: %v", err)
	}
	return func(c *eventbus.Config) { c.Rules = cfg.Rules }
}

// createDatabase creates a database on the server of admin, dropped when
// the test ends, and returns its DSN (parseTime, UTC) and name.
func createDatabase(t *testing.T, admin string) (string, string) {
	t.Helper()
	cfg, err := mysql.ParseDSN(admin)
	if err != nil {
		t.Fatalf("admin DSN: %v", err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "t_doctor_" + hex.EncodeToString(suffix)
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("MySQL at %s: creating a database: %v (the tests need the local stack: make stack-up)", cfg.Addr, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err == nil {
			_, err = db.Exec("DROP DATABASE IF EXISTS `" + name + "`")
			db.Close()
		}
		if err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	cfg.DBName, cfg.ParseTime, cfg.Loc = name, true, time.UTC
	return cfg.FormatDSN(), name
}

// privateMariaDB starts a MariaDB of the test's own in a temporary folder
// on a free port (about 2 s), for settings no test may change on the shared
// one, with a cdc user as the local stack's. It stops when the test ends.
func privateMariaDB(t *testing.T) server {
	t.Helper()
	dir, err := os.MkdirTemp("", "doctor-mariadb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	if out, err := exec.CommandContext(t.Context(), "mariadb-install-db", "--no-defaults", "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db (Debian's mariadb-server; scripts/stack.sh up installs it): %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("mariadbd", "--no-defaults", "--user=root", "--datadir="+data, "--socket="+filepath.Join(dir, "sock"),
		"--pid-file="+filepath.Join(dir, "pid"), fmt.Sprintf("--port=%d", port), "--bind-address=127.0.0.1",
		"--log-bin="+filepath.Join(dir, "binlog"), "--binlog-format=ROW", "--binlog-row-image=FULL", "--binlog-row-metadata=FULL",
		"--binlog-expire-logs-seconds=172800", "--server-id=1", "--log-error="+filepath.Join(dir, "error.log"), "--innodb-buffer-pool-size=32M")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting mariadbd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	})
	admin := fmt.Sprintf("root@tcp(127.0.0.1:%d)/", port)
	db, err := sql.Open("mysql", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for deadline := time.Now().Add(30 * time.Second); db.PingContext(t.Context()) != nil; {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("mariadbd exited: %v\n%s", err, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mariadbd did not answer on port %d in 30 s", port)
		}
	}
	for _, q := range []string{
		"CREATE USER cdc@'127.0.0.1' IDENTIFIED BY 'cdc'",
		"GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO cdc@'127.0.0.1'",
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return server{admin: admin, cdcUser: "cdc", cdcPwd: "cdc"}
}
