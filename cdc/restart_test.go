package cdc_test

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
)

// mariadb is a private MariaDB server of one test, so it can be restarted
// without disturbing the shared stack.
type mariadb struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
}

func startPrivateMariaDB(t *testing.T) *mariadb {
	t.Helper()
	if _, err := exec.LookPath("mariadbd"); err != nil {
		t.Fatalf("mariadbd not found (scripts/stack.sh up installs mariadb-server): %v", err)
	}
	dir := t.TempDir()
	install := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+filepath.Join(dir, "data"),
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	m := &mariadb{t: t, dir: dir, port: port}
	m.start()
	t.Cleanup(m.stop)
	root, err := sql.Open("mysql", "root@unix("+filepath.Join(dir, "sock")+")/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, q := range []string{
		"CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
		"CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app'",
		"GRANT ALL ON *.* TO 'app'@'127.0.0.1'",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return m
}

func (m *mariadb) dsn() string {
	return fmt.Sprintf("app:app@tcp(127.0.0.1:%d)/shop?parseTime=true&loc=UTC", m.port)
}

func (m *mariadb) start() {
	m.t.Helper()
	d := filepath.Join(m.dir, "data")
	m.cmd = exec.Command("mariadbd", "--no-defaults", "--user=root", "--datadir="+d,
		"--socket="+filepath.Join(m.dir, "sock"), "--pid-file="+filepath.Join(m.dir, "pid"),
		fmt.Sprintf("--port=%d", m.port), "--bind-address=127.0.0.1", "--log-bin="+filepath.Join(d, "binlog"),
		"--binlog-format=ROW", "--binlog-row-image=FULL", "--binlog-row-metadata=FULL", "--server-id=7",
		"--innodb-buffer-pool-size=32M", "--log-error="+filepath.Join(m.dir, "error.log"))
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	for range 200 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", m.port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(m.dir, "error.log"))
	m.t.Fatalf("private mariadbd did not start:\n%s", log)
}

func (m *mariadb) stop() {
	if m.cmd == nil || m.cmd.ProcessState != nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	_ = m.cmd.Wait()
}

// TestStackMariaDBRestart restarts the source server mid-stream: the cdc
// reconnects and continues from the last whole transaction; DynamoDB ends
// equal and every change has exactly one event.
func TestStackMariaDBRestart(t *testing.T) {
	m := startPrivateMariaDB(t)
	f := newFixtureOn(t, m.dsn(), eventbus.FaultConfig{})
	r := f.start(cdc.Options{From: f.current()}, "a")
	changes := f.workload(500, 4)
	f.verify(20 * time.Second)

	m.stop()
	f.db.Close()
	waitFor(t, "the cdc sees the connection die", 30*time.Second, func() bool { return gauge(r.reg, "strangler_cdc_reconnects_total") >= 1 })
	m.start()
	var err error
	f.db, err = sql.Open("mysql", m.dsn())
	if err != nil {
		t.Fatal(err)
	}
	changes += f.workload(500, 4)
	f.verify(30 * time.Second)
	evs := f.waitEvents(changes, 20*time.Second)
	if dups := f.checkEvents(evs, changes); dups != 0 {
		t.Errorf("%d duplicate events: the reconnect replayed transactions", dups)
	}
	t.Logf("%d changes across a MariaDB restart", changes)
}
