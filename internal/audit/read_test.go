package audit

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

func TestEventsAndTrail(t *testing.T) {
	tdb := testdb.New(t)
	company, elsewhere := newID(), newID()
	a, _ := newAuditor(t, tdb.App, Options{Reach: reachIn(company)})
	admin, alice, bob := newID(), newID(), newID()
	doc := newID()
	start := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	// 30 events: alice views from 192.0.2.1, bob updates doc from 198.51.100.2, one a minute.
	for i := 0; i < 30; i++ {
		actor, ip, action, object := alice, "192.0.2.1", ActionView, newID()
		if i%3 == 0 {
			actor, ip, action, object = bob, "198.51.100.2", ActionUpdate, doc
		}
		ctx := httpx.NewContext(userCtx(actor, company, access.Member), httpx.RequestInfo{ClientIP: netip.MustParseAddr(ip)})
		ev := Event{CompanyID: company, Action: action, ObjectType: ObjectDocument, ObjectID: object, OccurredAt: start.Add(time.Duration(i) * time.Minute)}
		if err := a.Record(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	recordN(t, a, elsewhere, 3, start)

	c := NewCollector()
	ctx := WithCollector(userCtx(admin, company, access.Admin), c)
	seqs := func(p *storage.Page[*Event]) (out []int64) {
		for _, e := range p.Items {
			out = append(out, e.Seq)
		}
		return out
	}
	// Paging, newest first, to the end.
	var all []int64
	after := ""
	for pages := 0; ; pages++ {
		p, err := a.Events(ctx, company, Filter{}, 12, after)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, seqs(p)...)
		if !p.HasNext {
			if pages != 2 {
				t.Fatalf("%d pages, want 3", pages+1)
			}
			break
		}
		after = p.Cursors[len(p.Cursors)-1]
		if _, err := storage.NewPageArgs(nil, &after); err != nil {
			t.Fatalf("storage does not accept the cursor: %v", err)
		}
	}
	if len(all) != 30 || all[0] != 30 || all[29] != 1 {
		t.Fatalf("paged seqs %v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i] != all[i-1]-1 {
			t.Fatalf("paged seqs not newest first without gaps: %v", all)
		}
	}

	from, to := start.Add(10*time.Minute), start.Add(20*time.Minute)
	cases := []struct {
		name string
		f    Filter
		want int
	}{
		{"action", Filter{Action: ActionUpdate}, 10},
		{"actor", Filter{ActorID: alice}, 20},
		{"object", Filter{ObjectID: doc}, 10},
		{"ip", Filter{IP: "198.51.100.2"}, 10},
		{"time range", Filter{From: &from, To: &to}, 10},
		{"all together", Filter{ActorID: bob, Action: ActionUpdate, IP: "198.51.100.2", From: &from, To: &to}, 3},
		{"nothing", Filter{ActorID: admin}, 0},
	}
	for _, tc := range cases {
		p, err := a.Events(ctx, company, tc.f, 100, "")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		total, err := p.Total()
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != tc.want || total != tc.want {
			t.Errorf("%s: %d events, total %d, want %d", tc.name, len(p.Items), total, tc.want)
		}
	}

	trail, err := a.Trail(ctx, doc, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(trail.Items) != 5 || !trail.HasNext || trail.Items[0].Seq != 28 || trail.Items[0].ObjectID != doc {
		t.Fatalf("trail: %v, has next %v", seqs(trail), trail.HasNext)
	}
	// Reading the log was recorded as views of it.
	views := c.take()
	if len(views) != 2 || views[0].typ != ObjectAuditLog {
		t.Fatalf("reads of the log recorded as %+v", views)
	}

	// Refusals.
	member := userCtx(alice, company, access.Member)
	if _, err := a.Events(member, company, Filter{}, 10, ""); errs.KindOf(err) != errs.Forbidden {
		t.Errorf("member reading the log: %v", err)
	}
	if _, err := a.Events(ctx, elsewhere, Filter{}, 10, ""); errs.KindOf(err) != errs.Forbidden {
		t.Errorf("admin reading another company's log: %v", err)
	}
	for name, call := range map[string]func() error{
		"first":  func() error { _, err := a.Events(ctx, company, Filter{}, 101, ""); return err },
		"after":  func() error { _, err := a.Events(ctx, company, Filter{}, 10, "bogus"); return err },
		"actor":  func() error { _, err := a.Events(ctx, company, Filter{ActorID: "nobody"}, 10, ""); return err },
		"ip":     func() error { _, err := a.Events(ctx, company, Filter{IP: "x"}, 10, ""); return err },
		"trail":  func() error { _, err := a.Trail(ctx, doc, 101, ""); return err },
		"cursor": func() error { _, err := a.Trail(ctx, doc, 1, "e30"); return err },
	} {
		if err := call(); errs.KindOf(err) != errs.BadUserInput {
			t.Errorf("bad %s: %v", name, err)
		}
	}
	if _, err := a.Trail(context.Background(), doc, 1, ""); err == nil {
		t.Error("trail without a principal")
	}
	// The trail asks Reach for the caller's right and passes its refusal on; without Reach it
	// refuses everyone. (internal/e2e's TestAuditTrailReaderChecksManage refuses through the
	// real storage.Store.Reach.)
	refuse := func(context.Context, string, access.Right) (storage.Object, error) {
		return nil, errs.New(errs.Forbidden, "no")
	}
	for name, opts := range map[string]Options{"refusing Reach": {Reach: refuse}, "no Reach": {}} {
		b, _ := newAuditor(t, tdb.App, opts)
		if _, err := b.Trail(ctx, doc, 1, ""); errs.KindOf(err) != errs.Forbidden {
			t.Errorf("trail with %s: %v, want FORBIDDEN", name, err)
		}
	}
	// The system reads any company's log (the CLI and background jobs).
	p, err := a.Events(access.AsSystem(context.Background(), elsewhere), elsewhere, Filter{}, 10, "")
	if err != nil || len(p.Items) != 3 {
		t.Fatalf("system read: %v, %v", p, err)
	}
}
