package mysqlsource

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	vtmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/replication"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/vtenv"
)

// handler is the vitess server's view of the source.
type handler struct {
	vtmysql.UnimplementedHandler
	s *Source
}

var _ vtmysql.Handler = (*handler)(nil)

// session is one client connection's state.
type session struct {
	backend   *vtmysql.Conn
	db        string
	heartbeat time.Duration
	// checksum is a replica that set @source_binlog_checksum to CRC32.
	checksum bool
	lastGTID string
	// command is what the process list says the connection does; user
	// and ready are set once the handshake is done. All three are
	// guarded by Source.mu.
	command string
	user    string
	ready   bool
}

func sess(c *vtmysql.Conn) *session {
	if s, ok := c.ClientData.(*session); ok {
		return s
	}
	s := &session{}
	c.ClientData = s
	return s
}

func (h *handler) NewConnection(c *vtmysql.Conn) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	c.ClientData = &session{}
	h.s.conns[c.ConnectionID] = c
}

// ConnectionReady records the user (the handshake is done).
func (h *handler) ConnectionReady(c *vtmysql.Conn) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	ss := sess(c)
	ss.user, ss.ready = c.User, true
}

func (h *handler) ConnectionClosed(c *vtmysql.Conn) {
	h.s.mu.Lock()
	delete(h.s.conns, c.ConnectionID)
	h.s.mu.Unlock()
	if b := sess(c).backend; b != nil {
		b.Close()
	}
}

func (h *handler) Env() *vtenv.Environment { return h.s.env }

func (h *handler) WarningCount(*vtmysql.Conn) uint16 { return 0 }

func (h *handler) ComQuery(c *vtmysql.Conn, query string, callback func(*sqltypes.Result) error) error {
	res, err := h.s.query(c, query)
	if err != nil {
		return err
	}
	return callback(res)
}

func (h *handler) ComQueryMulti(c *vtmysql.Conn, sql string, callback func(qr sqltypes.QueryResponse, more bool, firstPacket bool) error) error {
	return sqlerror.NewSQLErrorf(sqlerror.ERNotSupportedYet, sqlerror.SSUnknownSQLState, "multi-statement queries are not supported by the test source")
}

// ComPrepare counts the statement's placeholders; ComStmtExecute runs it
// with the values spelled into the text (the backend sees a plain query).
func (h *handler) ComPrepare(c *vtmysql.Conn, query string) ([]*querypb.Field, uint16, error) {
	return nil, uint16(len(placeholders(query))), nil
}

func (h *handler) ComStmtExecute(c *vtmysql.Conn, prepare *vtmysql.PrepareData, callback func(*sqltypes.Result) error) error {
	q, err := bind(prepare)
	if err != nil {
		return err
	}
	res, err := h.s.query(c, q)
	if err != nil {
		return err
	}
	return callback(res)
}

func (h *handler) ComRegisterReplica(c *vtmysql.Conn, host string, port uint16, user, password string) error {
	return nil
}

func (h *handler) ComBinlogDump(c *vtmysql.Conn, logFile string, pos uint32) error {
	cur, err := h.s.binlog.startFile(logFile, pos)
	if err != nil {
		return err
	}
	h.s.setCommand(c, "Binlog Dump")
	return h.s.dump(c, cur, nil, sess(c))
}

func (h *handler) ComBinlogDumpGTID(c *vtmysql.Conn, logFile string, logPos uint64, set replication.GTIDSet, flags uint16) error {
	if !h.s.gtidMode() {
		return errFatalReading("The replication receiver thread cannot start in AUTO_POSITION mode: this server uses @@GLOBAL.GTID_MODE = OFF.")
	}
	have := replication.Mysql56GTIDSet{}
	if s, ok := set.(replication.Mysql56GTIDSet); ok && s != nil {
		have = s
	}
	h.s.mu.Lock()
	sid := h.s.sid
	v8 := !strings.HasPrefix(h.s.cfg.Version, "5.")
	h.s.mu.Unlock()
	cur, err := h.s.binlog.startGTID(have, sid, v8)
	if err != nil {
		return err
	}
	h.s.setCommand(c, "Binlog Dump GTID")
	return h.s.dump(c, cur, have, sess(c))
}

