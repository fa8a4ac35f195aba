package mysqlsource

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	vtmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/replication"
	"vitess.io/vitess/go/vt/vtenv"
)

// Config is how a Source starts.
type Config struct {
	// Backend is the DSN (go-sql-driver form) of the MariaDB the source
	// fronts: every statement the source does not answer itself runs there,
	// as this user. The user needs REPLICATION SLAVE (the source follows
	// its binlog) and the rights the clients' statements need. Required.
	Backend string
	// Database is the database whose changes the source serves as MySQL
	// binlog events. Required.
	Database string
	// Version is what VERSION() and the binlog's format description say.
	// Optional: defaults to "8.0.36". A version starting "5.7" writes 5.7's
	// GTID events and errors; "8.4" refuses SHOW MASTER STATUS.
	Version string
	// ServerUUID is @@server_uuid, the uuid of the GTIDs it writes.
	// Optional: a random one.
	ServerUUID string
	// Listen is the address to listen on. Optional: "127.0.0.1:0".
	Listen string
	// Logger logs the source's own failures. Optional: discarded.
	Logger *slog.Logger
}

// Source is a MySQL-flavor source: see the package doc. Its methods are
// safe for concurrent use. Close it when done.
type Source struct {
	cfg      Config
	backend  *mysql.Config
	log      *slog.Logger
	listener *vtmysql.Listener
	auth     *auth
	env      *vtenv.Environment
	enc      *encoder
	binlog   *binlogLog
	done     chan struct{}
	wg       sync.WaitGroup
	follower *follower

	mu     sync.Mutex
	vars   map[string]string
	grants []string
	sid    replication.SID
	conns  map[uint32]*vtmysql.Conn
	closed bool
}

// Start starts a source: its listener and its follower of the backend's
// binlog, from the backend's current position.
func Start(ctx context.Context, cfg Config) (*Source, error) {
	if cfg.Backend == "" || cfg.Database == "" {
		return nil, errors.New("mysqlsource: Config.Backend and Config.Database are required")
	}
	bcfg, err := mysql.ParseDSN(cfg.Backend)
	if err != nil {
		return nil, fmt.Errorf("mysqlsource: Config.Backend: %w", err)
	}
	if cfg.Version == "" {
		cfg.Version = "8.0.36"
	}
	if cfg.ServerUUID == "" {
		cfg.ServerUUID = randomUUID()
	}
	sid, err := replication.ParseSID(cfg.ServerUUID)
	if err != nil {
		return nil, fmt.Errorf("mysqlsource: Config.ServerUUID %q: %w", cfg.ServerUUID, err)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{cfg: cfg, backend: bcfg, log: cfg.Logger.With("component", "mysqlsource"), done: make(chan struct{}),
		vars: defaultVars(cfg), sid: sid, conns: map[uint32]*vtmysql.Conn{}, env: vtenv.NewTestEnv()}
	s.grants = []string{"GRANT SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `" + bcfg.User + "`@`%`",
		"GRANT ALL PRIVILEGES ON `" + cfg.Database + "`.* TO `" + bcfg.User + "`@`%`"}
	s.enc = &encoder{f: format(cfg.Version), serverID: 1, now: func() uint32 { return uint32(time.Now().Unix()) }}
	s.binlog = newLog(s.enc, "binlog")
	s.auth = &auth{users: map[string]string{bcfg.User: bcfg.Passwd}}
	s.listener, err = vtmysql.NewListener("tcp", cfg.Listen, s.auth, &handler{s: s}, 0, 0, false, false, 0, time.Millisecond, false)
	if err != nil {
		return nil, fmt.Errorf("mysqlsource: listening on %s: %w", cfg.Listen, err)
	}
	s.listener.ServerVersion = cfg.Version
	if s.follower, err = startFollower(ctx, s); err != nil {
		s.listener.Close()
		return nil, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.listener.Accept()
	}()
	return s, nil
}

func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// defaultVars are a MySQL 8 source set up for the cdc.
func defaultVars(cfg Config) map[string]string {
	return map[string]string{
		"version": cfg.Version, "version_comment": "MySQL Community Server - GPL", "log_bin": "1",
		"binlog_format": "ROW", "binlog_row_image": "FULL", "binlog_row_metadata": "FULL",
		"binlog_row_value_options": "", "gtid_mode": "ON", "enforce_gtid_consistency": "ON",
		"server_uuid": cfg.ServerUUID, "server_id": "1", "binlog_expire_logs_seconds": "2592000",
		"binlog_transaction_compression": "OFF", "binlog_checksum": "CRC32", "log_replica_updates": "1",
		"log_slave_updates": "1", "max_binlog_size": "1073741824",
	}
}

// Addr is the address the source listens on.
func (s *Source) Addr() string { return s.listener.Addr().String() }

// DSN is dsn (go-sql-driver form) pointed at the source instead of its
// own address: same user, database and parameters.
func (s *Source) DSN(dsn string) (string, error) {
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("mysqlsource: %w", err)
	}
	c.Net, c.Addr = "tcp", s.Addr()
	return c.FormatDSN(), nil
}

// HostPort is the source's host and port.
func (s *Source) HostPort() (string, uint16) {
	host, port, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(port)
	return host, uint16(n)
}

