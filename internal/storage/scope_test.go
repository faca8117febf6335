package storage

// The storage wall against the ways Bun's queries escape a tenant predicate that is only
// added to them: Count, Exists and ScanAndCount (the count must be scoped too), Where(a).
// WhereOr(b) (the OR must not escape), and joined tables (the joined table is scoped too).
// Each test runs a query through the scoped layer that would return another company's rows, or
// rows the caller may not view, if the filter were a plain WHERE added to the outer query.

import (
	"context"
	"errors"
	"testing"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/testdb"
)

// scopeWorld is two companies with folders, documents and comments, made through the store.
type scopeWorld struct {
	s *Store
	// principals
	adminA, memberA, adminB, guest *access.Principal
	// openA holds 3 documents, restrictedA 2 (in a restricted folder), B 4.
	openA, restrictedA, docsB []string
	folderA, folderRestricted string
	// sharedA is the document of openA on which the guest holds a VIEW grant (and nothing above).
	sharedA string
}

func newScopeWorld(t *testing.T) *scopeWorld {
	t.Helper()
	db := testdb.New(t)
	s := New(db.App)
	ctx := context.Background()
	user := func(email string) string {
		u, err := s.CreateUser(ctx, NewUser{Email: email, Name: email})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	w := &scopeWorld{s: s}
	adminA, memberA, adminB, guest := user("admin@a.test"), user("member@a.test"), user("admin@b.test"), user("guest@c.test")
	coA, err := s.CreateCompany(ctx, "A", adminA)
	if err != nil {
		t.Fatal(err)
	}
	coB, err := s.CreateCompany(ctx, "B", adminB)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, coA.ID, memberA, access.Member); err != nil {
		t.Fatal(err)
	}
	member := func(user, company string, level access.Level) *access.Principal {
		return &access.Principal{UserID: user, CompanyID: company, Level: level, Memberships: map[string]access.Level{company: level}}
	}
	w.adminA, w.memberA, w.adminB = member(adminA, coA.ID, access.Admin), member(memberA, coA.ID, access.Member), member(adminB, coB.ID, access.Admin)
	w.guest = &access.Principal{UserID: guest, Memberships: map[string]access.Level{}}

	fill := func(p *access.Principal, restricted bool, n int) (string, []string) {
		t.Helper()
		pctx := access.NewContext(ctx, p)
		tmpl, err := s.CreateTemplate(pctx, NewTemplate{Name: "T", Fields: []FieldDef{{Key: "a", Label: "A", Type: FieldText}}})
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.CreateFolder(pctx, NewFolder{Name: "F", Restricted: restricted})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for range n {
			d, err := s.CreateDocument(pctx, NewDocument{FolderID: f.ID, TemplateID: tmpl.ID, Title: "D"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.AddComment(pctx, d.ID, "a comment"); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, d.ID)
		}
		return f.ID, ids
	}
	w.folderA, w.openA = fill(w.adminA, false, 3)
	w.folderRestricted, w.restrictedA = fill(w.adminA, true, 2)
	_, w.docsB = fill(w.adminB, false, 4)
	w.sharedA = w.openA[0]
	if _, err := s.Share(access.NewContext(ctx, w.adminA), NewGrant{ObjectID: w.sharedA, GranteeID: guest, Level: access.View}); err != nil {
		t.Fatal(err)
	}
	return w
}

// as runs fn on a read connection of p.
func (w *scopeWorld) as(t *testing.T, p *access.Principal, fn func(ctx context.Context, c *conn) error) {
	t.Helper()
	ctx := access.NewContext(context.Background(), p)
	if err := w.s.read(ctx, func(c *conn) error { return fn(ctx, c) }); err != nil {
		t.Fatal(err)
	}
}

func TestScopedCount(t *testing.T) {
	w := newScopeWorld(t)
	for _, c := range []struct {
		name string
		p    *access.Principal
		want int
	}{
		{"admin of A", w.adminA, 5},
		{"member of A: not the restricted folder", w.memberA, 3},
		{"admin of B", w.adminB, 4},
		{"guest with one document", w.guest, 1},
		{"anonymous", &access.Principal{}, 0},
	} {
		w.as(t, c.p, func(ctx context.Context, cn *conn) error {
			n, err := cn.from(documentsTable, (*Document)(nil)).Count(ctx)
			if n != c.want {
				t.Errorf("%s: Count = %d, want %d", c.name, n, c.want)
			}
			return err
		})
	}
}

func TestScopedExists(t *testing.T) {
	w := newScopeWorld(t)
	for _, c := range []struct {
		name string
		p    *access.Principal
		id   string
		want bool
	}{
		{"A's document for A's admin", w.adminA, w.openA[1], true},
		{"B's document for A's admin", w.adminA, w.docsB[0], false},
		{"a restricted document for A's member", w.memberA, w.restrictedA[0], false},
		{"an ungranted document for the guest", w.guest, w.openA[1], false},
		{"the granted document for the guest", w.guest, w.sharedA, true},
	} {
		w.as(t, c.p, func(ctx context.Context, cn *conn) error {
			ok, err := cn.from(documentsTable, (*Document)(nil)).Where("document.id = ?", c.id).Exists(ctx)
			if ok != c.want {
				t.Errorf("%s: Exists = %v, want %v", c.name, ok, c.want)
			}
			return err
		})
	}
}

func TestScopedScanAndCount(t *testing.T) {
	w := newScopeWorld(t)
	w.as(t, w.memberA, func(ctx context.Context, c *conn) error {
		var rows []*Document
		n, err := c.from(documentsTable, &rows).OrderExpr("document.id").Limit(1).ScanAndCount(ctx)
		if err != nil {
			return err
		}
		if len(rows) != 1 || n != 3 {
			t.Errorf("ScanAndCount: %d rows, count %d; want 1 row of a count of 3 (not 5 with the restricted, not 9 with B)", len(rows), n)
		}
		for _, d := range rows {
			if d.CompanyID != w.memberA.CompanyID {
				t.Errorf("row of company %s", d.CompanyID)
			}
		}
		return nil
	})
}

func TestScopedWhereOr(t *testing.T) {
	w := newScopeWorld(t)
	w.as(t, w.memberA, func(ctx context.Context, c *conn) error {
		var rows []*Document
		err := c.from(documentsTable, &rows).Where("document.id = ?", w.openA[0]).
			WhereOr("document.id = ?", w.docsB[0]).
			WhereOr("document.id = ?", w.restrictedA[0]).
			WhereOr("document.company_id <> ?", w.memberA.CompanyID).Scan(ctx)
		if err != nil {
			return err
		}
		if len(rows) != 1 || rows[0].ID != w.openA[0] {
			t.Errorf("Where(a).WhereOr(b) escaped the filter: %d rows", len(rows))
		}
		n, err := c.from(documentsTable, (*Document)(nil)).Where("1 = 0").WhereOr("1 = 1").Count(ctx)
		if n != 3 {
			t.Errorf("WhereOr(1 = 1) counts %d, want the 3 visible", n)
		}
		return err
	})
}

func TestScopedJoin(t *testing.T) {
	w := newScopeWorld(t)
	type joined struct {
		ID      string  `bun:"id"`
		OtherID *string `bun:"other_id"`
	}
	// Another company's row joined by its id: the joined table holds none of B's rows.
	w.as(t, w.adminA, func(ctx context.Context, c *conn) error {
		var rows []joined
		err := c.from(documentsTable, (*Document)(nil)).join(documentsTable, "other", "other.id = ?", w.docsB[0]).
			ColumnExpr("document.id, other.id AS other_id").Scan(ctx, &rows)
		if err != nil {
			return err
		}
		if len(rows) != 5 {
			t.Errorf("%d rows, want A's 5", len(rows))
		}
		for _, r := range rows {
			if r.OtherID != nil {
				t.Errorf("the join reached B's document %s", *r.OtherID)
			}
		}
		return nil
	})
	// The joined table is filtered by permission too: the guest sees its document but not the
	// folder it is in.
	w.as(t, w.guest, func(ctx context.Context, c *conn) error {
		var rows []joined
		err := c.from(documentsTable, (*Document)(nil)).
			join(foldersTable, "f", "f.company_id = document.company_id AND f.id = document.folder_id").
			ColumnExpr("document.id, f.id AS other_id").Scan(ctx, &rows)
		if err != nil {
			return err
		}
		if len(rows) != 1 || rows[0].ID != w.sharedA || rows[0].OtherID != nil {
			t.Errorf("guest's join: %+v, want its document with no folder", rows)
		}
		return nil
	})
	// A join that matches every row of the joined table still holds only the visible ones.
	w.as(t, w.memberA, func(ctx context.Context, c *conn) error {
		var rows []joined
		err := c.from(documentsTable, (*Document)(nil)).Where("document.id = ?", w.openA[0]).
			join(commentsTable, "other", "1 = 1").ColumnExpr("document.id, other.id AS other_id").Scan(ctx, &rows)
		if err != nil {
			return err
		}
		if len(rows) != 3 {
			t.Errorf("%d comments joined, want the 3 on A's open documents", len(rows))
		}
		return nil
	})
}

func TestNoPrincipalIsRefused(t *testing.T) {
	w := newScopeWorld(t)
	ctx := context.Background()
	if _, err := w.s.Documents(ctx, DocumentFilter{}, DocumentUpdatedAtDesc, PageArgs{First: 10}); !errors.Is(err, ErrNoScope) {
		t.Errorf("Documents without a principal: %v, want ErrNoScope", err)
	}
	if _, err := w.s.DocumentsByID(ctx, w.docsB); !errors.Is(err, ErrNoScope) {
		t.Errorf("DocumentsByID without a principal: %v, want ErrNoScope", err)
	}
	if _, _, err := w.s.Begin(ctx, true); !errors.Is(err, ErrNoScope) {
		t.Errorf("Begin without a principal: %v, want ErrNoScope", err)
	}
	if _, err := w.s.CreateFolder(ctx, NewFolder{Name: "x"}); !errors.Is(err, ErrNoScope) {
		t.Errorf("CreateFolder without a principal: %v, want ErrNoScope", err)
	}
}
