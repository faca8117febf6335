package audit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/pubsub"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

// runsFixture writes, to one company's chain: three responses of five views each by three
// users (doc among the views of the first and the third) and, between
// the second and the third, a lone UPDATE of doc. That is four rows holding 16 events.
type runsFixture struct {
	company, doc string
	actors       [3]string
	// times are the times of the four rows, in order.
	times [4]time.Time
}

func writeRuns(t *testing.T, a *Auditor, company string) runsFixture {
	t.Helper()
	// A run holds its views in the order of their ids: doc's sorts last, so that it is the
	// last event of its runs, inside more.
	fx := runsFixture{company: company, doc: "ffffffff-ffff-4fff-bfff-ffffffffffff", actors: [3]string{newID(), newID(), newID()}}
	respond := func(i int, withDoc bool) {
		c := NewCollector()
		for j := 0; j < 5; j++ {
			id := newID()
			if withDoc && j == 0 {
				id = fx.doc
			}
			c.Add(company, ObjectDocument, id, "title")
		}
		if err := a.Flush(requestCtx(fx.actors[i], company, fmt.Sprintf("192.0.2.%d", i+1), fmt.Sprint("r", i)), c); err != nil {
			t.Fatal(err)
		}
	}
	respond(0, true)
	respond(1, false)
	ctx := requestCtx(fx.actors[0], company, "192.0.2.9", "r-update")
	if err := a.Record(ctx, Event{CompanyID: company, Action: ActionUpdate, ObjectType: ObjectDocument, ObjectID: fx.doc,
		Fields: []Field{{Field: "title", Before: "a", After: "b"}}}); err != nil {
		t.Fatal(err)
	}
	respond(2, true)
	rows := readRows(t, a.db, company)
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4 (three runs and a lone event)", len(rows))
	}
	for i, r := range rows {
		fx.times[i] = r.OccurredAt
	}
	return fx
}

// pageAll reads every page that page returns, following the cursors, and returns the seqs of
// the events in the order they came.
func pageAll(t *testing.T, page func(after string) (*storage.Page[*Event], error)) []int64 {
	t.Helper()
	var seqs []int64
	for after := ""; ; {
		p, err := page(after)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Items {
			seqs = append(seqs, e.Seq)
		}
		if !p.HasNext {
			return seqs
		}
		after = p.Cursors[len(p.Cursors)-1]
	}
}

