package audit

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/rs/zerolog"

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
	a := &Auditor{stream: zerolog.New(io.Discard)}
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
			a := New(tdb.App, zerolog.New(io.Discard), opts)
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
