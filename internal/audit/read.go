package audit

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/storage"
)

// Filter narrows a company's events. Empty fields do not filter.
type Filter struct {
	// ActorID keeps the events of one user.
	ActorID string
	// ObjectID keeps the events about one object.
	ObjectID string
	// Action keeps one action (VIEW, UPDATE, LOGIN, ...).
	Action string
	// From keeps events at or after it; To keeps events before it.
	From, To *time.Time
	// IP keeps events from one client address.
	IP string
}

// Events returns one page of a company's events, newest first, after the cursor after (empty
// for the first page). first is the page size: 0 to storage.MaxPageSize, where a negative value
// means the default. The caller must be an ADMIN of companyID (or the system); the resolver's
// @auth(level: ADMIN) checks it first, Events checks it again, and row-level security admits
// only companyID's rows. Reading the log is itself audited: Events adds a view of the company's
// AUDIT_LOG to the Collector in ctx.
func (a *Auditor) Events(ctx context.Context, companyID string, f Filter, first int, after string) (*storage.Page[*Event], error) {
	p := access.FromContext(ctx)
	if company, err := normalizeID("company id", companyID); err != nil || (!p.System() && p.LevelIn(company) != access.Admin) {
		return nil, errs.New(errs.Forbidden, "only admins of the company read its audit log")
	}
	page, err := a.page(ctx, companyID, f, first, after)
	if err == nil {
		if c := CollectorFrom(ctx); c != nil {
			c.Add(companyID, ObjectAuditLog, companyID, "auditEvents")
		}
	}
	return page, err
}

// ReachFunc returns the folder or document id names when the caller in ctx holds at least
// need on it, NOT_FOUND when it may not view it, FORBIDDEN when it holds less:
// storage.Store.Reach.
type ReachFunc func(ctx context.Context, id string, need access.Right) (storage.Object, error)

// Trail returns one page of the events about one folder or document, newest first, for a
// caller who may MANAGE it. The resolver's @shared(level: MANAGE) directive checks that first;
// Trail checks it again through Options.Reach (the wall behind the directive), which also
// finds the object's company: an object the caller may not view is NOT_FOUND, one it may view
// but not manage FORBIDDEN. Reading a trail adds a view of the object's "auditTrail" to the
// Collector in ctx.
func (a *Auditor) Trail(ctx context.Context, objectID string, first int, after string) (*storage.Page[*Event], error) {
	if access.FromContext(ctx) == nil {
		return nil, storage.ErrNoScope
	}
	if a.opts.Reach == nil {
		return nil, errs.New(errs.Forbidden, "the audit trail cannot check rights here")
	}
	obj, err := a.opts.Reach(ctx, objectID, access.Manage)
	if err != nil {
		return nil, err
	}
	companyID := obj.ObjectCompanyID()
	page, err := a.page(ctx, companyID, Filter{ObjectID: obj.ObjectID()}, first, after)
	if err == nil {
		if c := CollectorFrom(ctx); c != nil {
			c.Add(companyID, ObjectAuditLog, objectID, "auditTrail")
		}
	}
	return page, err
}