func readRows(t *testing.T, db *database.DB, company string) []*row {
	t.Helper()
	var rows []*row
	err := snapshotTx(context.Background(), db, company, func(ctx context.Context, tx bun.Tx) error {
		return tx.NewSelect().Model(&rows).Where("company_id = ?", company).OrderExpr("seq").Scan(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// Every reader sees the events of a run as it sees lone events: paging with cursors inside
// runs, filters (the object's included, inside runs), totals, the trail, the export, the tail
// and verification.
func TestRunsReadAsEvents(t *testing.T) {
	tdb := testdb.New(t)
	_, pub := broker(t, tdb)
	company := newID()
	a, _ := newAuditor(t, tdb.App, Options{Window: -1, Publisher: pub, Reach: reachIn(company)})
	fx := writeRuns(t, a, company)
	admin := WithCollector(userCtx(newID(), company, access.Admin), NewCollector())

	if r := mustVerify(t, tdb.App, company); !r.OK() || r.Events != 16 || r.LastSeq != 16 {
		t.Fatalf("verify: %v", r)
	}
	// Pages of 3, newest first: every cursor but one falls inside a run.
	seqs := pageAll(t, func(after string) (*storage.Page[*Event], error) {
		return a.Events(admin, company, Filter{}, 3, after)
	})
	if len(seqs) != 16 {
		t.Fatalf("paged %v", seqs)
	}
	for i, s := range seqs {
		if s != int64(16-i) {
			t.Fatalf("paged %v, want 16 down to 1", seqs)
		}
	}

	cases := []struct {
		name string
		f    Filter
		want []int64
	}{
		{"object inside runs and alone", Filter{ObjectID: fx.doc}, []int64{16, 11, 5}},
		{"actor", Filter{ActorID: fx.actors[1]}, []int64{10, 9, 8, 7, 6}},
		{"action", Filter{Action: ActionUpdate}, []int64{11}},
		{"ip and object", Filter{IP: "192.0.2.3", ObjectID: fx.doc}, []int64{16}},
		{"object nowhere", Filter{ObjectID: newID()}, nil},
	}
	for _, tc := range cases {
		p, err := a.Events(admin, company, tc.f, 100, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, e := range p.Items {
			got = append(got, e.Seq)
			if tc.f.ObjectID != "" && e.ObjectID != tc.f.ObjectID {
				t.Errorf("%s: event %d is about %s", tc.name, e.Seq, e.ObjectID)
			}
		}
		total, err := p.Total()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) || total != len(tc.want) {
			t.Errorf("%s: %v (total %d), want %v", tc.name, got, total, tc.want)
		}
	}
	if p, _ := a.Events(admin, company, Filter{}, 0, ""); p == nil {
		t.Fatal("no page")
	} else if n, err := p.Total(); err != nil || n != 16 {
		t.Errorf("total %d, %v; want 16", n, err)
	}
	// The object's trail, one at a time.
	trail := pageAll(t, func(after string) (*storage.Page[*Event], error) {
		return a.Trail(admin, fx.doc, 1, after)
	})
	if fmt.Sprint(trail) != "[16 11 5]" {
		t.Errorf("trail %v", trail)
	}

	// The export writes every event of the time range, in order, runs unpacked.
	var out bytes.Buffer
	n, err := Export(context.Background(), tdb.App, company, fx.times[1], fx.times[3], &out)
	if err != nil || n != 6 || strings.Count(out.String(), "\n") != 6 {
		t.Fatalf("export of the second run and the update: %d, %v\n%s", n, err, out.String())
	}
	if !strings.Contains(out.String(), `"seq":6,`) || !strings.Contains(out.String(), `"seq":11,`) {
		t.Errorf("export: %s", out.String())
	}

	// A tail that follows doc hands over its event inside the next run, and nothing else.
	tail, err := a.NewTail(company, Filter{ObjectID: fx.doc})
	if err != nil {
		t.Fatal(err)
	}
	if err := tail.Begin(admin); err != nil {
		t.Fatal(err)
	}
	c := NewCollector()
	for j := 0; j < 4; j++ {
		id := newID()
		if j == 2 {
			id = fx.doc
		}
		c.Add(company, ObjectComment, newID(), "body")
		c.Add(company, ObjectDocument, id, "status")
	}
	if err := a.Flush(requestCtx(fx.actors[2], company, "192.0.2.3", "r-late"), c); err != nil {
		t.Fatal(err)
	}
	got, err := tail.Next(admin, pubsub.Event{Kind: pubsub.KindResync})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ObjectID != fx.doc || got[0].Action != ActionView {
		t.Fatalf("tail handed over %d events: %+v", len(got), got)
	}
	if again, err := tail.Next(admin, pubsub.Event{Kind: pubsub.KindResync}); err != nil || len(again) != 0 {
		t.Fatalf("tail handed over %d events again: %v", len(again), err)
	}
}

// Verification sees into runs: an event changed inside one, a run removed, two runs swapped.
func TestVerifyFindsTamperingInRuns(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{Window: -1})
	// setField writes JSON into element i of the more column of the row at seq.
	setField := func(company string, seq, i int, path, value string) string {
		if tdb.Dialect == database.Postgres {
			return fmt.Sprintf(`UPDATE audit_events SET more = jsonb_set(more, '{%d,%s}', '%s') WHERE company_id = '%s' AND seq = %d`,
				i, path, value, company, seq)
		}
		return fmt.Sprintf(`UPDATE audit_events SET more = json_set(more, '$[%d].%s', json('%s')) WHERE company_id = '%s' AND seq = %d`,
			i, path, value, company, seq)
	}
	cases := []struct {
		name   string
		tamper func(company string) []string
		kind   ProblemKind
		seq    int64
	}{
		// Rows begin at seqs 1, 6, 11 and 12; the third event of the first run is seq 3.
		{"field of an event inside a run", func(c string) []string {
			return []string{setField(c, 1, 1, "fields", `[{"field":"values"}]`)}
		}, Modified, 3},
		{"object of the last event of a run", func(c string) []string {
			return []string{setField(c, 6, 3, "object_id", `"forged"`)}
		}, Modified, 10},
		{"a whole run", func(c string) []string {
			return []string{fmt.Sprintf("DELETE FROM audit_events WHERE company_id = '%s' AND seq = 6", c)}
		}, Deleted, 6},
		{"two runs swapped", func(c string) []string {
			// The first and third runs trade places: the first event now links to seq 11.
			return []string{
				fmt.Sprintf("UPDATE audit_events SET seq = 1000001 WHERE company_id = '%s' AND seq = 1", c),
				fmt.Sprintf("UPDATE audit_events SET seq = 1 WHERE company_id = '%s' AND seq = 12", c),
				fmt.Sprintf("UPDATE audit_events SET seq = 12 WHERE company_id = '%s' AND seq = 1000001", c),
			}
		}, Reordered, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			company := newID()
			writeRuns(t, a, company)
			if r := mustVerify(t, tdb.App, company); !r.OK() {
				t.Fatalf("untouched: %v", r)
			}
			tamper(t, tdb, tc.tamper(company)...)
			r := mustVerify(t, tdb.Owner, company)
			if r.OK() || r.Problem.Kind != tc.kind || r.Problem.Seq != tc.seq {
				t.Fatalf("got %v, want %s at %d", r, tc.kind, tc.seq)
			}
		})
	}
}

// Pruning cuts between rows, counts the events of the runs it removes, and leaves a chain
// that verifies.
func TestPruneRuns(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{Window: -1})
	company := newID()
	fx := writeRuns(t, a, company)
	res, err := Prune(context.Background(), tdb.Owner, company, fx.times[2])
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 10 || res.Checkpoint == nil || res.Checkpoint.Seq != 10 {
		t.Fatalf("prune: %+v", res)
	}
	if r := mustVerify(t, tdb.Owner, company); !r.OK() || r.Events != 6 || r.Checkpoint != 10 {
		t.Fatalf("after prune: %v", r)
	}
	if rows := readRows(t, tdb.Owner, company); len(rows) != 2 || rows[0].Seq != 11 {
		t.Fatalf("%d rows left", len(rows))
	}
}

// Migration 5 can be rolled back and applied again without losing an event: rolling back
// unpacks the runs into rows of one event each.
func TestRunsMigrationRoundTrip(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{Window: -1})
	company := newID()
	writeRuns(t, a, company)
	want := chain(t, tdb.Owner, company)

	dir := filepath.Join("..", "..", "migrations", string(tdb.Dialect))
	run := func(name string) {
		t.Helper()
		sqlText, err := os.ReadFile(filepath.Join(dir, "20261127000005_audit_runs.tx."+name+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		err = tdb.Owner.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
			_, err := tx.ExecContext(ctx, string(sqlText))
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	run("down")
	var n int
	var hashes []string
	if err := tdb.Owner.NewRaw("SELECT hash FROM audit_events WHERE company_id = ? ORDER BY seq", company).Scan(context.Background(), &hashes); err != nil {
		t.Fatal(err)
	}
	n = len(hashes)
	if n != len(want) {
		t.Fatalf("after rolling back, %d rows, want one per event: %d", n, len(want))
	}
	for i, h := range hashes {
		if h != want[i].Hash {
			t.Fatalf("row %d has hash %s, want %s", i, h, want[i].Hash)
		}
	}
	run("up")
	if r := mustVerify(t, tdb.Owner, company); !r.OK() || r.Events != int64(len(want)) {
		t.Fatalf("after applying again: %v", r)
	}
}

// A response with more views than a row holds is written as several rows, each a run of at
// most maxRowEvents, and reads back whole.
func TestLongRunsSplit(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{Window: -1})
	company := newID()
	n := maxRowEvents + maxRowEvents/2
	c := NewCollector()
	for i := 0; i < n; i++ {
		c.Add(company, ObjectComment, newID(), "body")
	}
	if err := a.Flush(requestCtx(newID(), company, "192.0.2.1", "r-long"), c); err != nil {
		t.Fatal(err)
	}
	rows := readRows(t, tdb.Owner, company)
	if len(rows) != 2 || len(rows[0].events()) != maxRowEvents || len(rows[1].events()) != n-maxRowEvents {
		t.Fatalf("%d rows for %d views", len(rows), n)
	}
	if r := mustVerify(t, tdb.App, company); !r.OK() || r.Events != int64(n) {
		t.Fatalf("verify: %v", r)
	}
	p, err := a.Events(WithCollector(userCtx(newID(), company, access.Admin), NewCollector()), company, Filter{}, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if total, _ := p.Total(); total != n || len(p.Items) != 100 || p.Items[0].Seq != int64(n) {
		t.Fatalf("page of %d from %d, total %d", len(p.Items), p.Items[0].Seq, total)
	}
}
