package storage

// The storage wall. Every read of a tenant table starts with conn.from, which replaces the
// table by a derived table holding only the rows the principal may see:
//
//	SELECT ... FROM (SELECT * FROM documents AS t WHERE <company and permission>) AS document
//
// Whatever is added to the outer query afterwards — Where, WhereOr, Count, Exists,
// ScanAndCount, window functions — works on already-filtered rows and cannot widen them. Joins
// go through scoped.join, which filters the joined table the same way. The permission predicate
// is access.Can written as SQL: scope_test.go checks that both agree on every case.
//
// Writes (update, delete) go through conn.update and conn.delete, which pin company_id to the
// object's company; whether the principal may write is decided before, by access.Can.

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/database"
)

// tenantTable describes how one tenant table is filtered for reads.
type tenantTable struct {
	name, alias string
	// live filters out soft-deleted rows, for every principal, the system included.
	live string
	// key is the column that identifies a row within its company, when not "id".
	key string
	// visible returns the predicate over alias t that admits the rows p may see.
	visible func(c *conn, t string) (string, []any)
	// object is set for the tables of folders and documents, whose rows access.Can decides:
	// their derived table is built by objectScope.
	object *objectColumns
}

// inOneCompany returns tt for a query that pins company_id to one value itself (a child list
// of one parent): its rows need no split by company, and one predicate lets the planner read
// the index scan in order and stop after a page.
func (tt tenantTable) inOneCompany() tenantTable {
	if tt.object != nil {
		o := *tt.object
		o.oneCompany = true
		tt.object = &o
	}
	return tt
}

// objectColumns name what access.Can reads of a folder or document row.
type objectColumns struct {
	// pathCol is the folder path the row lives under (a folder's own path).
	pathCol string
	// idCol is the row's id when grants can name the row itself (documents), else empty.
	idCol string
	// oneCompany: see tenantTable.inOneCompany.
	oneCompany bool
}

var (
	folderColumns   = &objectColumns{pathCol: "path"}
	documentColumns = &objectColumns{pathCol: "folder_path", idCol: "t.id"}
	foldersTable    = tenantTable{"folders", "folder", "t.deleted_at IS NULL", "", nil, folderColumns}
	documentsTable  = tenantTable{"documents", "document", "t.deleted_at IS NULL", "", nil, documentColumns}
	// deletedDocumentsTable and deletedFoldersTable admit soft-deleted rows too, for restore.
	deletedDocumentsTable = tenantTable{"documents", "document", "", "", nil, documentColumns}
	deletedFoldersTable   = tenantTable{"folders", "folder", "", "", nil, folderColumns}
	commentsTable         = tenantTable{"comments", "comment", "", "", func(c *conn, t string) (string, []any) {
		doc, args := c.objectVisible("d", "d.folder_path", "d.id")
		return "EXISTS (SELECT 1 FROM documents AS d WHERE d.company_id = " + t + ".company_id AND d.id = " + t +
			".document_id AND d.deleted_at IS NULL AND " + doc + ")", args
	}, nil}
	templatesTable = tenantTable{"document_templates", "template", "", "", func(c *conn, t string) (string, []any) {
		doc, args := c.objectVisible("d", "d.folder_path", "d.id")
		via := "EXISTS (SELECT 1 FROM documents AS d WHERE d.company_id = " + t + ".company_id AND d.template_id = " + t +
			".id AND d.deleted_at IS NULL AND " + doc + ")"
		if c.p.CompanyID != "" && c.p.Level != "" {
			return "(" + t + ".company_id = ? OR " + via + ")", append([]any{c.p.CompanyID}, args...)
		}
		return via, args
	}, nil}
	//lint:ignore U1000 the folder templates (super folders) of issue 14 are read through it
	folderTemplatesTable = tenantTable{"folder_templates", "folder_template", "", "", func(c *conn, t string) (string, []any) {
		return c.memberOf(t)
	}, nil}
	membershipsTable = tenantTable{"memberships", "membership", "", "user_id", func(c *conn, t string) (string, []any) {
		// Members see their company's members, except LIMITED seats, which see only themselves;
		// everyone sees their own memberships everywhere. Guests see no member list.
		if c.p.CompanyID != "" && c.p.Level.AtLeast(access.Member) {
			return "(" + t + ".company_id = ? OR " + t + ".user_id = ?)", []any{c.p.CompanyID, c.p.UserID}
		}
		return t + ".user_id = ?", []any{c.p.UserID}
	}, nil}
	grantsTable = tenantTable{"grants", "grnt", "", "", func(c *conn, t string) (string, []any) {
		// Who may list which grants is decided by access.Can on the object; the wall here is the
		// company, plus one's own grants in any company.
		if c.p.CompanyID != "" && c.p.Level != "" {
			return "(" + t + ".company_id = ? OR " + t + ".grantee_id = ?)", []any{c.p.CompanyID, c.p.UserID}
		}
		return t + ".grantee_id = ?", []any{c.p.UserID}
	}, nil}
	invitationsTable = tenantTable{"invitations", "invitation", "", "", func(c *conn, t string) (string, []any) {
		own := t + ".user_id = ?"
		if c.p.CompanyID != "" && c.p.Level.AtLeast(access.Admin) {
			return "(" + t + ".company_id = ? OR " + own + ")", []any{c.p.CompanyID, c.p.UserID}
		}
		return own, []any{c.p.UserID}
	}, nil}
	versionsTable = tenantTable{"object_versions", "objver", "", "", func(c *conn, t string) (string, []any) {
		return c.memberOf(t)
	}, nil}
	companiesTable = tenantTable{"companies", "company", "", "", func(c *conn, t string) (string, []any) {
		pred := "(EXISTS (SELECT 1 FROM memberships AS m WHERE m.company_id = " + t + ".id AND m.user_id = ?)" +
			" OR EXISTS (SELECT 1 FROM grants AS g WHERE g.company_id = " + t + ".id AND g.grantee_id = ? AND (g.expires_at IS NULL OR g.expires_at > ?)))"
		return pred, []any{c.p.UserID, c.p.UserID, c.now}
	}, nil}
)