func (a *Auditor) page(ctx context.Context, companyID string, f Filter, first int, after string) (*storage.Page[*Event], error) {
	company, err := normalizeID("company id", companyID)
	if err != nil {
		return nil, errs.NotFoundf("company")
	}
	if first < 0 {
		first = storage.DefaultPageSize
	}
	if first > storage.MaxPageSize {
		return nil, errs.Invalid("first", "first must be between 0 and %d", storage.MaxPageSize)
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	var afterSeq int64
	if after != "" {
		if afterSeq, err = decodeCursor(after); err != nil {
			return nil, err
		}
	}
	// Rows, newest first, until first+1 events have been kept. A row holds one event or a
	// whole run of them, so the rows are read a few at first and then more at a time: every
	// row holds at least one event the filter keeps, except perhaps the first, which may begin
	// before the cursor and hold the filter's object only after it.
	var events []*Event
	err = readTx(ctx, a.db, company, func(ctx context.Context, tx bun.Tx) error {
		before := afterSeq
		for batch := int64(4); len(events) <= first; batch = min(2*batch, int64(first)+2) {
			var rows []*row
			q := tx.NewSelect().Model(&rows).Where("company_id = ?", company).Apply(f.apply(a.db.Dialect))
			if before > 0 {
				q = q.Where("seq < ?", before)
			}
			if err := q.OrderExpr("seq DESC").Limit(batch).Scan(ctx); err != nil {
				return err
			}
			for _, r := range rows {
				held := r.events()
				for i := len(held) - 1; i >= 0 && len(events) <= first; i-- {
					if e := held[i]; (afterSeq == 0 || e.Seq < afterSeq) && f.keeps(e) {
						events = append(events, e)
					}
				}
			}
			if int64(len(rows)) < batch {
				return nil // no rows left
			}
			before = rows[len(rows)-1].Seq
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: read events: %w", err)
	}
	page := &storage.Page[*Event]{Items: events}
	if len(events) > first {
		page.Items, page.HasNext = events[:first], true
	}
	page.Cursors = make([]string, len(page.Items))
	for i, e := range page.Items {
		page.Cursors[i] = encodeCursor(e)
	}
	page.Total = func() (int, error) {
		var n int
		err := readTx(ctx, a.db, company, func(ctx context.Context, tx bun.Tx) error {
			count, args := eventCount(a.db.Dialect, f.ObjectID)
			return tx.NewSelect().Model((*row)(nil)).ColumnExpr(count, args...).
				Where("company_id = ?", company).Apply(f.apply(a.db.Dialect)).Scan(ctx, &n)
		})
		if err != nil {
			return 0, fmt.Errorf("audit: count events: %w", err)
		}
		return n, nil
	}
	return page, nil
}

func (f Filter) validate() error {
	if f.ActorID != "" {
		if _, err := uuid.Parse(f.ActorID); err != nil {
			return errs.Invalid("filter.actor", "actor is not a user id")
		}
	}
	if f.IP != "" {
		if _, err := netip.ParseAddr(f.IP); err != nil {
			return errs.Invalid("filter.ip", "ip is not an IP address")
		}
	}
	return nil
}

// apply returns what keeps the rows holding events that f keeps. Every condition but the
// object's is on what the events of a row share.
func (f Filter) apply(dialect database.Dialect) func(q *bun.SelectQuery) *bun.SelectQuery {
	return func(q *bun.SelectQuery) *bun.SelectQuery {
		if f.ActorID != "" {
			id, _ := normalizeID("actor", f.ActorID)
			q = q.Where("audit_event.actor_id = ?", id)
		}
		if f.ObjectID != "" {
			cond, args := objectCondition(dialect, f.ObjectID)
			q = q.Where(cond, args...)
		}
		if f.Action != "" {
			q = q.Where("audit_event.action = ?", f.Action)
		}
		if f.From != nil {
			q = q.Where("audit_event.occurred_at >= ?", f.From.UTC())
		}
		if f.To != nil {
			q = q.Where("audit_event.occurred_at < ?", f.To.UTC())
		}
		if f.IP != "" {
			ip, _ := netip.ParseAddr(f.IP)
			q = q.Where("audit_event.client_ip = ?", ip.String())
		}
		return q
	}
}

// keeps tells whether f keeps an event of a row that apply kept: whether it is about the
// filter's object, the one condition that is not the row's.
func (f Filter) keeps(e *Event) bool {
	return f.ObjectID == "" || e.ObjectID == f.ObjectID
}

// readTx runs fn in a read-only transaction in which row-level security admits company.
func readTx(ctx context.Context, db *database.DB, company string, fn func(ctx context.Context, tx bun.Tx) error) error {
	var opts *sql.TxOptions
	if db.Dialect == database.Postgres {
		opts = &sql.TxOptions{ReadOnly: true}
	}
	return db.Reader.RunInTx(ctx, opts, func(ctx context.Context, tx bun.Tx) error {
		if err := setCompany(ctx, tx, db.Dialect, company); err != nil {
			return err
		}
		return fn(ctx, tx)
	})
}

// The cursor has the shape of storage's cursors ({"k": key, "i": id}), so that
// storage.NewPageArgs accepts it too; the key is the event's seq.
type cursor struct {
	Key int64  `json:"k"`
	ID  string `json:"i"`
}

func encodeCursor(e *Event) string {
	b, _ := json.Marshal(cursor{Key: e.Seq, ID: e.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (int64, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 1024 || json.Unmarshal(b, &c) != nil || c.Key <= 0 {
		return 0, errs.Invalid("after", "after is not a cursor returned by this list")
	}
	return c.Key, nil
}

// EventsOfActor returns every event of companyID's chain (NoCompany included) in which userID
// acted, oldest first: the audit log's share of a personal-data export. The caller must be
// that user, an ADMIN of companyID, or the system; anyone else gets NOT_FOUND, as for a user
// that does not exist.
func (a *Auditor) EventsOfActor(ctx context.Context, companyID, userID string) ([]*Event, error) {
	p := access.FromContext(ctx)
	if p == nil {
		return nil, storage.ErrNoScope
	}
	company, err := normalizeID("company id", companyID)
	if err != nil {
		return nil, errs.NotFoundf("company")
	}
	actor, err := normalizeID("user id", userID)
	if err != nil {
		return nil, errs.NotFoundf("user")
	}
	if !p.System() && p.UserID != actor && p.LevelIn(company) != access.Admin {
		return nil, errs.NotFoundf("user")
	}
	var events []*Event
	err = readTx(ctx, a.db, company, func(ctx context.Context, tx bun.Tx) error {
		var rows []*row
		if err := tx.NewSelect().Model(&rows).Where("company_id = ? AND actor_id = ?", company, actor).OrderExpr("seq").Scan(ctx); err != nil {
			return err
		}
		for _, r := range rows {
			events = append(events, r.events()...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: events of actor: %w", err)
	}
	return events, nil
}
