// Package storage is the only place where Laatu talks SQL. Every function takes the request's
// context, which carries the caller (access.Principal) and, inside a GraphQL operation, the
// operation's transaction; every query on a tenant table goes through the scoped layer in
// scope.go, which adds the company and permission predicates and refuses to run without a
// principal.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/errs"
)

// ErrNoScope is returned when a tenant query runs with no principal in the context: a
// programming error, refused rather than run unscoped.
var ErrNoScope = errors.New("storage: no principal in context")

// Store runs queries against the database.
type Store struct {
	db  *database.DB
	now func() time.Time
	// scopeOff disables the storage wall (scope.go) so that tests can show that row-level
	// security holds alone. Only tests set it, through DisableScopeForTest.
	scopeOff bool
	hooks    []ChangeHook
	// retention is how long deleted objects stay in the trash (SetTrashRetention).
	retention time.Duration
	// stmts are the prepared statements of the hot reads, on PostgreSQL (prepared.go).
	stmts *statements
}

// New returns a Store over db.
func New(db *database.DB) *Store {
	s := &Store{db: db, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	if db.Dialect == database.Postgres {
		s.stmts = newStatements(db.DB.DB)
	}
	return s
}

// Dialect tells which database the store runs on.
func (s *Store) Dialect() database.Dialect { return s.db.Dialect }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Now is the store's clock, in UTC at microsecond precision (what both databases keep).
func (s *Store) Now() time.Time { return s.now() }

// DisableScopeForTest switches the storage wall off, leaving only the database's own walls.
// It exists so that a test can prove that row-level security alone still denies.
func (s *Store) DisableScopeForTest() { s.scopeOff = true }

// NewID returns a new opaque, unguessable, time-ordered id (UUIDv7).
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// validID reports whether id is a well-formed id. Malformed ids are answered like unknown ones.
func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

// Op is the transaction of one GraphQL operation. gqlgen resolves fields in parallel and a
// PostgreSQL connection carries one query at a time, so its queries are serialized by mu.
type Op struct {
	mu sync.Mutex
	tx bun.Tx
	// begin starts tx at the first query of an Op from BeginOnUse; nil once it has.
	begin       func() (bun.Tx, error)
	readOnly    bool
	afterCommit []func()
	done        bool
	// company and user are the tenant settings in effect on the transaction.
	company, user string
}

type opKey struct{}

// Begin starts the transaction of one operation, read-only for queries, and returns a context
// carrying it. The caller ends it with Commit or Rollback.
func (s *Store) Begin(ctx context.Context, readOnly bool) (context.Context, *Op, error) {
	p := access.FromContext(ctx)
	if p == nil {
		return nil, nil, ErrNoScope
	}
	tx, err := s.beginTx(ctx, readOnly, p)
	if err != nil {
		return nil, nil, err
	}
	op := &Op{tx: tx, readOnly: readOnly, company: p.CompanyID, user: p.UserID}
	return context.WithValue(ctx, opKey{}, op), op, nil
}

// BeginOnUse is Begin for the responses of a subscription, each of which waits for its event
// inside its operation scope: the transaction starts with the first query, so that a stream
// waiting for its next event holds no connection and no snapshot.
func (s *Store) BeginOnUse(ctx context.Context, readOnly bool) (context.Context, *Op, error) {
	p := access.FromContext(ctx)
	if p == nil {
		return nil, nil, ErrNoScope
	}
	op := &Op{readOnly: readOnly, company: p.CompanyID, user: p.UserID}
	op.begin = func() (bun.Tx, error) { return s.beginTx(ctx, readOnly, p) }
	return context.WithValue(ctx, opKey{}, op), op, nil
}

// started begins the transaction of an Op from BeginOnUse, once. It runs under op.mu.
func (op *Op) started() error {
	if op.begin == nil {
		return nil
	}
	tx, err := op.begin()
	if err != nil {
		return err
	}
	op.tx, op.begin = tx, nil
	return nil
}

// Commit commits the operation and then runs what was registered to happen after commit
// (publishing change notifications on SQLite).
func (op *Op) Commit() error {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.done {
		return nil
	}
	op.done = true
	if op.begin != nil {
		return nil // no query ran: nothing to commit
	}
	if err := op.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, f := range op.afterCommit {
		f()
	}
	return nil
}

// Rollback abandons the operation's changes. It is safe after Commit.
func (op *Op) Rollback() {
	op.mu.Lock()
	defer op.mu.Unlock()
	if !op.done {
		op.done = true
		if op.begin == nil {
			_ = op.tx.Rollback()
		}
	}
}

func (s *Store) beginTx(ctx context.Context, readOnly bool, p *access.Principal) (bun.Tx, error) {
	db := s.db.DB
	if readOnly {
		db = s.db.Reader
	}
	var opts *sql.TxOptions
	if readOnly && s.db.Dialect == database.Postgres {
		opts = &sql.TxOptions{ReadOnly: true}
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return bun.Tx{}, fmt.Errorf("begin: %w", err)
	}
	if err := s.setTenant(ctx, tx, p.CompanyID, p.UserID); err != nil {
		_ = tx.Rollback()
		return bun.Tx{}, err
	}
	return tx, nil
}

// setTenant sets the settings that PostgreSQL's row-level security policies read. They are
// local to the transaction (set_config's third argument), so a pooled connection never
// carries one request's company into the next.
//
// The same statement makes the transaction's prepared reads (prepared.go) use their generic
// plan from the first run: their texts hold no value, so a custom plan has nothing to gain, and
// the planner would otherwise keep planning the per-parent pages afresh (it prices a generic
// plan over an array of unknown length higher than one over the array it is given).
func (s *Store) setTenant(ctx context.Context, db bun.IDB, companyID, userID string) error {
	if s.db.Dialect != database.Postgres {
		return nil
	}
	_, err := db.ExecContext(ctx, "SELECT set_config('app.company_id', ?, true), set_config('app.user_id', ?, true),"+
		" set_config('plan_cache_mode', 'force_generic_plan', true)", companyID, userID)
	if err != nil {
		return fmt.Errorf("set tenant: %w", err)
	}
	return nil
}

// conn is what a storage function works with: a transaction and the principal it serves.
type conn struct {
	s   *Store
	db  bun.IDB
	p   *access.Principal
	now time.Time
	// afterCommit registers work to run once the transaction has committed.
	afterCommit func(func())
	// params collects the values of a preparing conn's query (prepared.go); nil on a plain
	// conn, whose queries carry their values inline.
	params *[]any
}

// read runs fn in the operation's transaction, or in a read-only transaction of its own.
func (s *Store) read(ctx context.Context, fn func(c *conn) error) error {
	return s.run(ctx, true, fn)
}

// write runs fn in a savepoint of the operation's transaction, or in a transaction of its own,
// so that a failed mutation leaves nothing behind even when other fields of the same operation
// succeed.
func (s *Store) write(ctx context.Context, fn func(c *conn) error) error {
	return s.run(ctx, false, fn)
}

func (s *Store) run(ctx context.Context, readOnly bool, fn func(c *conn) error) error {
	p := access.FromContext(ctx)
	if p == nil {
		return ErrNoScope
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if op, ok := ctx.Value(opKey{}).(*Op); ok && op != nil {
		op.mu.Lock()
		defer op.mu.Unlock()
		if op.done {
			return errors.New("storage: operation transaction already ended")
		}
		if err := op.started(); err != nil {
			return err
		}
		// A call that acts for someone else than the operation's caller (the system, or the
		// user who is logging in) switches the tenant settings for its duration.
		if p.CompanyID != op.company || p.UserID != op.user {
			if err := s.setTenant(ctx, op.tx, p.CompanyID, p.UserID); err != nil {
				return err
			}
			defer func() { _ = s.setTenant(context.WithoutCancel(ctx), op.tx, op.company, op.user) }()
		}
		c := &conn{s: s, db: op.tx, p: p, now: s.now(), afterCommit: func(f func()) { op.afterCommit = append(op.afterCommit, f) }}
		if readOnly {
			return fn(c)
		}
		if op.readOnly {
			return errors.New("storage: write in a read-only operation")
		}
		var pending []func()
		c.afterCommit = func(f func()) { pending = append(pending, f) }
		err := op.tx.RunInTx(ctx, nil, func(ctx context.Context, sp bun.Tx) error {
			c.db = sp
			return fn(c)
		})
		if err == nil {
			op.afterCommit = append(op.afterCommit, pending...)
		}
		return err
	}
	tx, err := s.beginTx(ctx, readOnly, p)
	if err != nil {
		return err
	}
	var after []func()
	c := &conn{s: s, db: tx, p: p, now: s.now(), afterCommit: func(f func()) { after = append(after, f) }}
	if err := fn(c); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, f := range after {
		f()
	}
	return nil
}

// actingIn runs fn with the principal acting in companyID: a guest writing to an object shared
// with it enters that object's company for the write, and for it only.
func (c *conn) actingIn(ctx context.Context, companyID string, fn func(c *conn) error) error {
	if c.p.CompanyID == companyID || c.p.System() {
		return fn(c)
	}
	q := *c.p
	q.CompanyID, q.Level = companyID, c.p.LevelIn(companyID)
	inner := *c
	inner.p = &q
	if err := c.s.setTenant(ctx, c.db, companyID, c.p.UserID); err != nil {
		return err
	}
	err := fn(&inner)
	if rerr := c.s.setTenant(ctx, c.db, c.p.CompanyID, c.p.UserID); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// actingAs runs fn as principal p on the same transaction, with p's tenant settings for its
// duration.
func (c *conn) actingAs(ctx context.Context, p *access.Principal, fn func(c *conn) error) error {
	inner := *c
	inner.p = p
	if err := c.s.setTenant(ctx, c.db, p.CompanyID, p.UserID); err != nil {
		return err
	}
	err := fn(&inner)
	if rerr := c.s.setTenant(ctx, c.db, c.p.CompanyID, c.p.UserID); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// notFound turns sql.ErrNoRows into the uniform NOT_FOUND answer.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errs.NotFoundf(what)
	}
	return err
}