// Set sets a global variable as SELECT @@GLOBAL.name and SHOW VARIABLES
// read it (for example "binlog_row_image", "gtid_mode",
// "binlog_row_metadata", "binlog_transaction_compression", "version").
// It takes effect for the next statement and the next transaction
// written.
func (s *Source) Set(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(name)
	s.vars[name] = value
	if name == "version" {
		s.cfg.Version = value
	}
}

// Var is a global variable's value as the source answers it.
func (s *Source) Var(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vars[strings.ToLower(name)]
}

// SetGrants sets what SHOW GRANTS answers.
func (s *Source) SetGrants(grants ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grants = append([]string(nil), grants...)
}

// SetServerUUID switches the uuid of the GTIDs written from now on, as a
// failover to a replica with its own uuid does: the executed set then has
// two uuids.
func (s *Source) SetServerUUID(uuid string) error {
	sid, err := replication.ParseSID(uuid)
	if err != nil {
		return fmt.Errorf("mysqlsource: server uuid %q: %w", uuid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sid = sid
	s.vars["server_uuid"] = uuid
	return nil
}

// Rotate closes the current binlog file and opens the next (FLUSH BINARY
// LOGS); it returns the new file's name.
func (s *Source) Rotate() string {
	s.binlog.rotate()
	name, _ := s.binlog.current()
	return name
}

// PurgeTo drops every binlog file before name (PURGE BINARY LOGS TO): a
// replica that still needs their transactions is refused with error 1236.
func (s *Source) PurgeTo(name string) error { return s.binlog.purgeTo(name) }

// Files are the binlog files the source still has, oldest first.
func (s *Source) Files() []string {
	var out []string
	for _, f := range s.binlog.state().files {
		out = append(out, f.name)
	}
	return out
}

// Status is SHOW BINARY LOG STATUS: the current file and position and
// the executed GTID set.
func (s *Source) Status() (file string, pos int, executed string) {
	st := s.binlog.state()
	last := st.files[len(st.files)-1]
	return last.name, last.size, st.executed.String()
}

// Append writes a hand-built transaction to the binlog, after whatever
// the follower wrote before, and returns its GTID ("" with gtid_mode
// OFF). Its tables need not exist in the backend; a table or transaction
// without a schema is in the source's database.
func (s *Source) Append(t Txn) (string, error) {
	if t.Schema == "" {
		t.Schema = s.cfg.Database
	}
	changes := make([]Change, len(t.Changes))
	for i, ch := range t.Changes {
		if ch.Table != nil && ch.Table.Schema == "" {
			tbl := *ch.Table
			tbl.Schema = s.cfg.Database
			ch.Table = &tbl
		}
		changes[i] = ch
	}
	t.Changes = changes
	g, err := s.binlog.appendTxn(t, s.writeOpts(false))
	if err != nil {
		return "", err
	}
	if g.Sequence == 0 {
		return "", nil
	}
	return g.String(), nil
}

// writeOpts are the current settings for a transaction written now.
func (s *Source) writeOpts(held bool) writeOpts {
	s.mu.Lock()
	defer s.mu.Unlock()
	major, minor, patch := parseVersion(s.cfg.Version)
	return writeOpts{
		sid: s.sid, gtidMode: strings.EqualFold(s.vars["gtid_mode"], "ON") || strings.EqualFold(s.vars["gtid_mode"], "ON_PERMISSIVE"),
		fullMetadata: major >= 8 && strings.EqualFold(s.vars["binlog_row_metadata"], "FULL"),
		compress:     major >= 8 && (strings.EqualFold(s.vars["binlog_transaction_compression"], "ON") || s.vars["binlog_transaction_compression"] == "1"),
		v8:           major >= 8, version: uint32(major*10000 + minor*100 + patch),
		commitMicros: uint64(time.Now().UnixMicro()), held: held, maxSize: atoi(s.vars["max_binlog_size"]),
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// parseVersion reads "8.0.36-log" or "8.0.mysql_aurora.3.05.2" as far as
// it goes.
func parseVersion(v string) (major, minor, patch int) {
	parts := strings.FieldsFunc(v, func(r rune) bool { return r == '.' || r == '-' })
	nums := []*int{&major, &minor, &patch}
	for i := 0; i < len(parts) && i < 3; i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			break
		}
		*nums[i] = n
	}
	return major, minor, patch
}

// Close stops the listener, every connection and the follower.
func (s *Source) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*vtmysql.Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	close(s.done)
	s.listener.Close()
	for _, c := range conns {
		c.Close()
	}
	s.follower.stop()
	s.wg.Wait()
	return nil
}

// HeldCountsAsExecuted says whether a held transaction (Hold) is in
// @@gtid_executed and SHOW BINARY LOG STATUS's Executed_Gtid_Set before
// its Release. Off by default, as on MySQL, which adds a GTID to
// gtid_executed in its commit stage, after the binlog write; on, the
// source reports it as soon as it is binlogged (the harder case for a
// reader that takes gtid_executed as a snapshot's position).
// WAIT_FOR_EXECUTED_GTID_SET always waits until it is visible.
func (s *Source) HeldCountsAsExecuted(on bool) {
	s.binlog.mu.Lock()
	defer s.binlog.mu.Unlock()
	s.binlog.heldExecuted = on
}