// memberOf admits the rows of the active company, for members of any level.
func (c *conn) memberOf(t string) (string, []any) {
	if c.p.CompanyID == "" || c.p.Level == "" {
		return "1 = 0", nil
	}
	return t + ".company_id = ?", []any{c.p.CompanyID}
}

// objectVisible is the VIEW threshold of access.Can as SQL, for a folder (pathCol is its own
// path, idCol empty) or a document (pathCol its folder's path, idCol its id): rows of the
// active company admitted by membership, or rows of any company admitted by a grant.
//
// It is written so that its cost follows the rows read, not the size of the company (see
// bench/peers/README.md for the plans): the active company is compared as a constant, the
// company's restricted folders are read once per statement (an InitPlan on PostgreSQL), and
// the grant probe runs only for rows that membership does not admit.
func (c *conn) objectVisible(t, pathCol, idCol string) (string, []any) {
	var parts []string
	var args []any
	if p := c.p; p.CompanyID != "" && p.Level != "" {
		member, margs := c.memberAdmits(t, pathCol)
		parts = append(parts, "("+t+".company_id = ? AND "+member+")")
		args = append(append(args, c.arg(p.CompanyID)), margs...)
	}
	if c.p.UserID != "" {
		grant, gargs := c.grantAdmits(t, pathCol, idCol)
		parts = append(parts, grant)
		args = append(args, gargs...)
	}
	if len(parts) == 0 {
		return "1 = 0", nil
	}
	return "(" + strings.Join(parts, " OR ") + ")", args
}

// memberAdmits is rule 1 and 3 of access.Can for a row of the active company: what the
// principal's level (and ownership) gives, before grants.
func (c *conn) memberAdmits(t, pathCol string) (string, []any) {
	p := c.p
	switch p.Level {
	case access.Admin:
		return "TRUE", nil
	case access.Manager, access.Member:
		// Restricted folders are few; PostgreSQL reads them once per statement.
		if c.s.db.Dialect == database.Postgres {
			return "(" + t + ".owner_id = ? OR NOT (" + pathCol + " LIKE ANY (ARRAY(SELECT r.path || '%' FROM folders AS r" +
				" WHERE r.company_id = ? AND r.restricted))))", []any{c.arg(p.UserID), c.arg(p.CompanyID)}
		}
		return "(" + t + ".owner_id = ? OR NOT EXISTS (SELECT 1 FROM folders AS r" +
			" WHERE r.company_id = ? AND r.restricted AND " + pathCol + " LIKE r.path || '%'))", []any{c.arg(p.UserID), c.arg(p.CompanyID)}
	default: // LIMITED: only what it owns or is granted
		return t + ".owner_id = ?", []any{c.arg(p.UserID)}
	}
}

