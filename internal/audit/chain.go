package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/database"
)

// link is the end of a chain: the last seq and hash, which the next event follows.
type link struct {
	Seq  int64  `bun:"seq"`
	Hash string `bun:"hash"`
}

// Append chains events onto their companies' chains and inserts them in tx: it assigns each
// its Seq, PrevHash and Hash (and ID and OccurredAt when empty). The caller's transaction
// makes the events commit or roll back with whatever else it holds.
//
// Appends to one company serialize: on PostgreSQL Append takes a transaction-scoped advisory
// lock on the company (held until tx ends), and row-level security requires app.company_id
// to be set to the events' company (storage does so for change hooks; the group committer
// sets it itself). On SQLite the single writer serializes.
func Append(ctx context.Context, tx bun.IDB, dialect database.Dialect, events ...*Event) error {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		if err := e.prepare(); err != nil {
			return err
		}
	}
	byCompany := map[string][]*Event{}
	var companies []string
	for _, e := range events {
		if _, ok := byCompany[e.CompanyID]; !ok {
			companies = append(companies, e.CompanyID)
		}
		byCompany[e.CompanyID] = append(byCompany[e.CompanyID], e)
	}
	// Locks are taken in one order, so two appenders of several companies cannot deadlock.
	sort.Strings(companies)
	for _, company := range companies {
		if err := appendCompany(ctx, tx, dialect, company, byCompany[company]); err != nil {
			return err
		}
	}
	return nil
}

func appendCompany(ctx context.Context, tx bun.IDB, dialect database.Dialect, company string, events []*Event) error {
	if err := lockChain(ctx, tx, dialect, company); err != nil {
		return err
	}
	last, err := lastLink(ctx, tx, company)
	if err != nil {
		return err
	}
	if _, err := chainAfter(last, events); err != nil {
		return err
	}
	// RETURNING nothing: the read policy may not admit the rows just written (NoCompany).
	if _, err := tx.NewInsert().Model(&events).Returning("NULL").Exec(ctx); err != nil {
		return fmt.Errorf("audit: append to chain %s: %w", company, err)
	}
	return nil
}

// chainAfter links events, in order, after last: it assigns their Seq, PrevHash and Hash, and
// returns the new end of the chain.
func chainAfter(last link, events []*Event) (link, error) {
	for _, e := range events {
		e.Seq, e.PrevHash = last.Seq+1, last.Hash
		h, err := e.computeHash()
		if err != nil {
			return link{}, err
		}
		e.Hash = h
		last = link{Seq: e.Seq, Hash: e.Hash}
	}
	return last, nil
}

// heads remembers where each company's chain ended when this process last committed to it,
// so that the group committer can chain a batch without reading the end from the database
// first. A remembered end that another writer (a change hook, another server) has since
// passed is harmless: the batch's first seq collides with the primary key, the write rolls
// back whole, and the committer writes again after reading the end.
type heads struct {
	mu sync.Mutex
	m  map[string]link
}

// maxHeads bounds the companies remembered; beyond it heads starts afresh.
const maxHeads = 4096

func (h *heads) get(company string) (link, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.m[company]
	return l, ok
}

// advance records that company's chain reaches at least l (commits may report out of order).
func (h *heads) advance(company string, l link) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur, ok := h.m[company]; ok && cur.Seq >= l.Seq {
		return
	}
	if h.m == nil || len(h.m) >= maxHeads {
		h.m = map[string]link{}
	}
	h.m[company] = l
}

// forget drops what is known of company's chain, after a write whose outcome is unknown.
func (h *heads) forget(company string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, company)
}

// insertHead begins every INSERT that appendInsert writes.
const insertHead = "INSERT INTO audit_events (company_id, seq, id, occurred_at, request_id, " +
	"operation_type, operation_name, operation_hash, root_fields, actor_id, principal_kind, " +
	"principal_level, grant_id, session_id, client_ip, user_agent, action, object_type, " +
	"object_id, fields, prev_hash, hash)"

// maxRunsPerInsert is how many runs of events one INSERT of appendInsert holds at most.
const maxRunsPerInsert = 16

// appendInsert appends to q one INSERT of prepared, chained events, in PostgreSQL's SQL. The
// group committer writes every view this way, because it is cheaper on both sides than what
// bun writes: no reflection here, and PostgreSQL parses, coerces and plans each value of the
// text. So the columns that a run of events shares (the events of one operation share all but
// their object, fields, id and chain columns) are written once per run:
//
//	INSERT INTO audit_events (...) SELECT 'company'::uuid, v.seq, v.id::uuid, ... FROM (VALUES
//	  (seq, id, object_type, object_id, fields, prev_hash, hash), ...) AS v (...)
//	UNION ALL SELECT ...   -- the next run
//
// PostgreSQL plans a UNION ALL in time that grows faster than its branches: a batch of a
// thousand one-event runs (one subscription delivery each, say) took seconds to plan. So a run
// after maxRunsPerInsert starts a new INSERT, in the same message and transaction.
func appendInsert(q []byte, events []*Event) ([]byte, error) {
	q = slices.Grow(q, 600+300*len(events)) // about what a run and an event take
	q = append(q, insertHead...)
	fields := make([]byte, 0, 256)
	var err error
	runs := 0
	for i, e := range events {
		if i == 0 || !sameContext(events[i-1], e) {
			if i > 0 {
				q = append(q, ") AS v (seq, id, object_type, object_id, fields, prev_hash, hash)"...)
				if runs == maxRunsPerInsert {
					q = append(q, ";\n"...)
					q = append(q, insertHead...)
					runs = 0
				} else {
					q = append(q, "\nUNION ALL"...)
				}
			}
			runs++
			q = appendRunHead(q, e)
		} else {
			q = append(q, ", "...)
		}
		q = append(q, '(')
		q = strconv.AppendInt(q, e.Seq, 10)
		q = append(q, ", "...)
		q = appendSQLString(q, e.ID)
		q = append(q, ", "...)
		q = appendSQLString(q, e.ObjectType)
		q = append(q, ", "...)
		q = appendSQLString(q, e.ObjectID)
		q = append(q, ", "...)
		if fields, err = appendCanonicalFields(fields[:0], e.Fields); err != nil {
			return nil, err
		}
		q = appendSQLString(q, string(fields))
		q = append(q, ", "...)
		q = appendSQLString(q, e.PrevHash)
		q = append(q, ", "...)
		q = appendSQLString(q, e.Hash)
		q = append(q, ')')
	}
	return append(q, ") AS v (seq, id, object_type, object_id, fields, prev_hash, hash)"...), nil
}

