package audit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/database"
)

// How events are stored: one row per run.
//
// A run is consecutive events of one company's chain that share their context: everything
// but their object, its fields, the event id and the chain columns (sameContext). The views
// of one response are a run, and so are the events of one Record call about one operation.
// One row of audit_events holds a whole run: its first event in the row's own columns,
// exactly as a lone event is stored, the others in `more` (a JSON array of what differs), and
// their object ids once more in more_object_ids, which PostgreSQL indexes for the object
// filter. A response that returns a dozen objects thus writes one row, and one entry in each
// index, instead of a dozen: on PostgreSQL a third of the WAL and of the table space, and a
// quarter less time to commit (BenchmarkRuns; README, "The audit log").
//
// Nothing about the chain changes: every event keeps its own seq, id, prev_hash and hash over
// the same canonical encoding, and readers expand rows into the events they hold (row.events).
// A row covers the seqs from its own seq to lastSeq, without gaps; rows never overlap, and
// the primary key (company_id, seq) orders them as their events.

// row is one row of audit_events.
type row struct {
	bun.BaseModel `bun:"table:audit_events,alias:audit_event"`

	Event
	// More are the run's events after the first, in seq order; nil for a lone event.
	More []packed `bun:"more,type:jsonb,nullzero"`
	// MoreObjectIDs are More's object ids, in the same order; nil for a lone event.
	MoreObjectIDs []string `bun:"more_object_ids,type:jsonb,nullzero"`
}

// packed is what an event of a run has of its own; the rest is the row's.
type packed struct {
	Seq        int64   `json:"seq"`
	ID         string  `json:"id"`
	ObjectType string  `json:"object_type"`
	ObjectID   string  `json:"object_id"`
	Fields     []Field `json:"fields"`
	PrevHash   string  `json:"prev_hash"`
	Hash       string  `json:"hash"`
}

// maxRowEvents bounds the events one row holds, so that a row stays small enough to read
// and decode at once.
const maxRowEvents = 256

// toRows packs prepared, chained events (in seq order) into rows: each run of events with
// the same context, up to maxRowEvents, becomes one row.
func toRows(events []*Event) []*row {
	var rows []*row
	var cur *row
	for _, e := range events {
		if cur != nil && len(cur.More)+1 < maxRowEvents && sameContext(&cur.Event, e) {
			cur.More = append(cur.More, packed{Seq: e.Seq, ID: e.ID, ObjectType: e.ObjectType,
				ObjectID: e.ObjectID, Fields: e.Fields, PrevHash: e.PrevHash, Hash: e.Hash})
			cur.MoreObjectIDs = append(cur.MoreObjectIDs, e.ObjectID)
			continue
		}
		cur = &row{Event: *e}
		rows = append(rows, cur)
	}
	return rows
}

// events returns the events r holds, in seq order, in the form they were hashed in.
func (r *row) events() []*Event {
	out := make([]*Event, 0, 1+len(r.More))
	first := r.Event
	first.afterScan()
	out = append(out, &first)
	for _, p := range r.More {
		e := first // the context the run shares
		e.Seq, e.ID, e.ObjectType, e.ObjectID, e.Fields, e.PrevHash, e.Hash =
			p.Seq, p.ID, p.ObjectType, p.ObjectID, p.Fields, p.PrevHash, p.Hash
		e.afterScan()
		out = append(out, &e)
	}
	return out
}

// last returns the seq and hash of r's last event.
func (r *row) last() link {
	if n := len(r.More); n > 0 {
		return link{Seq: r.More[n-1].Seq, Hash: r.More[n-1].Hash}
	}
	return link{Seq: r.Seq, Hash: r.Hash}
}

// whereHoldsAfter keeps the rows that may hold events after seq: those that begin after it,
// and the one that begins at or before it, which may run past it. The caller drops the
// events at or before seq.
func whereHoldsAfter(q *bun.SelectQuery, company string, seq int64) *bun.SelectQuery {
	return q.Where("(audit_event.seq > ? OR audit_event.seq = (SELECT max(s.seq) FROM audit_events AS s"+
		" WHERE s.company_id = ? AND s.seq <= ?))", seq, company, seq)
}

// objectCondition keeps the rows holding an event about objectID: their own, or one of their
// more_object_ids (through PostgreSQL's GIN index on it).
func objectCondition(dialect database.Dialect, objectID string) (string, []any) {
	ids, _ := json.Marshal([]string{objectID})
	if dialect == database.Postgres {
		return "(audit_event.object_id = ? OR audit_event.more_object_ids @> ?::jsonb)", []any{objectID, string(ids)}
	}
	return "(audit_event.object_id = ? OR EXISTS (SELECT 1 FROM json_each(audit_event.more_object_ids) AS o WHERE o.value = ?))",
		[]any{objectID, objectID}
}

// eventCount is the SQL that sums the events the selected rows hold: all of them, or, with an
// object filter, those about objectID.
func eventCount(dialect database.Dialect, objectID string) (string, []any) {
	if objectID == "" {
		if dialect == database.Postgres {
			return "coalesce(sum(1 + coalesce(jsonb_array_length(audit_event.more), 0)), 0)", nil
		}
		return "coalesce(sum(1 + coalesce(json_array_length(audit_event.more), 0)), 0)", nil
	}
	if dialect == database.Postgres {
		return "coalesce(sum((audit_event.object_id = ?)::int + (SELECT count(*) FROM " +
			"jsonb_array_elements_text(audit_event.more_object_ids) AS o WHERE o = ?)), 0)", []any{objectID, objectID}
	}
	return "coalesce(sum((audit_event.object_id = ?) + (SELECT count(*) FROM " +
		"json_each(audit_event.more_object_ids) AS o WHERE o.value = ?)), 0)", []any{objectID, objectID}
}

// rowAt returns the row holding the event at seq, nil when there is none.
func rowAt(ctx context.Context, tx bun.IDB, company string, seq int64) (*row, error) {
	var rows []*row
	err := tx.NewSelect().Model(&rows).Where("company_id = ? AND seq <= ?", company, seq).
		OrderExpr("seq DESC").Limit(1).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: read event %d: %w", seq, err)
	}
	if len(rows) == 0 || rows[0].last().Seq < seq {
		return nil, nil
	}
	return rows[0], nil
}

// eventAt returns the event at seq, nil when there is none.
func eventAt(ctx context.Context, tx bun.IDB, company string, seq int64) (*Event, error) {
	r, err := rowAt(ctx, tx, company, seq)
	if err != nil || r == nil {
		return nil, err
	}
	for _, e := range r.events() {
		if e.Seq == seq {
			return e, nil
		}
	}
	return nil, nil
}

// scanChain calls fn with every event of company's chain in the rows that where keeps (all,
// when nil), in seq order, a page of rows at a time, until fn returns false or an error.
func scanChain(ctx context.Context, tx bun.IDB, company string, where func(*bun.SelectQuery) *bun.SelectQuery,
	fn func(e *Event) (bool, error)) error {
	for after := int64(0); ; {
		var rows []*row
		q := tx.NewSelect().Model(&rows).Where("company_id = ? AND seq > ?", company, after)
		if where != nil {
			q = q.Apply(where)
		}
		if err := q.OrderExpr("seq ASC").Limit(rowPage).Scan(ctx); err != nil {
			return fmt.Errorf("audit: read chain: %w", err)
		}
		for _, r := range rows {
			for _, e := range r.events() {
				if more, err := fn(e); err != nil || !more {
					return err
				}
			}
		}
		if len(rows) < rowPage {
			return nil
		}
		after = rows[len(rows)-1].Seq
	}
}