// grantAdmits is rule 2 of access.Can: an unexpired grant of the principal on the row or on a
// folder above it, in the row's company.
func (c *conn) grantAdmits(t, pathCol, idCol string) (string, []any) {
	reach := "(g.folder_id IS NOT NULL AND " + pathCol + " LIKE g.path || '%')"
	if idCol != "" {
		reach = "(g.document_id = " + idCol + " OR " + reach + ")"
	}
	return "EXISTS (SELECT 1 FROM grants AS g WHERE g.grantee_id = ? AND g.company_id = " + t +
		".company_id AND (g.expires_at IS NULL OR g.expires_at > ?) AND " + reach + ")", []any{c.arg(c.p.UserID), c.arg(c.now)}
}

// objectScope returns the predicates of the derived table of folders or documents, one per
// branch of a UNION ALL: on PostgreSQL the active company's rows and the rows of the other
// companies where the principal holds grants are two branches, so that each can use the
// (company_id, ...) indexes with a constant company, and a sorted page is read in index order
// instead of sorting the company. SQLite gets one branch whose company is bounded by an IN
// list, which its planner turns into index lookups.
func (c *conn) objectScope(t, pathCol, idCol string) ([]string, [][]any) {
	p := c.p
	unexpired := "(g.expires_at IS NULL OR g.expires_at > ?)"
	if c.s.db.Dialect != database.Postgres {
		pred, args := c.objectVisible(t, pathCol, idCol)
		reach := "SELECT g.company_id FROM grants AS g WHERE g.grantee_id = ? AND " + unexpired
		rargs := []any{c.arg(p.UserID), c.arg(c.now)}
		if p.CompanyID != "" && p.Level != "" {
			reach = "SELECT ? UNION " + reach
			rargs = append([]any{c.arg(p.CompanyID)}, rargs...)
		}
		return []string{t + ".company_id IN (" + reach + ") AND " + pred}, [][]any{append(rargs, args...)}
	}
	var preds []string
	var args [][]any
	others := "SELECT DISTINCT g.company_id FROM grants AS g WHERE g.grantee_id = ? AND " + unexpired
	oargs := []any{c.arg(p.UserID), c.arg(c.now)}
	if p.CompanyID != "" && p.Level != "" {
		pred, pargs := t+".company_id = ?", []any{c.arg(p.CompanyID)}
		if member, margs := c.memberAdmits(t, pathCol); member != "TRUE" {
			grant, gargs := c.grantAdmits(t, pathCol, idCol)
			pred += " AND (" + member + " OR " + grant + ")"
			pargs = append(append(pargs, margs...), gargs...)
		}
		preds = append(preds, pred)
		args = append(args, pargs)
		others += " AND g.company_id <> ?"
		oargs = append(oargs, c.arg(p.CompanyID))
	}
	grant, gargs := c.grantAdmits(t, pathCol, idCol)
	preds = append(preds, t+".company_id = ANY (ARRAY("+others+")) AND "+grant)
	args = append(args, append(oargs, gargs...))
	return preds, args
}

// idColumn is the qualified column that identifies a row, the tie breaker of every sort.
func (tt tenantTable) idColumn() string {
	if tt.key != "" {
		return tt.alias + "." + tt.key
	}
	return tt.alias + ".id"
}

// scopeSQL returns the derived table for tt: its rows the principal may see, aliased as the
// model's alias so that the rest of the query is written as usual.
func (c *conn) scopeSQL(tt tenantTable) (string, []any) {
	var base []string
	if tt.live != "" {
		base = append(base, tt.live)
	}
	branches := []string{""}
	branchArgs := [][]any{nil}
	switch {
	case c.p.System() || c.s.scopeOff:
		// The system acts unscoped within the company it names (AsSystem); with none, in all.
		if c.p.CompanyID != "" && !c.s.scopeOff {
			col := "t.company_id"
			if tt.name == "companies" {
				col = "t.id"
			}
			base = append(base, col+" = ?")
			branchArgs[0] = []any{c.arg(c.p.CompanyID)}
		}
	case !c.p.Authenticated():
		base = append(base, "1 = 0")
	case tt.object != nil && tt.object.oneCompany:
		branches[0], branchArgs[0] = c.objectVisible("t", "t."+tt.object.pathCol, tt.object.idCol)
	case tt.object != nil:
		branches, branchArgs = c.objectScope("t", "t."+tt.object.pathCol, tt.object.idCol)
	default:
		pred, pargs := tt.visible(c, "t")
		branches[0], branchArgs[0] = pred, pargs
	}
	var sql []string
	var args []any
	for i, b := range branches {
		preds := base
		if b != "" {
			preds = append(preds[:len(preds):len(preds)], b)
		}
		where := ""
		if len(preds) > 0 {
			where = " WHERE " + strings.Join(preds, " AND ")
		}
		sql = append(sql, "SELECT * FROM "+tt.name+" AS t"+where)
		args = append(args, branchArgs[i]...)
	}
	return "(" + strings.Join(sql, " UNION ALL ") + ") AS " + tt.alias, args
}

