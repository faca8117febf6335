// Package benchdata loads a deterministic data set of realistic size — companies, users with
// memberships of every level and guest seats, folder trees with restricted branches, documents,
// folder and document grants (some expiring, some expired), templates and comments — into a
// migrated Laatu database, on PostgreSQL or SQLite, for load tests and plan tests.
//
// Rows are written with multi-row INSERTs through the storage models, so every value is encoded
// exactly as the server encodes it, and every constraint of the schema holds (composite foreign
// keys with company_id, materialized folder paths, grants' paths). Ids and structure depend only
// on the Shape; expiry dates are relative to Shape.Now, so "expired" stays expired. Each company
// gets a MEMBER seat with a live session, so that `Authorization: Bearer <token>` works against
// the real server.
package benchdata

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/auth/token"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/storage"
)

// Shape is the size of the data set. Zero fields take the values of Default.
type Shape struct {
	// Companies is the number of companies.
	Companies int
	// Users is the number of users in all, spread evenly over the companies as their home
	// company; some also hold a second membership, and some are guests of other companies.
	Users int
	// FoldersPerCompany is the size of each company's folder tree.
	FoldersPerCompany int
	// RootsPerCompany is how many of those folders are top level (at most FoldersPerCompany).
	RootsPerCompany int
	// DocsPerCompany is the number of documents in each company.
	DocsPerCompany int
	// GrantsPerCompany is the number of grants in each company (about 30 % on folders).
	GrantsPerCompany int
	// TemplatesPerCompany is the number of document templates in each company.
	TemplatesPerCompany int
	// CommentsPerCompany is the number of comments in each company.
	CommentsPerCompany int
	// Seed varies ids and names; the same Shape always loads the same rows.
	Seed uint64
	// Now anchors expiry dates; zero means the time of loading.
	Now time.Time
}

// Default is the shape of issue 10: 10 companies, 1,000 users, 200 folders and 10,000
// documents per company, 100,000 grants.
func Default() Shape {
	return Shape{Companies: 10, Users: 1000, FoldersPerCompany: 200, RootsPerCompany: 20,
		DocsPerCompany: 10_000, GrantsPerCompany: 10_000, TemplatesPerCompany: 8, CommentsPerCompany: 200, Seed: 1}
}

// Small is one company of 200 folders with 50 documents each, for plan tests.
func Small() Shape {
	return Shape{Companies: 1, Users: 60, FoldersPerCompany: 200, RootsPerCompany: 20,
		DocsPerCompany: 10_000, GrantsPerCompany: 2_000, TemplatesPerCompany: 4, CommentsPerCompany: 50, Seed: 1}
}

func (s Shape) withDefaults() Shape {
	d := Default()
	if s.Companies <= 0 {
		s.Companies = d.Companies
	}
	if s.Users <= 0 {
		s.Users = d.Users
	}
	if s.Users < 3*s.Companies {
		s.Users = 3 * s.Companies // an admin, a member and a limited seat each, at least
	}
	if s.FoldersPerCompany <= 0 {
		s.FoldersPerCompany = d.FoldersPerCompany
	}
	if s.RootsPerCompany <= 0 {
		s.RootsPerCompany = d.RootsPerCompany
	}
	if s.RootsPerCompany > s.FoldersPerCompany {
		s.RootsPerCompany = s.FoldersPerCompany
	}
	if s.DocsPerCompany < 0 {
		s.DocsPerCompany = 0
	}
	if s.GrantsPerCompany < 0 {
		s.GrantsPerCompany = 0
	}
	if s.TemplatesPerCompany <= 0 {
		s.TemplatesPerCompany = d.TemplatesPerCompany
	}
	if s.CommentsPerCompany < 0 {
		s.CommentsPerCompany = 0
	}
	if s.Now.IsZero() {
		s.Now = time.Now()
	}
	s.Now = s.Now.UTC().Truncate(time.Microsecond)
	return s
}

// Seat is a user of a company with a live session.
type Seat struct {
	UserID string
	Email  string
	Level  access.Level
	// Token is a bearer token of a session that lasts SessionTTL from loading.
	Token string
}

