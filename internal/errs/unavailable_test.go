package errs

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
)

type sqlState string

func (s sqlState) Error() string    { return "pq: " + string(s) }
func (s sqlState) SQLState() string { return string(s) }

type liteCode int

func (c liteCode) Error() string { return fmt.Sprintf("sqlite: %d", int(c)) }
func (c liteCode) Code() int     { return int(c) }

func TestIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("boom"), false},
		{fmt.Errorf("begin: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("query: %w", driver.ErrBadConn), true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{fmt.Errorf("write: %w", syscall.ENOSPC), true},
		{sqlState("53100"), true},  // disk_full
		{sqlState("53300"), true},  // too_many_connections
		{sqlState("57014"), true},  // statement_timeout
		{sqlState("55P03"), true},  // lock_timeout
		{sqlState("57P01"), true},  // admin_shutdown
		{sqlState("08006"), true},  // connection_failure
		{sqlState("40001"), true},  // serialization_failure
		{sqlState("23505"), false}, // unique_violation: the request's own fault
		{sqlState("42P01"), false}, // undefined_table: a bug
		{liteCode(5), true},        // SQLITE_BUSY
		{liteCode(13), true},       // SQLITE_FULL
		{liteCode(5 | 1<<8), true}, // SQLITE_BUSY_RECOVERY
		{liteCode(19), false},      // SQLITE_CONSTRAINT
		{errors.New("sql: database is closed"), true},
	} {
		if got := IsUnavailable(tc.err); got != tc.want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
