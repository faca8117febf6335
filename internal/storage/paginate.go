package storage

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

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
	return q.Where("("+sp.col+" "+op+" ? OR ("+sp.col+" = ? AND "+idCol+" "+op+" ?))", k, k, cur.ID), nil
}

// paginate reads one page of tt, filtered by filter and sorted by spec, with a lazy total.
func paginate[T keyed](ctx context.Context, s *Store, tt tenantTable, spec sortSpec[T], page PageArgs,
	filter func(c *conn, q scoped) scoped) (*Page[T], error) {
	idCol := tt.idColumn()
	var rows []T
	err := s.read(ctx, func(c *conn) error {
		q, err := spec.after(filter(c, c.from(tt, &rows)), idCol, page.After)
		if err != nil {
			return err
		}
		return q.OrderExpr(spec.order(idCol)).Limit(page.First + 1).Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", tt.name, err)
	}
	p := &Page[T]{Items: rows}
	if len(rows) > page.First {
		p.Items, p.HasNext = rows[:page.First], true
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