// policyFacts reads rows of tt in companies where the principal is a member, filtered by
// company but not by permission. Only the access policy uses it (conn.rights): whether a folder
// above an object is restricted must be known even when that folder is hidden from the caller.
func (c *conn) policyFacts(tt tenantTable, companyIDs []string) scoped {
	var member []string
	for _, id := range companyIDs {
		if c.p.System() || c.p.LevelIn(id) != "" {
			member = append(member, id)
		}
	}
	if len(member) == 0 {
		member = []string{"00000000-0000-0000-0000-000000000000"}
	}
	q := c.db.NewSelect().TableExpr("(SELECT * FROM "+tt.name+" AS t WHERE t.company_id IN (?)) AS "+tt.alias, bun.List(member))
	return scoped{q: q, c: c}
}

// scoped is a SELECT whose tenant tables are all filtered. It exposes only what cannot widen
// the filter; there is deliberately no way to reach the underlying query's Relation or
// ModelTableExpr.
type scoped struct {
	q *bun.SelectQuery
	c *conn
}

// from starts a scoped SELECT of model (a pointer to a model or a slice of models) from tt.
func (c *conn) from(tt tenantTable, model any) scoped {
	expr, args := c.scopeSQL(tt)
	return scoped{q: c.db.NewSelect().Model(model).ModelTableExpr(expr, args...), c: c}
}

func (s scoped) Where(query string, args ...any) scoped { s.q = s.q.Where(query, args...); return s }
func (s scoped) WhereOr(query string, args ...any) scoped {
	s.q = s.q.WhereOr(query, args...)
	return s
}
func (s scoped) OrderExpr(query string, args ...any) scoped {
	s.q = s.q.OrderExpr(query, args...)
	return s
}
func (s scoped) Limit(n int) scoped              { s.q = s.q.Limit(int64(n)); return s }
func (s scoped) Column(columns ...string) scoped { s.q = s.q.Column(columns...); return s }
func (s scoped) ColumnExpr(query string, args ...any) scoped {
	s.q = s.q.ColumnExpr(query, args...)
	return s
}
func (s scoped) GroupExpr(query string, args ...any) scoped {
	s.q = s.q.GroupExpr(query, args...)
	return s
}
func (s scoped) Scan(ctx context.Context, dest ...any) error { return s.q.Scan(ctx, dest...) }
func (s scoped) Count(ctx context.Context) (int, error)      { n, err := s.q.Count(ctx); return int(n), err }
func (s scoped) Exists(ctx context.Context) (bool, error)    { return s.q.Exists(ctx) }
func (s scoped) ScanAndCount(ctx context.Context, dest ...any) (int, error) {
	n, err := s.q.ScanAndCount(ctx, dest...)
	return int(n), err
}

// join adds a LEFT JOIN of another tenant table, filtered like the main one, under alias.
// Columns of the joined table are selected with ColumnExpr by the caller.
func (s scoped) join(tt tenantTable, alias, on string, args ...any) scoped {
	expr, eargs := s.c.scopeSQL(tt)
	expr = strings.TrimSuffix(expr, " AS "+tt.alias) + " AS " + alias
	s.q = s.q.Join("LEFT JOIN "+expr+" ON "+on, append(eargs, args...)...)
	return s
}

// subquery returns the scoped query for use inside another query (IN, EXISTS, window wrappers).
func (s scoped) subquery() *bun.SelectQuery { return s.q }

// String renders the query, for tests.
func (s scoped) String() string { return fmt.Sprint(s.q.String()) }

// visibleByID loads the rows of tt among ids that the caller may see, keyed by their id; ids
// it may not see, or that do not exist, are simply missing. It serves the dataloaders.
func visibleByID[T any](ctx context.Context, s *Store, tt tenantTable, ids []string, id func(T) string) (map[string]T, error) {
	ids = validIDs(ids)
	out := make(map[string]T, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []T
	err := s.read(ctx, func(c *conn) error {
		return c.from(tt, &rows).Where(tt.alias+".id IN (?)", bun.List(ids)).Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("%s by id: %w", tt.name, err)
	}
	for _, r := range rows {
		out[id(r)] = r
	}
	return out, nil
}
