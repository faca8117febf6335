package database

import (
	"context"
	"database/sql/driver"
	"net"
	"sync"
	"time"

	"github.com/lib/pq"
)

// AbandonAfter is how long a connection waits, once the context of the work on it has ended
// (the request's deadline, a client gone), for PostgreSQL to honour lib/pq's cancel request
// before the server closes the connection itself. lib/pq asks the server to cancel the
// statement and then waits for its answer on the socket; a server that is frozen, or a
// network that drops packets, never answers, and the request would hang past its deadline
// for as long as the outage lasts. Closing the socket ends the wait at once; database/sql
// then discards the connection, and PostgreSQL rolls back what it held when it notices.
const AbandonAfter = time.Second

// abandonOff switches abandoning off, so that a test can show what happens without it.
var abandonOff bool

// connector opens lib/pq connections whose sockets the server can close when the work on them
// outlives its context (see AbandonAfter).
type connector struct {
	dsn   string
	after time.Duration
}

func newConnector(dsn string) (*connector, error) {
	if _, err := pq.NewConnector(dsn); err != nil {
		return nil, err
	}
	return &connector{dsn: dsn, after: AbandonAfter}, nil
}

// Driver implements driver.Connector.
func (c *connector) Driver() driver.Driver { return &pq.Driver{} }

// Connect implements driver.Connector: a lib/pq connection through a dialer that keeps its
// socket. A fresh lib/pq connector per connection, because a dialer is set per connector and
// this one must know which socket belongs to which connection.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	pc, err := pq.NewConnector(c.dsn)
	if err != nil {
		return nil, err
	}
	d := &keepDialer{}
	pc.Dialer(d)
	// The startup exchange with a server that accepts connections but never answers (frozen)
	// would otherwise outlast ctx.
	stop := context.AfterFunc(ctx, d.closeConn)
	dc, err := pc.Connect(ctx)
	if !stop() && err == nil {
		_ = dc.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	nc := d.done()
	full, ok := dc.(pqConn)
	if !ok || nc == nil || abandonOff {
		return dc, nil
	}
	return &watchedConn{pqConn: full, nc: nc, after: c.after}, nil
}

// keepDialer dials like lib/pq's default dialer and keeps the socket of the connection it is
// opening (the last one dialed until done: lib/pq may try several hosts). Later dials, for
// lib/pq's cancel requests, are not kept.
type keepDialer struct {
	mu     sync.Mutex
	d      net.Dialer
	conn   net.Conn
	closed bool
}

func (d *keepDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d *keepDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d *keepDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.conn = c
	}
	return c, nil
}

// closeConn closes the socket being opened (the connect's context ended).
func (d *keepDialer) closeConn() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil && !d.closed {
		_ = d.conn.Close()
	}
	d.closed = true
}

// done returns the connection's socket and stops keeping later ones.
func (d *keepDialer) done() net.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.conn
	d.closed = true
	return c
}

// pqConn is what lib/pq's connection implements, all of which database/sql looks for.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.NamedValueChecker
	driver.SessionResetter
	driver.Validator
}

// watchedConn is a lib/pq connection watched while it works: from the start of a transaction
// to its end, and from the start of a statement outside one to its end (the close of its
// rows). When the context of that work ends and the work has not ended AbandonAfter later,
// the socket is closed.
type watchedConn struct {
	pqConn
	nc    net.Conn
	after time.Duration

	mu sync.Mutex
	// gen counts the ends of watched work, so that a timer armed for earlier work does not
	// close the connection under later work.
	gen       uint64
	stop      func() bool
	abandoned bool
}

// watch starts watching ctx, unless the connection is watched already (a statement inside a
// transaction). It reports whether it started, that is whether the caller must call unwatch.
func (c *watchedConn) watch(ctx context.Context) bool {
	if ctx.Done() == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		return false
	}
	gen := c.gen
	c.stop = context.AfterFunc(ctx, func() {
		time.AfterFunc(c.after, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.gen == gen {
				c.abandoned = true
				_ = c.nc.Close()
			}
		})
	})
	return true
}

func (c *watchedConn) unwatch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
}

func (c *watchedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	watched := c.watch(ctx)
	t, err := c.pqConn.BeginTx(ctx, opts)
	if err != nil {
		if watched {
			c.unwatch()
		}
		return nil, err
	}
	return &watchedTx{Tx: t, c: c, watched: watched}, nil
}

func (c *watchedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.watch(ctx) {
		defer c.unwatch()
	}
	return c.pqConn.ExecContext(ctx, query, args)
}

func (c *watchedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	watched := c.watch(ctx)
	rows, err := c.pqConn.QueryContext(ctx, query, args)
	if !watched {
		return rows, err
	}
	if err != nil {
		c.unwatch()
		return nil, err
	}
	pr, ok := rows.(pqRows)
	if !ok {
		c.unwatch()
		return rows, nil
	}
	return &watchedRows{pqRows: pr, c: c}, nil
}

func (c *watchedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if c.watch(ctx) {
		defer c.unwatch()
	}
	return c.pqConn.PrepareContext(ctx, query)
}

func (c *watchedConn) Ping(ctx context.Context) error {
	if c.watch(ctx) {
		defer c.unwatch()
	}
	return c.pqConn.Ping(ctx)
}

// ResetSession refuses an abandoned connection, so that database/sql discards it.
func (c *watchedConn) ResetSession(ctx context.Context) error {
	c.mu.Lock()
	abandoned := c.abandoned
	c.mu.Unlock()
	if abandoned {
		return driver.ErrBadConn
	}
	return c.pqConn.ResetSession(ctx)
}

// IsValid reports an abandoned connection as not reusable.
func (c *watchedConn) IsValid() bool {
	c.mu.Lock()
	abandoned := c.abandoned
	c.mu.Unlock()
	return !abandoned && c.pqConn.IsValid()
}

func (c *watchedConn) Close() error {
	c.unwatch()
	return c.pqConn.Close()
}

type watchedTx struct {
	driver.Tx
	c       *watchedConn
	watched bool
}

func (t *watchedTx) Commit() error {
	if t.watched {
		defer t.c.unwatch()
	}
	return t.Tx.Commit()
}

func (t *watchedTx) Rollback() error {
	if t.watched {
		defer t.c.unwatch()
	}
	return t.Tx.Rollback()
}

// pqRows is what lib/pq's rows implement.
type pqRows interface {
	driver.Rows
	driver.RowsNextResultSet
	driver.RowsColumnTypeScanType
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypePrecisionScale
}

// watchedRows ends the watch of a statement outside a transaction when its rows close.
type watchedRows struct {
	pqRows
	c    *watchedConn
	once sync.Once
}

func (r *watchedRows) Close() error {
	defer r.once.Do(r.c.unwatch)
	return r.pqRows.Close()
}
