package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lib/pq"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/errs"
)

// keyed is a model with an id, the tie breaker of every sort.
type keyed interface{ pk() string }

func (f *Folder) pk() string           { return f.ID }
func (d *Document) pk() string         { return d.ID }
func (c *Comment) pk() string          { return c.ID }
func (t *DocumentTemplate) pk() string { return t.ID }
func (m *Membership) pk() string       { return m.UserID }
func (g *Grant) pk() string            { return g.ID }
func (s *Session) pk() string          { return s.ID }
func (t *FolderTemplate) pk() string   { return t.ID }

// sortSpec is one sort order of a list: a column, a direction, and how its value goes into and
// out of a cursor.
type sortSpec[T any] struct {
	col   string
	desc  bool
	key   func(T) any
	parse func(cursor) (any, error)
}

func (c cursor) timeAny() (any, error)   { return c.timeKey() }
func (c cursor) stringAny() (any, error) { return c.stringKey() }

func (sp sortSpec[T]) order(idCol string) string {
	dir := " ASC"
	if sp.desc {
		dir = " DESC"
	}
	return sp.col + dir + ", " + idCol + dir
}

// after adds the keyset condition "strictly after this cursor" to q.
func (sp sortSpec[T]) after(q scoped, idCol, after string) (scoped, error) {
	if after == "" {
		return q, nil
	}
	cur, err := decodeCursor(after)
	if err != nil {
		return q, err
	}
	k, err := sp.parse(cur)
	if err != nil {
		return q, err
	}
	op := ">"
	if sp.desc {
		op = "<"
	}
	c := q.c
	return q.Where("("+sp.col+" "+op+" ? OR ("+sp.col+" = ? AND "+idCol+" "+op+" ?))", c.arg(k), c.arg(k), c.arg(cur.ID)), nil
}

// paginate reads one page of tt, filtered by filter and sorted by spec, with a lazy total. A
// backward page is read in the reverse order from its cursor, and turned around.
func paginate[T keyed](ctx context.Context, s *Store, tt tenantTable, spec sortSpec[T], page PageArgs,
	filter func(c *conn, q scoped) scoped) (*Page[T], error) {
	idCol := tt.idColumn()
	read, from, size := spec, page.After, page.First
	if page.Backward {
		read.desc, from, size = !spec.desc, page.Before, page.Last
	}
	var rows []T
	err := s.read(ctx, func(c *conn) error {
		pc := c.preparing()
		if pc != nil {
			c = pc
		}
		q, err := read.after(filter(c, c.from(tt, &rows)), idCol, from)
		if err != nil {
			return err
		}
		q = q.OrderExpr(read.order(idCol)).Limit(size + 1)
		if pc != nil {
			return pc.scanPrepared(ctx, q.q, &rows)
		}
		return q.Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", tt.name, err)
	}
	p := &Page[T]{Items: rows}
	if len(rows) > size {
		p.Items, p.HasNext = rows[:size], true
	}
	if page.Backward {
		// What lies beyond the page is before it; after it lies at least the cursor's item.
		p.HasPrev, p.HasNext = p.HasNext, page.Before != ""
		slices.Reverse(p.Items)
	}
	for _, r := range p.Items {
		p.Cursors = append(p.Cursors, encodeCursor(spec.key(r), r.pk()))
	}
	p.Total = func() (n int, err error) {
		err = s.read(ctx, func(c *conn) error {
			n, err = filter(c, c.from(tt, new([]T))).Count(ctx)
			return err
		})
		return n, err
	}
	return p, nil
}

// likePattern matches s anywhere, case-insensitively, with LIKE's wildcards escaped.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

func validateName(field, s string, max int) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return errs.Invalid(field, "%s must not be empty", field)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return errs.Invalid(field, "%s must be at most %d characters", field, max)
	}
	return nil
}

// validIDs drops malformed ids, which can match nothing.
func validIDs(ids []string) []string {
	out := ids[:0:0]
	for _, id := range ids {
		if validID(id) {
			out = append(out, id)
		}
	}
	return out
}

// Parent names the object whose child list is paged: its company and id. The company lets
// each parent's page be read from the (company_id, parent, sort key) index in order.
type Parent struct{ CompanyID, ID string }

// validParents drops parents with malformed ids, which can have no children.
func validParents(ps []Parent) []Parent {
	out := ps[:0:0]
	for _, p := range ps {
		if validID(p.ID) && validID(p.CompanyID) {
			out = append(out, p)
		}
	}
	return out
}

