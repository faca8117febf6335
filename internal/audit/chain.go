package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

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
	for _, e := range events {
		e.Seq, e.PrevHash = last.Seq+1, last.Hash
		if e.Hash, err = e.computeHash(); err != nil {
			return err
		}
		last = link{Seq: e.Seq, Hash: e.Hash}
	}
	// RETURNING nothing: the read policy may not admit the rows just written (NoCompany).
	if _, err := tx.NewInsert().Model(&events).Returning("NULL").Exec(ctx); err != nil {
		return fmt.Errorf("audit: append to chain %s: %w", company, err)
	}
	return nil
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