func (s *Source) setCommand(c *vtmysql.Conn, cmd string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess(c).command = cmd
}

func (s *Source) gtidMode() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.HasPrefix(strings.ToUpper(s.vars["gtid_mode"]), "ON")
}

// query answers one statement: the source's own answer when it has one,
// else the backend's.
func (s *Source) query(c *vtmysql.Conn, q string) (*sqltypes.Result, error) {
	if res, ok, err := s.answer(c, q); ok {
		return res, err
	}
	return s.forward(c, q)
}

// forward runs q on the connection's backend connection, and for a
// statement that committed a transaction waits until the source's binlog
// has it: as on MySQL, a commit is in the binlog when the client hears
// of it.
func (s *Source) forward(c *vtmysql.Conn, q string) (*sqltypes.Result, error) {
	ss := sess(c)
	if ss.backend == nil {
		b, err := s.dialBackend(ss.db)
		if err != nil {
			return nil, err
		}
		ss.backend = b
	}
	res, err := ss.backend.ExecuteFetch(q, 1<<30, true)
	if err != nil {
		return nil, err
	}
	if isRead(q) {
		return res, nil
	}
	last, err := ss.backend.ExecuteFetch("SELECT @@last_gtid", 1, false)
	if err != nil {
		return nil, err
	}
	if g := last.Rows[0][0].ToString(); g != "" && g != ss.lastGTID {
		ss.lastGTID = g
		if err := s.follower.waitFor(context.Background(), g); err != nil {
			return nil, err
		}
	}
	return res, nil
}

var readRe = regexp.MustCompile(`(?is)^\s*(/\*.*?\*/\s*)*(select|show|describe|desc|explain|use|set)\b`)

func isRead(q string) bool { return readRe.MatchString(q) }

func (s *Source) dialBackend(db string) (*vtmysql.Conn, error) {
	host, port := s.backend.Addr, 3306
	if h, p, ok := strings.Cut(s.backend.Addr, ":"); ok {
		host = h
		port, _ = strconv.Atoi(p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := vtmysql.Connect(ctx, &vtmysql.ConnParams{Host: host, Port: port, Uname: s.backend.User, Pass: s.backend.Passwd, DbName: db, Charset: CollationUTF8MB4})
	if err != nil {
		return nil, fmt.Errorf("mysqlsource: connecting to the backend %s: %w", s.backend.Addr, err)
	}
	return b, nil
}

// placeholders are the offsets of the ? outside quotes and comments.
func placeholders(q string) []int {
	var out []int
	var quote byte
	for i := 0; i < len(q); i++ {
		ch := q[i]
		switch {
		case quote != 0:
			if ch == '\\' {
				i++
			} else if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"' || ch == '`':
			quote = ch
		case ch == '?':
			out = append(out, i)
		}
	}
	return out
}

// bind spells a prepared statement's parameters into its text.
func bind(p *vtmysql.PrepareData) (string, error) {
	q := p.PrepareStmt
	var b strings.Builder
	prev := 0
	for i, at := range placeholders(q) {
		bv, ok := p.BindVars[fmt.Sprintf("v%d", i+1)]
		if !ok {
			return "", sqlerror.NewSQLErrorf(sqlerror.ERWrongArguments, sqlerror.SSUnknownSQLState, "parameter %d of %q has no value", i+1, q)
		}
		v, err := sqltypes.BindVariableToValue(bv)
		if err != nil {
			return "", err
		}
		b.WriteString(q[prev:at])
		v.EncodeSQL(&b)
		prev = at + 1
	}
	b.WriteString(q[prev:])
	return b.String(), nil
}