// Company is what a load test needs of one loaded company.
type Company struct {
	ID   string
	Name string
	// Member is a MEMBER of the company: it sees every folder and document that is not
	// restricted (and the restricted ones granted to it).
	Member Seat
	// Admin is the company's ADMIN, who sees everything in it.
	Admin Seat
	// RootFolderIDs are the top-level folders, in name order; RestrictedRootIDs those restricted.
	RootFolderIDs     []string
	RestrictedRootIDs []string
	// FolderIDs are all folders, parents before children.
	FolderIDs []string
	// Documents is the number of documents in the company.
	Documents int
}

// Loaded describes what Load wrote.
type Loaded struct {
	Shape     Shape
	Companies []Company
	// Rows counts the rows written per table.
	Rows map[string]int
	// Spent is the time spent writing each table (and "analyze").
	Spent map[string]time.Duration
	// Took is how long loading took, ANALYZE included.
	Took time.Duration
}

// SessionTTL is how long the sessions Load creates last.
const SessionTTL = 30 * 24 * time.Hour

// batch is the number of rows per INSERT statement.
const batch = 1000

// Load writes shape into db, which must be migrated and must not hold an earlier load of the same
// shape and seed. db must be the tables' owner (on PostgreSQL, where row-level security binds the
// owner too, each company's rows are written in a transaction that sets app.company_id, so any
// owner works, superuser or not).
func Load(ctx context.Context, db *database.DB, shape Shape) (*Loaded, error) {
	start := time.Now()
	s := shape.withDefaults()
	g := &gen{s: s, base: time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC), rows: map[string]int{}, spent: map[string]time.Duration{}}
	out := &Loaded{Shape: s, Rows: g.rows, Spent: g.spent}

	users := g.users()
	if err := inTx(ctx, db, "", func(tx bun.Tx) error { return insert(ctx, tx, g, "users", users) }); err != nil {
		return nil, err
	}
	var sessions []*storage.Session
	for c := 0; c < s.Companies; c++ {
		co, rows, err := g.company(c, users)
		if err != nil {
			return nil, err
		}
		if err := inTx(ctx, db, co.ID, func(tx bun.Tx) error {
			for _, r := range rows {
				if err := r.exec(ctx, tx, g); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return nil, err
		}
		for _, seat := range []*Seat{&co.Member, &co.Admin} {
			plain, hash, err := token.New(token.SessionPrefix)
			if err != nil {
				return nil, err
			}
			seat.Token = plain
			sessions = append(sessions, &storage.Session{ID: storage.NewID(), UserID: seat.UserID, TokenHash: hash,
				CreatedAt: s.Now, LastSeenAt: s.Now, ExpiresAt: s.Now.Add(SessionTTL), UserAgent: "benchdata"})
		}
		out.Companies = append(out.Companies, *co)
	}
	if err := inTx(ctx, db, "", func(tx bun.Tx) error { return insert(ctx, tx, g, "sessions", sessions) }); err != nil {
		return nil, err
	}
	// Fresh statistics, so the first plans are made on the real sizes.
	at := time.Now()
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		return nil, fmt.Errorf("benchdata: analyze: %w", err)
	}
	g.spent["analyze"] = time.Since(at)
	out.Took = time.Since(start)
	return out, nil
}

// inTx runs fn in one transaction; on PostgreSQL it sets app.company_id first, so that the
// row-level security policies' WITH CHECK admits the company's rows when the owner is not a
// superuser.
func inTx(ctx context.Context, db *database.DB, companyID string, fn func(bun.Tx) error) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if db.Dialect == database.Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT set_config('app.company_id', ?, true)", companyID); err != nil {
				return fmt.Errorf("benchdata: set company: %w", err)
			}
			// Losing a bench load to a crash costs a re-run, not data.
			if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return fmt.Errorf("benchdata: %w", err)
			}
		}
		return fn(tx)
	})
}

// insert writes rows (a slice of storage models) in multi-row INSERTs of batch rows.
func insert[T any](ctx context.Context, tx bun.Tx, g *gen, table string, rows []T) error {
	defer func(at time.Time) { g.spent[table] += time.Since(at) }(time.Now())
	for i := 0; i < len(rows); i += batch {
		part := rows[i:min(i+batch, len(rows))]
		if _, err := tx.NewInsert().Model(&part).Exec(ctx); err != nil {
			return fmt.Errorf("benchdata: insert %s: %w", table, err)
		}
	}
	g.rows[table] += len(rows)
	return nil
}

