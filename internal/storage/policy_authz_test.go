package storage_test

// The permission predicate of the storage wall (objectVisible, SQL) and access.Can (Go) are two
// writings of one rule. For every demo principal and every folder and document of the demo
// data, both must agree: visible in SQL ⇔ Can ≥ VIEW. The sharing rule is one too: the check of
// the share mutation (Store.CanShare) answers exactly what access.CanShare, which viewerCan.share
// reads, says of the same right.

import (
	"context"
	"testing"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/seed"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

func TestVisibleInSQLIffCanView(t *testing.T) {
	db := testdb.New(t)
	s := storage.New(db.App)
	ctx := context.Background()
	hasher, err := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	demo, err := seed.Demo(ctx, s, hasher)
	if err != nil {
		t.Fatal(err)
	}

	// Every folder and document, read as the system company by company (row-level security
	// admits the system to the company it names only).
	var objects []storage.Object
	var folderIDs, documentIDs []string
	for name, company := range demo.Companies {
		sys := access.AsSystem(ctx, company)
		folders, err := s.Folders(sys, storage.FolderFilter{}, storage.FolderNameAsc, storage.PageArgs{First: storage.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		docs, err := s.Documents(sys, storage.DocumentFilter{}, storage.DocumentTitleAsc, storage.PageArgs{First: storage.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		if len(folders.Items) == 0 || len(docs.Items) == 0 || folders.HasNext || docs.HasNext {
			t.Fatalf("%s: %d folders, %d documents: not the demo data in one page", name, len(folders.Items), len(docs.Items))
		}
		for _, f := range folders.Items {
			objects, folderIDs = append(objects, f), append(folderIDs, f.ID)
		}
		for _, d := range docs.Items {
			objects, documentIDs = append(objects, d), append(documentIDs, d.ID)
		}
	}

	principals := map[string]*access.Principal{}
	for _, a := range seed.Accounts {
		u, err := s.UserByEmail(access.AsSystem(ctx, ""), a.Email)
		if err != nil {
			t.Fatal(err)
		}
		p := &access.Principal{UserID: u.ID, Memberships: map[string]access.Level{}}
		ms, err := s.MembershipsOf(access.NewContext(ctx, p), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			p.Memberships[m.CompanyID] = m.Level
		}
		if len(ms) > 0 {
			p.CompanyID, p.Level = ms[0].CompanyID, ms[0].Level
		}
		principals[a.Email] = p
		// The same user naming, in X-Company-ID, a company it does not belong to: no
		// membership counts (the authenticator leaves the active company empty).
		if len(ms) > 0 {
			foreign := *p
			foreign.CompanyID, foreign.Level = "", ""
			principals[a.Email+" with a foreign X-Company-ID"] = &foreign
		}
	}

	for name, p := range principals {
		pctx := access.NewContext(ctx, p)
		rights, err := s.Rights(pctx, objects)
		if err != nil {
			t.Fatal(err)
		}
		folders, err := s.FoldersByID(pctx, folderIDs)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := s.DocumentsByID(pctx, documentIDs)
		if err != nil {
			t.Fatal(err)
		}
		visibleCount := 0
		for i, o := range objects {
			var visible bool
			var id string
			switch v := o.(type) {
			case *storage.Folder:
				id, visible = v.ID, folders[v.ID] != nil
			case *storage.Document:
				id, visible = v.ID, docs[v.ID] != nil
			}
			if visible {
				visibleCount++
			}
			if visible != rights[i].AtLeast(access.View) {
				t.Errorf("%s, %T %s: visible in SQL %v, but access.Can says %s", name, o, id, visible, rights[i])
			}
			company := ""
			switch v := o.(type) {
			case *storage.Folder:
				company = v.CompanyID
			case *storage.Document:
				company = v.CompanyID
			}
			for _, level := range []access.Right{access.View, access.Edit, access.Manage} {
				_, err := s.CanShare(pctx, id, level)
				if want := access.CanShare(p, company, rights[i], level); (err == nil) != want {
					t.Errorf("%s, %T %s at %s: the share mutation answers %v, but access.CanShare says %v", name, o, id, level, err, want)
				}
			}
		}
		t.Logf("%s: %d of %d objects visible", name, visibleCount, len(objects))
	}
}
