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
	"sync"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

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
	rows := toRows(events)
	if _, err := tx.NewInsert().Model(&rows).Returning("NULL").Exec(ctx); err != nil {
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

// insertHead begins the INSERT that appendInsert writes.
const insertHead = "INSERT INTO audit_events (company_id, seq, id, occurred_at, request_id, " +
	"operation_type, operation_name, operation_hash, root_fields, actor_id, principal_kind, " +
	"principal_level, grant_id, session_id, client_ip, user_agent, action, object_type, " +
	"object_id, fields, prev_hash, hash, more, more_object_ids) VALUES"

// appendInsert appends to q one INSERT of prepared, chained events, one row per run (see
// rows.go), in PostgreSQL's SQL. The group committer writes every view this way, because it is
// cheaper on both sides than what bun writes: no reflection here, and the values are typed
// literals, which PostgreSQL neither has to infer nor to plan around:
//
//	INSERT INTO audit_events (...) VALUES
//	  (E'company'::uuid, 1, E'id'::uuid, ..., E'[{"seq":2,...}]'::jsonb, E'["object"]'::jsonb), ...
func appendInsert(q []byte, events []*Event) ([]byte, error) {
	rows := toRows(events)
	q = slices.Grow(q, len(insertHead)+600*len(rows)+250*len(events)) // about what they take
	q = append(q, insertHead...)
	buf := make([]byte, 0, 512)
	var err error
	for i, r := range rows {
		if i > 0 {
			q = append(q, ',')
		}
		q = append(q, "\n("...)
		e := &r.Event
		q = appendSQLString(q, e.CompanyID)
		q = append(q, "::uuid, "...)
		q = strconv.AppendInt(q, e.Seq, 10)
		q = append(q, ", "...)
		q = appendSQLString(q, e.ID)
		q = append(q, "::uuid, '"...)
		q = e.OccurredAt.UTC().AppendFormat(q, timeLayout)
		q = append(q, "'::timestamptz"...)
		for _, s := range []string{e.RequestID, e.OperationType, e.OperationName, e.OperationHash} {
			q = append(q, ", "...)
			q = appendSQLString(q, s)
		}
		q = append(q, ", "...)
		q = appendSQLString(q, appendJSONStrings(buf[:0], e.RootFields))
		q = append(q, "::jsonb, "...)
		if e.ActorID != nil {
			q = appendSQLString(q, *e.ActorID)
		} else {
			q = append(q, "NULL"...)
		}
		q = append(q, "::uuid"...)
		for _, s := range []string{e.PrincipalKind, e.PrincipalLevel, e.GrantID, e.SessionID, e.ClientIP,
			e.UserAgent, e.Action, e.ObjectType, e.ObjectID} {
			q = append(q, ", "...)
			q = appendSQLString(q, s)
		}
		q = append(q, ", "...)
		if buf, err = appendCanonicalFields(buf[:0], e.Fields); err != nil {
			return nil, err
		}
		q = appendSQLString(q, buf)
		q = append(q, "::jsonb, "...)
		q = appendSQLString(q, e.PrevHash)
		q = append(q, ", "...)
		q = appendSQLString(q, e.Hash)
		if len(r.More) == 0 {
			q = append(q, ", NULL, NULL)"...)
			continue
		}
		q = append(q, ", "...)
		if buf, err = appendPacked(buf[:0], r.More); err != nil {
			return nil, err
		}
		q = appendSQLString(q, buf)
		q = append(q, "::jsonb, "...)
		q = appendSQLString(q, appendJSONStrings(buf[:0], r.MoreObjectIDs))
		q = append(q, "::jsonb)"...)
	}
	return q, nil
}

// appendPacked appends more as the JSON array that the more column holds, as encoding/json
// would write it, without reflection.
func appendPacked(b []byte, more []packed) ([]byte, error) {
	b = slices.Grow(b, 300*len(more)) // about what an event takes
	b = append(b, '[')
	var err error
	for i, p := range more {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"seq":`...)
		b = strconv.AppendInt(b, p.Seq, 10)
		b = append(b, `,"id":`...)
		b = appendJSONString(b, p.ID)
		b = append(b, `,"object_type":`...)
		b = appendJSONString(b, p.ObjectType)
		b = append(b, `,"object_id":`...)
		b = appendJSONString(b, p.ObjectID)
		b = append(b, `,"fields":`...)
		if b, err = appendCanonicalFields(b, p.Fields); err != nil {
			return nil, err
		}
		b = append(b, `,"prev_hash":`...)
		b = appendJSONString(b, p.PrevHash)
		b = append(b, `,"hash":`...)
		b = appendJSONString(b, p.Hash)
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// sameContext reports whether a and b agree on every column that a run of events shares
// (rows.go).
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
func appendSQLString[T string | []byte](q []byte, s T) []byte {
	q = append(q, 'E', '\'')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\'' || c == '\\' {
			q = append(q, c)
		}
		q = append(q, s[i])
	}
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
	// The last row's last event: its own columns, or the last element of more (rows.go). Only
	// the two values are read: on SQLite every write of the group committer starts here.
	last := "COALESCE((more->-1->>'seq')::bigint, seq) AS seq, COALESCE(more->-1->>'hash', hash) AS hash"
	if db.Dialect().Name() != dialect.PG {
		last = "COALESCE(json_extract(more, '$[#-1].seq'), seq) AS seq, COALESCE(json_extract(more, '$[#-1].hash'), hash) AS hash"
	}
	var ev, cp link
	err := db.NewSelect().Table("audit_events").ColumnExpr(last).
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