// maxBranches bounds the parents read in one statement on SQLite, whose compound SELECTs have
// at most 500 terms.
const maxBranches = 100

// pagesByParent reads one page of a child list (tt's rows whose parentCol is the parent) for
// each parent, in one statement, keyed by parent id. Each parent's page is an index range read
// that stops after page.First+1 rows, so the cost follows the page, not the size of the
// company or of the parent: on PostgreSQL a LATERAL subquery per parent, on SQLite a UNION ALL
// of one limited subquery per parent.
func pagesByParent[T keyed](ctx context.Context, s *Store, tt tenantTable, parentCol string, parents []Parent,
	spec sortSpec[T], page PageArgs, filter func(c *conn, q scoped) scoped, parentOf func(T) string) (map[string]*Page[T], error) {
	parents = validParents(parents)
	out := make(map[string]*Page[T], len(parents))
	for _, p := range parents {
		out[p.ID] = &Page[T]{}
	}
	if len(parents) == 0 {
		return out, nil
	}
	if filter == nil {
		filter = func(_ *conn, q scoped) scoped { return q }
	}
	idCol, col := tt.idColumn(), tt.alias+"."+parentCol
	order := spec.order(idCol)
	// child is the page of one parent, whose company and id are given as SQL (p.company_id)
	// or as arguments.
	child := func(c *conn, companyID, parentID string, args ...any) (*bun.SelectQuery, error) {
		var zero T
		q, err := spec.after(filter(c, c.from(tt.inOneCompany(), zero)).Where(tt.alias+".company_id = "+companyID+" AND "+col+" = "+parentID, args...),
			idCol, page.After)
		if err != nil {
			return nil, err
		}
		return q.ColumnExpr(tt.alias + ".*").OrderExpr(order).Limit(page.First + 1).subquery(), nil
	}
	var rows []T
	err := s.read(ctx, func(c *conn) error {
		if s.db.Dialect == database.Postgres {
			companies, ids := make([]string, len(parents)), make([]string, len(parents))
			for i, p := range parents {
				companies[i], ids[i] = p.CompanyID, p.ID
			}
			pc := c.preparing()
			if pc == nil {
				q, err := child(c, "p.company_id", "p.id")
				if err != nil {
					return err
				}
				return c.db.NewRaw("SELECT "+tt.alias+".* FROM unnest(?::uuid[], ?::uuid[]) WITH ORDINALITY AS p(company_id, id, n)"+
					" CROSS JOIN LATERAL (?) AS "+tt.alias+" ORDER BY p.n, "+order,
					pgdialect.Array(companies), pgdialect.Array(ids), q).Scan(ctx, &rows)
			}
			companiesArg, idsArg := pc.arg(pq.StringArray(companies)), pc.arg(pq.StringArray(ids))
			q, err := child(pc, "p.company_id", "p.id")
			if err != nil {
				return err
			}
			return pc.scanPrepared(ctx, c.db.NewRaw("SELECT "+tt.alias+".* FROM unnest(?::uuid[], ?::uuid[]) WITH ORDINALITY AS p(company_id, id, n)"+
				" CROSS JOIN LATERAL (?) AS "+tt.alias+" ORDER BY p.n, "+order, companiesArg, idsArg, q), &rows)
		}
		for start := 0; start < len(parents); start += maxBranches {
			chunk := parents[start:min(start+maxBranches, len(parents))]
			var terms []string
			var args []any
			for i, p := range chunk {
				q, err := child(c, "?", "?", p.CompanyID, p.ID)
				if err != nil {
					return err
				}
				terms = append(terms, "SELECT ? AS _pn, row_number() OVER (ORDER BY "+order+") AS _rn, "+tt.alias+".* FROM (?) AS "+tt.alias)
				args = append(args, i, q)
			}
			var part []T
			if err := c.db.NewRaw(strings.Join(terms, " UNION ALL ")+" ORDER BY _pn, _rn", args...).Scan(ctx, &part); err != nil {
				return err
			}
			rows = append(rows, part...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s by parent: %w", tt.name, err)
	}
	for _, r := range rows {
		p := out[parentOf(r)]
		if p == nil {
			continue
		}
		if len(p.Items) == page.First {
			p.HasNext = true
			continue
		}
		p.Items = append(p.Items, r)
		p.Cursors = append(p.Cursors, encodeCursor(spec.key(r), r.pk()))
	}
	return out, nil
}

// deref returns the string p points to, or "".
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
