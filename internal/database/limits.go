package database

import (
	"net/url"
	"strconv"
	"time"
)

// SessionLimits are PostgreSQL's own timeouts for the server's sessions. They bound what the
// database does even when the server cannot tell it to stop (a lost connection, a stuck
// process): a statement, a wait for a lock, a transaction left idle.
type SessionLimits struct {
	StatementTimeout         time.Duration
	LockTimeout              time.Duration
	IdleInTransactionTimeout time.Duration
}

// WithSessionLimits returns dsn with l as run-time parameters, which lib/pq sends in each
// connection's startup message: they hold for every transaction on the connection at no
// cost per transaction, and a SET in a transaction can still narrow them. A parameter the
// URL already names is kept, and a zero duration leaves the server's setting. It also sets
// connect_timeout, unless given, so that opening a connection to a server that does not
// answer gives up.
func WithSessionLimits(dsn string, l SessionLimits) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn
	}
	q := u.Query()
	set := func(name string, d time.Duration) {
		if d > 0 && q.Get(name) == "" {
			q.Set(name, strconv.FormatInt(millisUp(d), 10))
		}
	}
	set("statement_timeout", l.StatementTimeout)
	set("lock_timeout", l.LockTimeout)
	set("idle_in_transaction_session_timeout", l.IdleInTransactionTimeout)
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", "5")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// millisUp is d in whole milliseconds, PostgreSQL's unit for these settings, rounded up: a
// duration under a millisecond truncated to 0 would switch the timeout off.
func millisUp(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
