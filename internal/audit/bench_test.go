package audit

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/testdb"
)

// requestViews fills a collector as a large nested read does: 8 folders with 5 documents
// each, their templates (3 in all) and a comment each: 91 audited objects.
func requestViews(c *Collector, company string, ids []string) {
	i := 0
	next := func() string { i++; return ids[i%len(ids)] }
	for f := 0; f < 8; f++ {
		folder := next()
		c.Add(company, ObjectFolder, folder, "name")
		c.Add(company, ObjectFolder, folder, "documents")
		for d := 0; d < 5; d++ {
			doc := next()
			for _, field := range []string{"title", "status", "values", "owner", "template", "comments"} {
				c.Add(company, ObjectDocument, doc, field)
			}
			c.Add(company, ObjectTemplate, ids[d%3], "name")
			cm := next()
			c.Add(company, ObjectComment, cm, "body")
			c.Add(company, ObjectComment, cm, "author")
		}
	}
}

// BenchmarkViewPath measures the Go side of auditing one nested read, without a database:
// collecting its fields, folding them into events, chaining them, writing the INSERT and the
// stream lines. Divide by 91 for the cost of one event.
func BenchmarkViewPath(b *testing.B) {
	company := newID()
	ids := make([]string, 500)
	for i := range ids {
		ids[i] = newID()
	}
	ctx := WithOperation(userCtx(newID(), company, access.Manager),
		Operation{Type: "query", Hash: strings.Repeat("ab", 32), RootFields: []string{"folders"}})
	a := &Auditor{stream: io.Discard}
	b.ReportAllocs()
	last := link{Hash: Genesis}
	var q []byte
	for i := 0; i < b.N; i++ {
		c := NewCollector()
		requestViews(c, company, ids)
		events, err := a.viewEvents(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		if last, err = chainAfter(last, events); err != nil {
			b.Fatal(err)
		}
		if q, err = appendInsert(q[:0], events); err != nil {
			b.Fatal(err)
		}
		a.emit(events...)
	}
}

// BenchmarkGroupCommitNotices measures one group-commit transaction of 40 views (one nested
// read's worth) against the database, without and with the notice for the live audit tail
// (on PostgreSQL a pg_notify in the same message, received by a listener):
//
//	TEST_DATABASE_URL=... go test ./internal/audit -run '^$' -bench GroupCommitNotices -count 6
func BenchmarkGroupCommitNotices(b *testing.B) {
	tdb := testdb.New(b)
	_, pub := broker(b, tdb)
	company := newID()
	ctx := WithOperation(userCtx(newID(), company, access.Manager),
		Operation{Type: "query", Hash: strings.Repeat("ab", 32), RootFields: []string{"folders"}})
	for _, notices := range []bool{false, true} {
		opts := Options{Window: -1}
		if notices {
			opts.Publisher = pub
		}
		b.Run(fmt.Sprintf("notices=%t", notices), func(b *testing.B) {
			a := New(tdb.App, io.Discard, opts)
			defer a.Close()
			evs := make([]Event, 40)
			for i := range evs {
				evs[i] = Event{CompanyID: company, Action: ActionView, ObjectType: ObjectDocument, ObjectID: newID(),
					Fields: []Field{{Field: "title"}, {Field: "status"}}}
			}
			if err := a.Record(ctx, evs...); err != nil { // learn where the chain ends
				b.Fatal(err)
			}
			for b.Loop() {
				if err := a.Record(ctx, evs...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRuns measures what one response's dozen views cost the database: written as one
// run (one row, as the writer does: Flush) and, for comparison, as a dozen one-event rows (as
// before runs; here a dozen events with a request id each, so that no two share a row). It
// reports the time of the group commit, and the WAL and table space each response takes. On
// PostgreSQL:
//
//	TEST_DATABASE_URL=... go test ./internal/audit -run '^$' -bench Runs -benchtime 2000x -count 3
func BenchmarkRuns(b *testing.B) {
	tdb := testdb.RequirePostgres(b)
	company := newID()
	ctx := WithOperation(userCtx(newID(), company, access.Manager),
		Operation{Type: "query", Hash: strings.Repeat("ab", 32), RootFields: []string{"folders"}})
	objects := make([]string, 12)
	for i := range objects {
		objects[i] = newID()
	}
	fields := []string{"owner", "status", "title", "values"}
	oneRow := func(a *Auditor) error {
		c := NewCollector()
		for _, id := range objects {
			for _, f := range fields {
				c.Add(company, ObjectDocument, id, f)
			}
		}
		return a.Flush(ctx, c)
	}
	rowEach := func(a *Auditor) error {
		evs := make([]Event, len(objects))
		for i, id := range objects {
			evs[i] = Event{CompanyID: company, Action: ActionView, ObjectType: ObjectDocument, ObjectID: id,
				RequestID: fmt.Sprint("request-", i), Fields: sortedFields(slices.Clone(fields))}
		}
		return a.Record(ctx, evs...)
	}
	for _, layout := range []struct {
		name    string
		respond func(a *Auditor) error
	}{{"rows=1", oneRow}, {"rows=12", rowEach}} {
		b.Run(layout.name, func(b *testing.B) {
			a := New(tdb.App, io.Discard, Options{Window: -1})
			defer a.Close()
			if err := layout.respond(a); err != nil { // learn where the chain ends
				b.Fatal(err)
			}
			var wal0, wal1, size0, size1 int64
			measure := func(wal, size *int64) {
				err := tdb.Owner.NewRaw("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, pg_total_relation_size('audit_events')").
					Scan(context.Background(), wal, size)
				if err != nil {
					b.Fatal(err)
				}
			}
			measure(&wal0, &size0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := layout.respond(a); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			measure(&wal1, &size1)
			b.ReportMetric(float64(wal1-wal0)/float64(b.N), "WAL-B/op")
			b.ReportMetric(float64(size1-size0)/float64(b.N), "table-B/op")
		})
	}
}
