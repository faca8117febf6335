package audit

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/pubsub"
)

// FieldTail is the field of the VIEW of a company's AUDIT_LOG that records the start of a
// live audit tail: the root field of the subscription.
const FieldTail = "auditEventAdded"

// How much a tail reads at a time, and how far it may fall behind before it ends.
const (
	tailPage      = 500
	maxTailBehind = 5000
)

// ErrTailBehind ends a tail that found more new events at once than it hands over.
var ErrTailBehind = errs.New(errs.RateLimited,
	"the audit log grew faster than this subscription could deliver it; read auditEvents and subscribe again")

// Tail follows one company's audit log for one subscriber, the live audit tail: each event
// committed after the tail began, oldest first, exactly once.
//
// The writers announce on pubsub.AuditTopic how far each transaction extended a company's
// chain (pubsub.KindAudit with ChainSeq), ids only. A tail remembers the seq of the last event
// it read and, on a notice beyond it, reads the events after it, as the subscriber. Seqs
// commit in order (appends to a chain serialize, and each commits before the next may be
// chained), so nothing is skipped: a lost notice (a listener that reconnected; the broker
// then sends RESYNC, which reads the same way) only delays events until the next one, and a
// notice for what the tail already read costs nothing.
//
// Reading the tail is recorded once, when it begins, as a VIEW of the company's AUDIT_LOG with
// the field FieldTail. The events it hands over are not recorded again one by one: each
// would be a new event of the same log, handed over in turn to every tail and recorded again,
// without end.
//
// A Tail is used by one goroutine at a time.
type Tail struct {
	a       *Auditor
	company string
	filter  Filter
	// last is the seq up to which the chain has been read (or passed, under a filter).
	last  int64
	begun bool
	// behind is how many events Next hands over at most at once (maxTailBehind).
	behind int
}

// NewTail prepares a tail of companyID's log, narrowed by f (every condition given must hold;
// From and To are not accepted: a tail has no end and begins now). Begin starts it.
func (a *Auditor) NewTail(companyID string, f Filter) (*Tail, error) {
	company, err := normalizeID("company id", companyID)
	if err != nil {
		return nil, errs.New(errs.Forbidden, "only admins of the company read its audit log")
	}
	if f.From != nil || f.To != nil {
		return nil, errs.Invalid("filter", "a live audit log cannot be narrowed in time")
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	return &Tail{a: a, company: company, filter: f, behind: maxTailBehind}, nil
}

// Topic is the pubsub topic whose events Next takes.
func (t *Tail) Topic() string { return pubsub.AuditTopic(t.company) }

// Begin starts the tail for the caller in ctx, who must be an ADMIN of the company: it records
// the start (durably, before it returns; an error means the tail must not run), then reads
// where the company's chain ends, after which Next hands over events. Subscribe to Topic
// before Begin, so that no notice falls between the two.
func (t *Tail) Begin(ctx context.Context) error {
	if t.begun {
		return fmt.Errorf("audit: tail of %s already begun", t.company)
	}
	if err := t.mayRead(ctx); err != nil {
		return err
	}
	if OperationFrom(ctx).Type == "" && graphql.HasOperationContext(ctx) {
		ctx = WithOperation(ctx, OperationOf(graphql.GetOperationContext(ctx)))
	}
	err := t.a.Record(ctx, Event{CompanyID: t.company, Action: ActionView, ObjectType: ObjectAuditLog,
		ObjectID: t.company, Fields: []Field{{Field: FieldTail}}})
	if err != nil {
		return errs.Fault(err, "the audit log is unavailable")
	}
	// Read after the start is durable: the tail does not hand its own start over.
	err = readTx(ctx, t.a.db, t.company, func(ctx context.Context, tx bun.Tx) error {
		end, err := lastLink(ctx, tx, t.company)
		t.last = end.Seq
		return err
	})
	if err != nil {
		return err
	}
	t.begun = true
	return nil
}

// Next hands over the events committed since the last call, oldest first, as the caller in
// ctx reads them: ev is a notice from Topic (read only when it announces events beyond those
// read) or RESYNC (always read). Its signature is that of a subscribe.Follow handler.
func (t *Tail) Next(ctx context.Context, ev pubsub.Event) ([]*Event, error) {
	if !t.begun {
		return nil, fmt.Errorf("audit: tail of %s not begun", t.company)
	}
	switch ev.Kind {
	case pubsub.KindAudit:
		if ev.CompanyID != t.company || ev.ChainSeq <= t.last {
			return nil, nil
		}
	case pubsub.KindResync:
	default:
		return nil, nil
	}
	if err := t.mayRead(ctx); err != nil {
		return nil, err
	}
	var out []*Event
	for {
		var rows []*row
		err := readTx(ctx, t.a.db, t.company, func(ctx context.Context, tx bun.Tx) error {
			q := tx.NewSelect().Model(&rows).Where("company_id = ?", t.company)
			return whereHoldsAfter(q, t.company, t.last).Apply(t.filter.apply(t.a.db.Dialect)).
				OrderExpr("seq ASC").Limit(tailPage).Scan(ctx)
		})
		if err != nil {
			return nil, fmt.Errorf("audit: read the tail of %s: %w", t.company, err)
		}
		last := t.last
		for _, r := range rows {
			for _, e := range r.events() {
				if e.Seq > t.last && t.filter.keeps(e) {
					out = append(out, e)
				}
			}
			last = max(last, r.last().Seq)
		}
		t.last = last
		if len(out) > t.behind {
			return nil, ErrTailBehind
		}
		if len(rows) < tailPage {
			break
		}
	}
	// Under a filter, the events up to the notice that did not match need not be read again:
	// they had committed when it was sent.
	if ev.Kind == pubsub.KindAudit && ev.ChainSeq > t.last {
		t.last = ev.ChainSeq
	}
	return out, nil
}

// mayRead refuses anyone but an ADMIN of the company (or the system), as Events does.
func (t *Tail) mayRead(ctx context.Context) error {
	p := access.FromContext(ctx)
	if p == nil || (!p.System() && p.LevelIn(t.company) != access.Admin) {
		return errs.New(errs.Forbidden, "only admins of the company read its audit log")
	}
	return nil
}
