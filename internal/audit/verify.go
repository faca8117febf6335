package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/database"
)

// ProblemKind classifies the first break in a chain.
type ProblemKind string

// The kinds of tampering Verify tells apart.
const (
	// Modified: an event's (or checkpoint's) content no longer matches its hash, or an event
	// was rewritten with a recomputed hash so that its successor no longer links to it.
	Modified ProblemKind = "MODIFIED"
	// Deleted: events are missing: a gap in seq, or an event linking to one that is gone.
	Deleted ProblemKind = "DELETED"
	// Inserted: an extra event: two events follow the same predecessor, or an event sits at
	// a position the chain had already passed (at or before the latest checkpoint).
	Inserted ProblemKind = "INSERTED"
	// Reordered: an event links to another event of the chain than the one before it.
	Reordered ProblemKind = "REORDERED"
)

// Problem is the first break Verify found.
type Problem struct {
	Kind ProblemKind
	// Seq is the position where the chain broke.
	Seq    int64
	Detail string
}

// Report is the outcome of verifying one company's chain.
type Report struct {
	CompanyID string
	// Checkpoint is the seq of the latest checkpoint the walk started after, 0 for none.
	Checkpoint int64
	// Events is the number of events found intact before the first problem (all, if none).
	Events int64
	// LastSeq and LastHash are the head of the verified chain: compare them with the audit
	// stream to detect the removal of the newest events, which a chain alone cannot show.
	LastSeq  int64
	LastHash string
	// Problem is the first break, nil when the chain is intact.
	Problem *Problem
}

// OK reports whether the chain verified.
func (r Report) OK() bool { return r.Problem == nil }

// String is one line for the CLI.
func (r Report) String() string {
	if r.Problem != nil {
		return fmt.Sprintf("company %s: %s at seq %d: %s (%d events intact before it)",
			r.CompanyID, r.Problem.Kind, r.Problem.Seq, r.Problem.Detail, r.Events)
	}
	return fmt.Sprintf("company %s: ok, %d events after checkpoint %d, head seq %d hash %s",
		r.CompanyID, r.Events, r.Checkpoint, r.LastSeq, r.LastHash)
}

// Checkpoint records where pruning cut a chain: the seq and hash of the last pruned event, so
// that the remaining events still link. Checkpoints form a chain of their own.
type Checkpoint struct {
	bun.BaseModel `bun:"table:audit_checkpoints,alias:audit_checkpoint"`

	CompanyID string `bun:"company_id,pk"`
	// Seq and Hash are those of the last pruned event.
	Seq  int64  `bun:"seq,pk"`
	Hash string `bun:"hash"`
	// PrunedBefore is the cut-off asked for: every pruned event occurred before it.
	PrunedBefore time.Time `bun:"pruned_before"`
	CreatedAt    time.Time `bun:"created_at"`
	// PrevCheckpoint is the CheckpointHash of the company's previous checkpoint, or Genesis.
	PrevCheckpoint string `bun:"prev_checkpoint"`
	// CheckpointHash is SHA-256 over the canonical encoding of the other columns:
	// ["laatu.audit.checkpoint.v1", company_id, seq, hash, pruned_before, created_at,
	// prev_checkpoint], times formatted like occurred_at.
	CheckpointHash string `bun:"checkpoint_hash"`
}

