package storage

// Prepared reads on PostgreSQL.
//
// The hot reads (a page of folders or documents, and each parent's page of children) carry the
// storage wall's predicates, and each referenced table brings its row-level security policy:
// PostgreSQL spends about as long planning such a statement as running it (bench/peers:
// planning was half of PostgreSQL's time per nested read). They are therefore sent as
// prepared statements whose values are all parameters, so that their text depends only on the
// shape of the read (table, sort, filters used, the caller's level), never on who asks or
// which rows: each connection parses a text once and PostgreSQL reuses its plan (a generic plan
// once it has seen the custom ones cost no less; plan_cache_mode auto).
//
// A read builds its query with a preparing conn (conn.preparing): conn.arg then records each
// value and returns its placeholder ($n) instead of the value. Builders that take their values
// through conn.arg work for both kinds of conn; a plain conn gets the values back unchanged.
//
// Preparing a statement on database/sql's pool needs a free connection, which a read holding
// its transaction's connection must not wait for (every connection may be held by such a
// read). So the first read of a text runs it unprepared and prepares it in the background;
// later reads bind the prepared statement to their transaction's connection (Tx.StmtContext
// parses it there once per connection).

import (
	"context"
	"database/sql"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"

	"github.com/laatu/laatu/internal/database"
)

// placeholder is the n-th parameter of a prepared statement, as bun appends it to a query.
type placeholder int

func (p placeholder) AppendQuery(_ schema.QueryGen, b []byte) ([]byte, error) {
	return strconv.AppendInt(append(b, '$'), int64(p), 10), nil
}

// arg returns v as a query argument: v itself, or for a preparing conn its placeholder.
func (c *conn) arg(v any) any {
	if c.params == nil {
		return v
	}
	*c.params = append(*c.params, v)
	return placeholder(len(*c.params))
}

// preparing returns a copy of c whose queries take their values as parameters, or nil when
// reads are not prepared (SQLite, or outside a transaction of the store's own pool).
func (c *conn) preparing() *conn {
	if c.s.db.Dialect != database.Postgres || c.s.stmts == nil {
		return nil
	}
	if _, ok := c.db.(bun.Tx); !ok {
		return nil
	}
	p := *c
	p.params = new([]any)
	return &p
}

// scanPrepared runs q, built with c (a preparing conn), and scans its rows into dest.
func (c *conn) scanPrepared(ctx context.Context, q schema.QueryAppender, dest ...any) error {
	b, err := q.AppendQuery(c.s.db.QueryGen(), nil)
	if err != nil {
		return err
	}
	text, args := string(b), *c.params
	return c.s.db.Observe(ctx, text, args, func(ctx context.Context) error {
		rows, err := c.s.stmts.query(ctx, c.db.(bun.Tx).Tx, text, args)
		if err != nil {
			return err
		}
		return c.s.db.ScanRows(ctx, rows, dest...)
	})
}

// maxStatements bounds the prepared texts kept (each one per pooled connection that ran it).
// The texts of the hot reads are a few dozen; the bound only keeps an unforeseen variety from
// growing without end.
const maxStatements = 512

// statements caches the prepared statements of the hot reads by text.
type statements struct {
	db *sql.DB
	mu sync.Mutex
	// cache holds the prepared statements; pending the texts being prepared.
	cache   *lru.Cache[string, *sql.Stmt]
	pending map[string]bool
}

func newStatements(db *sql.DB) *statements {
	cache, _ := lru.NewWithEvict(maxStatements, func(_ string, st *sql.Stmt) { _ = st.Close() })
	return &statements{db: db, cache: cache, pending: map[string]bool{}}
}

// query runs text with args in tx: through its prepared statement when there is one, else
// unprepared, starting its preparation.
func (s *statements) query(ctx context.Context, tx *sql.Tx, text string, args []any) (*sql.Rows, error) {
	if st, ok := s.cache.Get(text); ok {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	s.mu.Lock()
	start := !s.pending[text]
	s.pending[text] = true
	s.mu.Unlock()
	if start {
		go s.prepare(text)
	}
	return tx.QueryContext(ctx, text, args...)
}

// prepare prepares text on a connection of the pool, waiting for one as long as it takes within
// a bound, and caches the statement. A text that fails to prepare is tried again on its next
// read: the unprepared run of that read reports the error to its caller.
func (s *statements) prepare(text string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := s.db.PrepareContext(ctx, text)
	s.mu.Lock()
	delete(s.pending, text)
	s.mu.Unlock()
	if err != nil {
		return
	}
	s.cache.Add(text, st)
}

// Close closes the prepared statements.
func (s *statements) Close() error {
	s.cache.Purge()
	return nil
}