// gen derives every id and value from the shape.
type gen struct {
	s     Shape
	base  time.Time
	rows  map[string]int
	spent map[string]time.Duration
}

// id returns a deterministic UUID for (kind, company, n), time-ordered by at like the server's
// version-7 ids, so that indexes see the same locality as on real data.
func (g *gen) id(kind string, company, n int, at time.Time) string {
	var buf [8 + 8 + 8 + 16]byte
	binary.BigEndian.PutUint64(buf[0:], g.s.Seed)
	binary.BigEndian.PutUint64(buf[8:], uint64(company))
	binary.BigEndian.PutUint64(buf[16:], uint64(n))
	copy(buf[24:], kind)
	sum := sha256.Sum256(buf[:])
	var u uuid.UUID
	copy(u[:], sum[:16])
	ms := uint64(at.UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | (u[6] & 0x0f) // version 7
	u[8] = 0x80 | (u[8] & 0x3f) // RFC 4122 variant
	return u.String()
}

// home returns the users whose home company is c, in order: the first is its ADMIN.
func (g *gen) home(users []*storage.User, c int) []*storage.User {
	var out []*storage.User
	for i := c; i < len(users); i += g.s.Companies {
		out = append(out, users[i])
	}
	return out
}

// level is the membership level of the k-th home user of a company of n: one ADMIN, about 5 %
// MANAGERs, 30 % LIMITED seats, the rest MEMBERs; the second user is always a MEMBER.
func level(k, n int) access.Level {
	switch {
	case k == 0:
		return access.Admin
	case k == 1:
		return access.Member
	case k == 2 || k*100 >= n*70:
		return access.Limited
	case k < 2+n/20:
		return access.Manager
	default:
		return access.Member
	}
}

func (g *gen) users() []*storage.User {
	out := make([]*storage.User, g.s.Users)
	for i := range out {
		at := g.base.Add(time.Duration(i) * time.Second)
		out[i] = &storage.User{ID: g.id("user", 0, i, at), Email: fmt.Sprintf("bench%d.user%05d@bench.laatu.test", g.s.Seed, i),
			Name: fmt.Sprintf("Bench User %05d", i), Language: "en", CreatedAt: at, UpdatedAt: at}
	}
	return out
}

// company builds every row of company c, in insertion order.
func (g *gen) company(c int, users []*storage.User) (*Company, []insertable, error) {
	s := g.s
	at := g.base.Add(time.Duration(c) * time.Hour)
	co := &storage.Company{ID: g.id("company", c, 0, at), Name: fmt.Sprintf("Bench Company %02d", c), CreatedAt: at, UpdatedAt: at}
	out := &Company{ID: co.ID, Name: co.Name, Documents: s.DocsPerCompany}

	// Memberships: the home users at their levels, and every 25th user of the next company as
	// a MEMBER here too (a consultant working for two companies).
	home := g.home(users, c)
	var ms []*storage.Membership
	var members, limited []*storage.User // grantee pools
	for k, u := range home {
		lv := level(k, len(home))
		ms = append(ms, &storage.Membership{CompanyID: co.ID, UserID: u.ID, Level: lv, CreatedAt: at})
		switch lv {
		case access.Admin:
			out.Admin = Seat{UserID: u.ID, Email: u.Email, Level: lv}
		case access.Limited:
			limited = append(limited, u)
		default:
			if k == 1 {
				out.Member = Seat{UserID: u.ID, Email: u.Email, Level: lv}
			}
			members = append(members, u)
		}
	}
	next := (c + 1) % s.Companies
	var guests []*storage.User
	if next != c {
		for k, u := range g.home(users, next) {
			if k >= 3 && k%25 == 0 {
				ms = append(ms, &storage.Membership{CompanyID: co.ID, UserID: u.ID, Level: access.Member, CreatedAt: at})
				members = append(members, u)
			} else if k >= 3 && k%4 == 1 {
				guests = append(guests, u) // guests hold grants here and no membership
			}
		}
	}
	admin := home[0].ID
	owners := append([]*storage.User{home[0]}, members...)

	// Templates.
	var tpls []*storage.DocumentTemplate
	for t := 0; t < s.TemplatesPerCompany; t++ {
		tpls = append(tpls, &storage.DocumentTemplate{CompanyID: co.ID, ID: g.id("template", c, t, at),
			Name: fmt.Sprintf("Checklist %02d", t), Description: "Generated for benchmarks", Version: 1,
			Fields: []storage.FieldDef{
				{Key: "inspector", Label: "Inspector", Type: storage.FieldText, Required: true, Personal: true},
				{Key: "area", Label: "Area (m²)", Type: storage.FieldNumber},
				{Key: "ok", Label: "Passed", Type: storage.FieldCheckbox},
				{Key: "result", Label: "Result", Type: storage.FieldChoice, Options: []string{"PASS", "FAIL", "N/A"}},
			}, CreatedAt: at, UpdatedAt: at})
	}
	fts := []*storage.FolderTemplate{{CompanyID: co.ID, ID: g.id("folder_template", c, 0, at), Name: "New site",
		Structure: storage.FolderTemplateNode{Name: "Site", Children: []storage.FolderTemplateNode{
			{Name: "Foundations", Documents: []storage.FolderTemplateDocument{{Title: "Pour check", TemplateID: tpls[0].ID}}},
			{Name: "Contracts", Restricted: true},
		}}, CreatedAt: at, UpdatedAt: at}}

	// Folders: RootsPerCompany roots, then four children per folder breadth first, so 200
	// folders make three levels. One in twenty is restricted (one root of twenty among them).
	folders := make([]*storage.Folder, s.FoldersPerCompany)
	for i := range folders {
		fat := at.Add(time.Duration(i) * time.Minute)
		f := &storage.Folder{CompanyID: co.ID, ID: g.id("folder", c, i, fat), OwnerID: owners[i%len(owners)].ID,
			CreatedAt: fat, UpdatedAt: fat, Restricted: i%20 == 7}
		if f.Restricted {
			f.OwnerID = admin // the owner of a restricted folder sees it; the Member seat must not
		}
		if i < s.RootsPerCompany {
			f.Name, f.Path = fmt.Sprintf("Site %03d", i), "/"+f.ID+"/"
			out.RootFolderIDs = append(out.RootFolderIDs, f.ID)
			if f.Restricted {
				out.RestrictedRootIDs = append(out.RestrictedRootIDs, f.ID)
			}
		} else {
			p := folders[(i-s.RootsPerCompany)/4]
			f.ParentID, f.Path = &p.ID, p.Path+f.ID+"/"
			f.Name = fmt.Sprintf("%s / part %03d", p.Name, i)
			if len(f.Name) > 200 {
				f.Name = fmt.Sprintf("Part %03d", i)
			}
		}
		if i%13 == 0 {
			f.Description = "Inspections and hand-over records."
		}
		folders[i] = f
		out.FolderIDs = append(out.FolderIDs, f.ID)
	}

	// Documents: 25 per root round robin first (so a page of 20 fills at every size), the rest
	// spread over all folders. updated_at is distinct per document.
	docs := make([]*storage.Document, s.DocsPerCompany)
	statuses := []storage.Status{storage.Draft, storage.Submitted, storage.Approved, storage.Approved, storage.Archived}
	hot := 25 * s.RootsPerCompany
	for j := range docs {
		var f *storage.Folder
		if j < hot {
			f = folders[j%s.RootsPerCompany]
		} else {
			f = folders[(j-hot)%len(folders)]
		}
		dat := at.Add(time.Duration(j) * time.Second)
		tpl := tpls[j%len(tpls)]
		docs[j] = &storage.Document{CompanyID: co.ID, ID: g.id("document", c, j, dat), FolderID: f.ID, FolderPath: f.Path,
			TemplateID: tpl.ID, Title: fmt.Sprintf("Inspection %06d", j), Status: statuses[j%len(statuses)],
			Values:  map[string]any{"inspector": fmt.Sprintf("Inspector %d", j%37), "area": float64(j%500) + 0.5, "ok": j%3 != 0, "result": "PASS"},
			OwnerID: owners[j%len(owners)].ID, Version: 1 + j%3, CreatedAt: dat, UpdatedAt: dat.Add(time.Duration(j%7) * time.Hour)}
	}

	// Grants: about 30 % on folders, the rest on documents, to MEMBERs (for restricted
	// folders), LIMITED seats and guests; every tenth expired, every tenth expiring.
	// The Member seat stays out of the pool, so that what it sees is exactly the unrestricted part.
	pool := append(append(append([]*storage.User{}, limited...), guests...), members[1:]...)
	var grants []*storage.Grant
	nFolder := s.GrantsPerCompany * 3 / 10
	if max := len(folders) * len(pool); nFolder > max {
		nFolder = max
	}
	nDoc := s.GrantsPerCompany - nFolder
	if max := len(docs) * len(pool); nDoc > max {
		nDoc = max
	}
	levels := []access.Right{access.View, access.View, access.View, access.View, access.View, access.View,
		access.Edit, access.Edit, access.Edit, access.Manage}
	expiry := func(n int) *time.Time {
		var t time.Time
		switch n % 10 {
		case 0:
			t = s.Now.Add(-time.Duration(1+n%30) * 24 * time.Hour)
		case 1:
			t = s.Now.Add(time.Duration(1+n%30) * 24 * time.Hour)
		default:
			return nil
		}
		return &t
	}
	gn := 0
	for n := 0; n < nFolder; n++ {
		fi, k := n%len(folders), n/len(folders) // k < len(pool): distinct grantees per folder
		f := folders[fi]
		gat := at.Add(time.Duration(n) * time.Millisecond)
		grants = append(grants, &storage.Grant{CompanyID: co.ID, ID: g.id("grant", c, gn, gat), FolderID: &f.ID, Path: f.Path,
			GranteeID: pool[(fi*31+k)%len(pool)].ID, Level: levels[n%len(levels)], ExpiresAt: expiry(n), GrantedBy: &admin, CreatedAt: gat})
		gn++
	}
	stride := 7919
	for len(docs) > 0 && len(docs)%stride == 0 {
		stride += 2
	}
	for n := 0; n < nDoc; n++ {
		di, k := (n%len(docs))*stride%len(docs), n/len(docs)
		d := docs[di]
		gat := at.Add(time.Duration(gn) * time.Millisecond)
		grants = append(grants, &storage.Grant{CompanyID: co.ID, ID: g.id("grant", c, gn, gat), DocumentID: &d.ID,
			Path: d.FolderPath + d.ID + "/", GranteeID: pool[(di*17+k)%len(pool)].ID, Level: levels[n%len(levels)],
			ExpiresAt: expiry(n), GrantedBy: &admin, CreatedAt: gat})
		gn++
	}

	var comments []*storage.Comment
	for n := 0; n < s.CommentsPerCompany && len(docs) > 0; n++ {
		d := docs[(n*97)%len(docs)]
		cat := d.CreatedAt.Add(time.Duration(1+n%50) * time.Minute)
		comments = append(comments, &storage.Comment{CompanyID: co.ID, ID: g.id("comment", c, n, cat), DocumentID: d.ID,
			AuthorID: owners[n%len(owners)].ID, Body: fmt.Sprintf("Checked on site, see photo %d.", n), CreatedAt: cat})
	}

	if out.Member.UserID == "" || out.Admin.UserID == "" {
		return nil, nil, fmt.Errorf("benchdata: company %d has no member seat (too few users)", c)
	}
	return out, []insertable{
		rowsOf("companies", []*storage.Company{co}),
		rowsOf("memberships", ms),
		rowsOf("document_templates", tpls),
		rowsOf("folder_templates", fts),
		rowsOf("folders", folders),
		rowsOf("documents", docs),
		rowsOf("grants", grants),
		rowsOf("comments", comments),
	}, nil
}

// insertable is one table's rows, ready to insert.
type insertable struct {
	table string
	exec  func(ctx context.Context, tx bun.Tx, g *gen) error
}

func rowsOf[T any](table string, rows []T) insertable {
	return insertable{table: table, exec: func(ctx context.Context, tx bun.Tx, g *gen) error {
		return insert(ctx, tx, g, table, rows)
	}}
}
