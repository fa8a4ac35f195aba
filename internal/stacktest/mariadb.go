package stacktest

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
)

// PrivateMariaDB starts a mariadbd of the test's own, for a test that must
// change GLOBAL settings (never the shared stack's: other tests run on it).
// It logs a binlog like the stack's (ROW, FULL images and metadata, GTIDs)
// plus args, and returns a DSN (parseTime, UTC) for database shop of a
// user with every privilege. The server stops when the test ends. It fails
// the test when mariadbd is not installed.
func PrivateMariaDB(t testing.TB, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("mariadbd"); err != nil {
		t.Fatalf("mariadbd not found (scripts/stack.sh up installs mariadb-server): %v", err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	install := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+data,
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
	cmd := exec.Command("mariadbd", append([]string{"--no-defaults", "--user=root", "--datadir=" + data,
		"--socket=" + filepath.Join(dir, "sock"), "--pid-file=" + filepath.Join(dir, "pid"),
		fmt.Sprintf("--port=%d", port), "--bind-address=127.0.0.1", "--log-bin=" + filepath.Join(data, "binlog"),
		"--binlog-format=ROW", "--binlog-row-image=FULL", "--binlog-row-metadata=FULL", "--server-id=7",
		"--innodb-buffer-pool-size=32M", "--log-error=" + filepath.Join(dir, "error.log")}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	root, err := sql.Open("mysql", "root@unix("+filepath.Join(dir, "sock")+")/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for deadline := time.Now().Add(20 * time.Second); root.Ping() != nil; {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("private mariadbd did not start:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, q := range []string{
		"CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
		"CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app'",
		"GRANT ALL ON *.* TO 'app'@'127.0.0.1'",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return fmt.Sprintf("app:app@tcp(127.0.0.1:%d)/shop?parseTime=true&loc=UTC", port)
}
