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
}

var (
	foldersTable = tenantTable{"folders", "folder", "t.deleted_at IS NULL", "", func(c *conn, t string) (string, []any) {
		return c.objectVisible(t, t+".path", "")
	}}
	documentsTable = tenantTable{"documents", "document", "t.deleted_at IS NULL", "", func(c *conn, t string) (string, []any) {
		return c.objectVisible(t, t+".folder_path", t+".id")
	}}
	// deletedDocumentsTable and deletedFoldersTable admit soft-deleted rows too, for restore.
	deletedDocumentsTable = tenantTable{"documents", "document", "", "", documentsTable.visible}
	deletedFoldersTable   = tenantTable{"folders", "folder", "", "", foldersTable.visible}
	commentsTable         = tenantTable{"comments", "comment", "", "", func(c *conn, t string) (string, []any) {
		doc, args := c.objectVisible("d", "d.folder_path", "d.id")
		return "EXISTS (SELECT 1 FROM documents AS d WHERE d.company_id = " + t + ".company_id AND d.id = " + t +
			".document_id AND d.deleted_at IS NULL AND " + doc + ")", args
	}}
	templatesTable = tenantTable{"document_templates", "template", "", "", func(c *conn, t string) (string, []any) {
		doc, args := c.objectVisible("d", "d.folder_path", "d.id")
		via := "EXISTS (SELECT 1 FROM documents AS d WHERE d.company_id = " + t + ".company_id AND d.template_id = " + t +
			".id AND d.deleted_at IS NULL AND " + doc + ")"
		if c.p.CompanyID != "" && c.p.Level != "" {
			return "(" + t + ".company_id = ? OR " + via + ")", append([]any{c.p.CompanyID}, args...)
		}
		return via, args
	}}
	//lint:ignore U1000 the folder templates (super folders) of issue 14 are read through it
	folderTemplatesTable = tenantTable{"folder_templates", "folder_template", "", "", func(c *conn, t string) (string, []any) {
		return c.memberOf(t)
	}}
	membershipsTable = tenantTable{"memberships", "membership", "", "user_id", func(c *conn, t string) (string, []any) {
		// Members see their company's members, except LIMITED seats, which see only themselves;
		// everyone sees their own memberships everywhere. Guests see no member list.
		if c.p.CompanyID != "" && c.p.Level.AtLeast(access.Member) {
			return "(" + t + ".company_id = ? OR " + t + ".user_id = ?)", []any{c.p.CompanyID, c.p.UserID}
		}
		return t + ".user_id = ?", []any{c.p.UserID}
	}}
	grantsTable = tenantTable{"grants", "grnt", "", "", func(c *conn, t string) (string, []any) {
		// Who may list which grants is decided by access.Can on the object; the wall here is the
		// company, plus one's own grants in any company.
		if c.p.CompanyID != "" && c.p.Level != "" {
			return "(" + t + ".company_id = ? OR " + t + ".grantee_id = ?)", []any{c.p.CompanyID, c.p.UserID}
		}
		return t + ".grantee_id = ?", []any{c.p.UserID}
	}}
	invitationsTable = tenantTable{"invitations", "invitation", "", "", func(c *conn, t string) (string, []any) {
		own := t + ".user_id = ?"
		if c.p.CompanyID != "" && c.p.Level.AtLeast(access.Admin) {
			return "(" + t + ".company_id = ? OR " + own + ")", []any{c.p.CompanyID, c.p.UserID}
		}
		return own, []any{c.p.UserID}
	}}
	versionsTable = tenantTable{"object_versions", "objver", "", "", func(c *conn, t string) (string, []any) {
		return c.memberOf(t)
	}}
	companiesTable = tenantTable{"companies", "company", "", "", func(c *conn, t string) (string, []any) {
		pred := "(EXISTS (SELECT 1 FROM memberships AS m WHERE m.company_id = " + t + ".id AND m.user_id = ?)" +
			" OR EXISTS (SELECT 1 FROM grants AS g WHERE g.company_id = " + t + ".id AND g.grantee_id = ? AND (g.expires_at IS NULL OR g.expires_at > ?)))"
		return pred, []any{c.p.UserID, c.p.UserID, c.now}
	}}
)

// memberOf admits the rows of the active company, for members of any level.
func (c *conn) memberOf(t string) (string, []any) {
	if c.p.CompanyID == "" || c.p.Level == "" {
		return "1 = 0", nil
	}
	return t + ".company_id = ?", []any{c.p.CompanyID}
}

// objectVisible is the VIEW threshold of access.Can as SQL, for a folder (pathCol is its own
// path, idCol empty) or a document (pathCol its folder's path, idCol its id).
func (c *conn) objectVisible(t, pathCol, idCol string) (string, []any) {
	var parts []string
	var args []any
	p := c.p
	if p.CompanyID != "" && p.Level != "" {
		switch p.Level {
		case access.Admin:
			parts = append(parts, t+".company_id = ?")
			args = append(args, p.CompanyID)
		case access.Manager, access.Member:
			parts = append(parts, "("+t+".company_id = ? AND ("+t+".owner_id = ? OR NOT EXISTS (SELECT 1 FROM folders AS r"+
				" WHERE r.company_id = "+t+".company_id AND r.restricted AND "+pathCol+" LIKE r.path || '%')))")
			args = append(args, p.CompanyID, p.UserID)
		default: // LIMITED: only what it owns or is granted
			parts = append(parts, "("+t+".company_id = ? AND "+t+".owner_id = ?)")
			args = append(args, p.CompanyID, p.UserID)
		}
	}
	if p.UserID != "" {
		reach := "(g.folder_id IS NOT NULL AND " + pathCol + " LIKE g.path || '%')"
		if idCol != "" {
			reach = "(g.document_id = " + idCol + " OR " + reach + ")"
		}
		parts = append(parts, "EXISTS (SELECT 1 FROM grants AS g WHERE g.grantee_id = ? AND g.company_id = "+t+
			".company_id AND (g.expires_at IS NULL OR g.expires_at > ?) AND "+reach+")")
		args = append(args, p.UserID, c.now)
	}
	pred := "1 = 0"
	if len(parts) > 0 {
		pred = "(" + strings.Join(parts, " OR ") + ")"
	}
	return pred, args
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
	var preds []string
	var args []any
	if tt.live != "" {
		preds = append(preds, tt.live)
	}
	switch {
	case c.p.System() || c.s.scopeOff:
		// The system acts unscoped within the company it names (AsSystem); with none, in all.
		if c.p.CompanyID != "" && !c.s.scopeOff {
			col := "t.company_id"
			if tt.name == "companies" {
				col = "t.id"
			}
			preds = append(preds, col+" = ?")
			args = append(args, c.p.CompanyID)
		}
	case !c.p.Authenticated():
		preds = append(preds, "1 = 0")
	default:
		pred, pargs := tt.visible(c, "t")
		preds = append(preds, pred)
		args = append(args, pargs...)
	}
	where := ""
	if len(preds) > 0 {
		where = " WHERE " + strings.Join(preds, " AND ")
	}
	return "(SELECT * FROM " + tt.name + " AS t" + where + ") AS " + tt.alias, args
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
