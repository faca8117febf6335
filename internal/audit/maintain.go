package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"
	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/database"
)

// Export writes a company's events that occurred in [from, to) as JSON lines, in seq order,
// in the same shape as the audit stream. A zero from or to leaves that end open. It returns
// the number of events written.
func Export(ctx context.Context, db *database.DB, companyID string, from, to time.Time, w io.Writer) (int, error) {
	company, err := normalizeID("company id", companyID)
	if err != nil {
		return 0, err
	}
	out := zerolog.New(w)
	n := 0
	err = snapshotTx(ctx, db, company, func(ctx context.Context, tx bun.Tx) error {
		inRange := func(q *bun.SelectQuery) *bun.SelectQuery {
			if !from.IsZero() {
				q = q.Where("occurred_at >= ?", from.UTC())
			}
			if !to.IsZero() {
				q = q.Where("occurred_at < ?", to.UTC())
			}
			return q
		}
		return scanChain(ctx, tx, company, inRange, func(e *Event) (bool, error) {
			out.Log().EmbedObject(e).Send()
			n++
			return true, nil
		})
	})
	if err != nil {
		return n, fmt.Errorf("audit: export %s: %w", company, err)
	}
	return n, nil
}

// PruneResult says what Prune did.
type PruneResult struct {
	// Deleted is the number of events removed.
	Deleted int64
	// Checkpoint is the checkpoint written, nil when there was nothing to prune.
	Checkpoint *Checkpoint
}

// ErrTampered is returned by Prune when the chain does not verify: pruning would erase the
// evidence.
var ErrTampered = errors.New("audit: the chain does not verify")

// Prune deletes a company's events that occurred before before, as the table owner (ownerDB:
// the server's role may not delete), and writes a checkpoint holding the seq and hash of the
// last deleted event so that the rest of the chain still verifies. It deletes a prefix of the
// chain: it stops at the first event at or after before. It refuses to prune a chain that does
// not verify.
func Prune(ctx context.Context, ownerDB *database.DB, companyID string, before time.Time) (PruneResult, error) {
	var res PruneResult
	company, err := normalizeID("company id", companyID)
	if err != nil {
		return res, err
	}
	before = before.UTC().Truncate(time.Microsecond)
	err = ownerDB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := setCompany(ctx, tx, ownerDB.Dialect, company); err != nil {
			return err
		}
		if err := lockChain(ctx, tx, ownerDB.Dialect, company); err != nil {
			return err
		}
		report, err := verifyChain(ctx, tx, company)
		if err != nil {
			return err
		}
		if !report.OK() {
			return fmt.Errorf("%w: %s", ErrTampered, report)
		}
		cut, err := cutPoint(ctx, tx, company, before)
		if err != nil || cut <= report.Checkpoint {
			return err // nothing older than before, or already pruned
		}
		last, err := eventAt(ctx, tx, company, cut)
		if err != nil {
			return err
		}
		if last == nil {
			return fmt.Errorf("read last pruned event: no event %d", cut)
		}
		if err := deletePrefix(ctx, tx, ownerDB.Dialect, company, cut); err != nil {
			return err
		}
		// The chain verified: every event after the last checkpoint up to the cut is gone.
		res.Deleted = cut - report.Checkpoint
		prev := Genesis
		var latest Checkpoint
		err = tx.NewSelect().Model(&latest).Where("company_id = ?", company).OrderExpr("seq DESC").Limit(1).Scan(ctx)
		switch {
		case err == nil:
			prev = latest.CheckpointHash
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read checkpoint: %w", err)
		}
		cp := &Checkpoint{CompanyID: company, Seq: last.Seq, Hash: last.Hash, PrunedBefore: before,
			CreatedAt: time.Now().UTC().Truncate(time.Microsecond), PrevCheckpoint: prev}
		cp.CheckpointHash = cp.computeHash()
		if _, err := tx.NewInsert().Model(cp).Returning("NULL").Exec(ctx); err != nil {
			return fmt.Errorf("write checkpoint: %w", err)
		}
		res.Checkpoint = cp
		return nil
	})
	if err != nil {
		return PruneResult{}, fmt.Errorf("audit: prune %s: %w", company, err)
	}
	return res, nil
}

// cutPoint returns the last seq to prune: the event before the first one that occurred at or
// after before (clocks of concurrent writers may interleave slightly), or the last event when
// all are older. 0 means nothing to prune. The events of a row share their time, so the cut
// falls between rows.
func cutPoint(ctx context.Context, tx bun.IDB, company string, before time.Time) (int64, error) {
	var first sql.NullInt64
	err := tx.NewSelect().Model((*row)(nil)).ColumnExpr("min(seq)").
		Where("company_id = ? AND occurred_at >= ?", company, before).Scan(ctx, &first)
	if err != nil {
		return 0, fmt.Errorf("find cut: %w", err)
	}
	if first.Valid {
		return first.Int64 - 1, nil
	}
	last, err := lastLink(ctx, tx, company)
	if err != nil {
		return 0, fmt.Errorf("find cut: %w", err)
	}
	return last.Seq, nil
}

// sqliteNoDelete is the trigger that keeps audit_events append-only on SQLite; it must match
// the migration that creates it.
const sqliteNoDelete = `CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`

// deletePrefix deletes the rows of company's chain up to the event cut, which ends a row.
func deletePrefix(ctx context.Context, tx bun.IDB, dialect database.Dialect, company string, cut int64) error {
	if dialect == database.SQLite {
		// SQLite has no roles: the trigger is the guard, lifted for this transaction only.
		if _, err := tx.ExecContext(ctx, "DROP TRIGGER IF EXISTS audit_events_no_delete"); err != nil {
			return fmt.Errorf("lift delete guard: %w", err)
		}
	}
	if _, err := tx.NewDelete().Model((*row)(nil)).Where("company_id = ? AND seq <= ?", company, cut).Exec(ctx); err != nil {
		return fmt.Errorf("delete events: %w", err)
	}
	if dialect == database.SQLite {
		if _, err := tx.ExecContext(ctx, sqliteNoDelete); err != nil {
			return fmt.Errorf("restore delete guard: %w", err)
		}
	}
	return nil
}