func (c *Checkpoint) computeHash() string {
	b, _ := json.Marshal([]any{"laatu.audit.checkpoint.v1", c.CompanyID, c.Seq, c.Hash,
		c.PrunedBefore.UTC().Format(timeLayout), c.CreatedAt.UTC().Format(timeLayout), c.PrevCheckpoint})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Verify walks a company's chain from its latest checkpoint (or the beginning) in seq order,
// checking every event's hash and link, and reports the first problem. An error means the
// chain could not be read, not that it is broken.
//
// On PostgreSQL db may be the server's role (it reads the company's rows under row-level
// security) or the table owner.
func Verify(ctx context.Context, db *database.DB, companyID string) (Report, error) {
	company, err := normalizeID("company id", companyID)
	if err != nil {
		return Report{}, err
	}
	var r Report
	err = snapshotTx(ctx, db, company, func(ctx context.Context, tx bun.Tx) error {
		r, err = verifyChain(ctx, tx, company)
		return err
	})
	return r, err
}

// VerifyAll verifies every chain in the database, NoCompany's included. On PostgreSQL db must
// be the table owner: the server's role sees only one company at a time.
func VerifyAll(ctx context.Context, db *database.DB) ([]Report, error) {
	var companies []string
	err := db.NewSelect().ColumnExpr("company_id").Table("audit_events").
		Union(db.NewSelect().ColumnExpr("company_id").Table("audit_checkpoints")).
		Scan(ctx, &companies)
	if err != nil {
		return nil, fmt.Errorf("audit: list chains: %w", err)
	}
	var reports []Report
	for _, c := range sortedUnique(companies) {
		r, err := Verify(ctx, db, c)
		if err != nil {
			return reports, err
		}
		reports = append(reports, r)
	}
	return reports, nil
}

// rowPage is how many rows a walk of the chain (verify, export) reads at a time: with runs of
// up to maxRowEvents, at most 25,600 events.
const rowPage = 100

func verifyChain(ctx context.Context, tx bun.IDB, company string) (Report, error) {
	r := Report{CompanyID: company, LastHash: Genesis}
	var cps []*Checkpoint
	if err := tx.NewSelect().Model(&cps).Where("company_id = ?", company).OrderExpr("seq ASC").Scan(ctx); err != nil {
		return r, fmt.Errorf("audit: read checkpoints: %w", err)
	}
	prevCP := Genesis
	for _, cp := range cps {
		switch {
		case cp.PrevCheckpoint != prevCP:
			r.Problem = &Problem{Modified, cp.Seq, "checkpoint does not follow the previous checkpoint"}
		case cp.computeHash() != cp.CheckpointHash:
			r.Problem = &Problem{Modified, cp.Seq, "checkpoint does not match its hash"}
		}
		if r.Problem != nil {
			return r, nil
		}
		prevCP = cp.CheckpointHash
		r.Checkpoint, r.LastSeq, r.LastHash = cp.Seq, cp.Seq, cp.Hash
	}

	err := scanChain(ctx, tx, company, nil, func(e *Event) (bool, error) {
		p, err := check(ctx, tx, e, r.LastSeq, r.LastHash)
		if err != nil || p != nil {
			r.Problem = p
			return false, err
		}
		r.Events++
		r.LastSeq, r.LastHash = e.Seq, e.Hash
		return true, nil
	})
	return r, err
}

// check verifies that e follows the event (prevSeq, prevHash), and classifies the break when
// it does not.
func check(ctx context.Context, tx bun.IDB, e *Event, prevSeq int64, prevHash string) (*Problem, error) {
	switch want := prevSeq + 1; {
	case e.Seq < want:
		return &Problem{Inserted, e.Seq, fmt.Sprintf("event at a position before %d, which the chain (or its checkpoint) already passed", want)}, nil
	case e.Seq > want:
		return &Problem{Deleted, want, fmt.Sprintf("events %d to %d are missing", want, e.Seq-1)}, nil
	}
	h, err := e.computeHash()
	if err != nil {
		return &Problem{Modified, e.Seq, "event cannot be encoded: " + err.Error()}, nil
	}
	linked, intact := e.PrevHash == prevHash, h == e.Hash
	if linked && intact {
		return nil, nil
	}
	// Classify with what else the chain holds: another event that follows the same one, or
	// the event e links to. A break is rare and verification reads the whole chain anyway, so
	// this reads it once more rather than index what the rows pack.
	var follower, target *Event
	err = scanChain(ctx, tx, e.CompanyID, nil, func(o *Event) (bool, error) {
		if o.Seq != e.Seq {
			if follower == nil && o.PrevHash == e.PrevHash {
				follower = o
			}
			if target == nil && o.Hash == e.PrevHash {
				target = o
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: classify break: %w", err)
	}
	switch {
	case follower != nil:
		return &Problem{Inserted, e.Seq, fmt.Sprintf("follows the same event as seq %d: one of them was inserted", follower.Seq)}, nil
	case linked:
		return &Problem{Modified, e.Seq, "content does not match its hash"}, nil
	case target != nil:
		return &Problem{Reordered, e.Seq, fmt.Sprintf("links to seq %d instead of seq %d", target.Seq, prevSeq)}, nil
	case intact:
		// e is whole but its predecessor's hash changed: that one was rewritten, hash and all.
		return &Problem{Modified, prevSeq, fmt.Sprintf("rewritten with a recomputed hash: seq %d no longer links to it", e.Seq)}, nil
	default:
		return &Problem{Deleted, e.Seq, "links to an event that is no longer in the chain"}, nil
	}
}

// snapshotTx runs fn in a read-only transaction that sees one snapshot, with row-level
// security admitting company.
func snapshotTx(ctx context.Context, db *database.DB, company string, fn func(ctx context.Context, tx bun.Tx) error) error {
	var opts *sql.TxOptions
	if db.Dialect == database.Postgres {
		opts = &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	}
	return db.Reader.RunInTx(ctx, opts, func(ctx context.Context, tx bun.Tx) error {
		if err := setCompany(ctx, tx, db.Dialect, company); err != nil {
			return err
		}
		return fn(ctx, tx)
	})
}

func sortedUnique(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
