// Package mysqlsource is a MySQL-flavor source for tests: a server that
// speaks the MySQL client and replication protocols (vitess's go/mysql
// server) in front of a database of the local MariaDB, and serves that
// database's changes as MySQL 8 binlog events. No MySQL server installs
// here; this is how the cdc, the backfill and verify are run against the
// MySQL flavor over the real protocol.
//
// # SQL
//
// The source answers itself what a MySQL server answers differently from
// MariaDB: VERSION() and the binlog, GTID and replication variables
// (log_bin, binlog_format, binlog_row_image, binlog_row_metadata,
// binlog_row_value_options, gtid_mode, enforce_gtid_consistency,
// gtid_executed, gtid_purged, server_uuid, binlog_expire_logs_seconds,
// binlog_transaction_compression, …) in SELECT @@… and SHOW VARIABLES,
// SHOW GRANTS, SHOW BINARY LOGS, SHOW MASTER STATUS (refused from 8.4),
// SHOW BINARY LOG STATUS (from 8.2), SHOW REPLICA STATUS (from 8.0.22;
// SHOW SLAVE STATUS refused from 8.4), FLUSH BINARY LOGS, PURGE BINARY LOGS TO,
// WAIT_FOR_EXECUTED_GTID_SET, and the replication protocol's session
// variables (@source_heartbeat_period, @source_binlog_checksum). MariaDB's
// own names (@@gtid_binlog_pos, BINLOG_GTID_POS(), …) are refused as MySQL
// refuses them. Each value is settable per test (Set, SetGrants,
// SetServerUUID, Config.Version). Everything else (DDL, DML, SELECT,
// transactions, START TRANSACTION WITH CONSISTENT SNAPSHOT, prepared
// statements) runs on the backend over one backend connection per client
// connection, so transactions and snapshots behave as MariaDB's do.
//
// # Binlog
//
// A follower reads the backend's binlog (go-mysql's MariaDB path, not the
// MySQL path under test) and writes each transaction of the database to
// the source's own binlog, kept in memory, as a MySQL transaction: a GTID
// event (uuid:n of the current server uuid; an anonymous GTID event with
// gtid_mode OFF), BEGIN, a table map and a rows event (v2) per change,
// XID; a DDL as its query event alone. Table maps carry binlog_row_metadata
// FULL (column names, ENUM/SET labels, primary key) or MINIMAL
// (signedness, counting YEAR as MySQL 8 does, and character sets only);
// as MySQL 5.7 (a Version starting "5.") none at all, and the 8.0
// variables binlog_row_metadata, binlog_row_value_options and
// binlog_transaction_compression are unknown; JSON columns (LONGTEXT with a
// json_valid check on MariaDB) become MYSQL_TYPE_JSON with MySQL's binary
// JSON; with binlog_transaction_compression ON a transaction's events
// travel zstd-compressed in a TRANSACTION_PAYLOAD_EVENT. A statement that
// commits through the source returns only once its transaction is in the
// source's binlog, as on MySQL.
//
// The event framing comes from vitess's builders (format description,
// table map, rows, query); the column values, binary JSON, DECIMAL, the
// temporal types, GTID, previous-GTIDs and payload events are this
// package's own encoder, written from MySQL's documentation and source
// comments. Its tests read the output with vitess's parser and check
// bytes against MySQL's worked examples.
//
// Rotate starts a new file, PurgeTo drops old ones: a replica that needs a
// purged transaction is refused with error 1236 and MySQL's message.
// Append writes hand-built transactions (any column type, nested, large
// and opaque JSON) for decoder tests; SetServerUUID switches the uuid, as
// a failover does, so a GTID set gets two uuids.
//
// # A transaction binlogged but not yet visible
//
// Hold runs statements as an XA transaction on the backend and leaves it
// PREPARED: MariaDB binlogs it at XA PREPARE, so the source serves its
// events to replicas and SHOW BINARY LOG STATUS's Position counts them,
// while no other connection sees its rows. Release commits it. Until
// then:
//   - @@gtid_executed and Executed_Gtid_Set leave its GTID out (MySQL adds a
//     GTID in its commit stage, after the binlog write), unless
//     HeldCountsAsExecuted(true) reports it as soon as it is binlogged;
//   - WAIT_FOR_EXECUTED_GTID_SET on its GTID waits (or times out and
//     returns 1) until Release.
//
// So a snapshot stamp read as the binlog position (file:offset) or from
// the stream overstates what a snapshot opened then sees; one read from
// gtid_executed does not, and with HeldCountsAsExecuted(true) only a
// WAIT_FOR_EXECUTED_GTID_SET before the snapshot makes it safe.
//
// # What is not MySQL
//
// The SQL underneath is MariaDB's (information_schema says longtext for a
// JSON column; SHOW CREATE TABLE is MariaDB's), the binlog lives in
// memory, semi-sync and multi-statement queries are not served, and a
// held transaction cannot be rolled back.
package mysqlsource
