package errs

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// RetryAfterUnavailable is the wait suggested to a client that got UNAVAILABLE: about the
// time a database restart or a failover takes to be noticed by the connection pool.
const RetryAfterUnavailable = time.Second

// Unavailablef returns an UNAVAILABLE error with a client-safe message and the usual hint.
func Unavailablef(cause error, format string, args ...any) *Error {
	e := Wrap(Unavailable, cause, format, args...)
	e.RetryAfter = RetryAfterUnavailable
	return e
}

// IsUnavailable reports whether err is a failure of the database or of the way to it rather
// than of the request: unreachable, connection lost, timed out (statement_timeout,
// lock_timeout, the request's deadline), overloaded (too many connections, out of memory),
// shutting down, out of disk, or a transaction that lost a race and is worth running again
// (serialization failure, deadlock). Such a request may succeed when retried.
//
// errs stays free of drivers: PostgreSQL errors are recognised by their SQLSTATE (lib/pq's
// Error.SQLState), SQLite errors by their result code (modernc.org/sqlite's Error.Code).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
		syscall.EPIPE, syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENOSPC, syscall.EDQUOT, syscall.EIO} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		return unavailableState(pg.SQLState())
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case 5, 6, 10, 13, 14: // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN
			return true
		}
		return false
	}
	// database/sql's own "sql: database is closed" has no exported value: the server is
	// shutting down.
	return strings.Contains(err.Error(), "sql: database is closed")
}

// unavailableState reports the SQLSTATEs of an unavailable database (see IsUnavailable).
func unavailableState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"), // insufficient resources: disk full, out of memory, too many connections
		strings.HasPrefix(code, "58"): // system error: I/O error
		return true
	}
	switch code {
	case "57014", // query_canceled: statement_timeout, or the deadline's cancel request
		"57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
		"55P03",          // lock_not_available: lock_timeout
		"25P03",          // idle_in_transaction_session_timeout
		"40001", "40P01": // serialization_failure, deadlock_detected: run it again
		return true
	}
	return false
}

// Fault wraps a failure that is not the client's: UNAVAILABLE (with the retry hint) when
// cause is a database outage by IsUnavailable, INTERNAL otherwise. message is client-safe.
func Fault(cause error, message string) *Error {
	if IsUnavailable(cause) {
		return Unavailablef(cause, "%s", message)
	}
	return Wrap(Internal, cause, "%s", message)
}