// appendRunHead opens the SELECT of a run of events sharing e's context: the shared columns
// as typed constants, the others from the VALUES list that follows.
func appendRunHead(q []byte, e *Event) []byte {
	q = append(q, "\nSELECT "...)
	q = appendSQLString(q, e.CompanyID)
	q = append(q, "::uuid, v.seq, v.id::uuid, '"...)
	q = e.OccurredAt.UTC().AppendFormat(q, timeLayout)
	q = append(q, "'::timestamptz"...)
	for _, s := range []string{e.RequestID, e.OperationType, e.OperationName, e.OperationHash} {
		q = append(q, ", "...)
		q = appendSQLString(q, s)
	}
	q = append(q, ", "...)
	q = appendSQLString(q, string(appendJSONStrings(nil, e.RootFields)))
	q = append(q, "::jsonb, "...)
	if e.ActorID != nil {
		q = appendSQLString(q, *e.ActorID)
	} else {
		q = append(q, "NULL"...)
	}
	q = append(q, "::uuid"...)
	for _, s := range []string{e.PrincipalKind, e.PrincipalLevel, e.GrantID, e.SessionID, e.ClientIP,
		e.UserAgent, e.Action} {
		q = append(q, ", "...)
		q = appendSQLString(q, s)
	}
	return append(q, ", v.object_type, v.object_id, v.fields::jsonb, v.prev_hash, v.hash FROM (VALUES "...)
}

// sameContext reports whether a and b agree on every column appendRunHead writes.
func sameContext(a, b *Event) bool {
	return a.CompanyID == b.CompanyID && a.OccurredAt.Equal(b.OccurredAt) && a.RequestID == b.RequestID &&
		a.OperationType == b.OperationType && a.OperationName == b.OperationName &&
		a.OperationHash == b.OperationHash && slices.Equal(a.RootFields, b.RootFields) &&
		(a.ActorID == nil) == (b.ActorID == nil) && (a.ActorID == nil || *a.ActorID == *b.ActorID) &&
		a.PrincipalKind == b.PrincipalKind && a.PrincipalLevel == b.PrincipalLevel &&
		a.GrantID == b.GrantID && a.SessionID == b.SessionID && a.ClientIP == b.ClientIP &&
		a.UserAgent == b.UserAgent && a.Action == b.Action
}

// appendSQLString appends s as a PostgreSQL escape string literal, E'...', whose meaning does
// not depend on standard_conforming_strings: quotes and backslashes are doubled. s must hold
// no NUL, which prepare ensures.
func appendSQLString(q []byte, s string) []byte {
	q = append(q, 'E', '\'')
	for {
		i := strings.IndexAny(s, `'\`)
		if i < 0 {
			break
		}
		q = append(q, s[:i+1]...)
		q = append(q, s[i])
		s = s[i+1:]
	}
	q = append(q, s...)
	return append(q, '\'')
}

// lockChain serializes appends to one company's chain until the transaction ends.
func lockChain(ctx context.Context, tx bun.IDB, dialect database.Dialect, company string) error {
	if dialect != database.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", lockKey(company)); err != nil {
		return fmt.Errorf("audit: lock chain %s: %w", company, err)
	}
	return nil
}

// lockKey derives the advisory lock key of a company's chain; the prefix keeps it apart from
// other users of advisory locks.
func lockKey(company string) int64 {
	sum := sha256.Sum256([]byte("laatu.audit.chain:" + company))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// lastLink returns the end of a company's chain: its last event, or the latest checkpoint
// when pruning removed every event, or (0, Genesis) for a new chain.
func lastLink(ctx context.Context, db bun.IDB, company string) (link, error) {
	var ev, cp link
	err := db.NewSelect().Table("audit_events").Column("seq", "hash").
		Where("company_id = ?", company).OrderExpr("seq DESC").Limit(1).Scan(ctx, &ev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return link{}, fmt.Errorf("audit: read chain %s: %w", company, err)
	}
	err = db.NewSelect().Table("audit_checkpoints").Column("seq", "hash").
		Where("company_id = ?", company).OrderExpr("seq DESC").Limit(1).Scan(ctx, &cp)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return link{}, fmt.Errorf("audit: read checkpoint %s: %w", company, err)
	}
	switch {
	case ev.Seq >= cp.Seq && ev.Seq > 0:
		return ev, nil
	case cp.Seq > 0:
		return cp, nil
	default:
		return link{Seq: 0, Hash: Genesis}, nil
	}
}

// setCompany sets the company that PostgreSQL's row-level security admits for the rest of
// the transaction.
func setCompany(ctx context.Context, tx bun.IDB, dialect database.Dialect, company string) error {
	if dialect != database.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT set_config('app.company_id', ?, true)", company); err != nil {
		return fmt.Errorf("audit: set company: %w", err)
	}
	return nil
}
