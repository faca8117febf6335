package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
)

// ObjectRef names one object of a company as the audit log does: its type and its id.
type ObjectRef struct {
	// Type is one of the RefFolder, RefDocument, RefComment and RefTemplate; TEMPLATE, as
	// changes name a template, counts as RefTemplate. No grant admits to objects of other
	// types (memberships, users).
	Type string
	ID   string
}

// The object types a grant can admit a guest to, named as the audit log names them.
const (
	RefFolder   = TypeFolder
	RefDocument = TypeDocument
	RefComment  = TypeComment
	RefTemplate = TypeTemplate
)

// refKind is the canonical type of a ref, "" when no grant admits to its type.
func refKind(typ string) string {
	switch typ {
	case RefFolder, RefDocument, RefComment, RefTemplate:
		return typ
	case "TEMPLATE":
		return RefTemplate
	}
	return ""
}

// AdmittingGrants returns, for each of refs in companyID, the id of the grant that admitted
// the caller, a guest of that company, to it.
//
// The grant that admits an object is, among the caller's unexpired grants in the object's
// company that reach it — a grant on the document itself, or on a folder whose path is a
// prefix of the object's access path (a folder's own path, a document's folder path) — the
// one with the highest level; between equals the most specific (a grant on the document, then
// the folder grant with the longest path), then the one with the lowest id, so that the same
// grants always give the same answer. A comment is admitted by the grant that admits its
// document. A document template, which a guest sees through the documents made from it
// (templatesTable), is admitted by the grant that admits one of its live documents, chosen by
// the same rule over all of them.
//
// Members, the system and anonymous callers are admitted by other means than a grant, or not
// at all: for them the map is empty, as it has no entry for an object no grant reaches.
//
// It reads in a read-only transaction of its own, outside any operation in ctx: the audit log
// asks once the operation's transaction has ended, for the objects its response showed. It
// starts none when the caller is not a guest of the company.
func (s *Store) AdmittingGrants(ctx context.Context, companyID string, refs []ObjectRef) (map[ObjectRef]string, error) {
	if !admitsAny(access.FromContext(ctx), companyID, refs) {
		return map[ObjectRef]string{}, nil
	}
	ctx = context.WithValue(ctx, opKey{}, (*Op)(nil))
	var out map[ObjectRef]string
	err := s.read(ctx, func(c *conn) (err error) {
		out, err = c.admittingGrants(ctx, companyID, refs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("admitting grants: %w", err)
	}
	return out, nil
}

// admitsAny tells whether a grant may have admitted p to one of refs: p is a guest of the
// company, and one of them is of a type grants reach. Only then is it worth a query.
func admitsAny(p *access.Principal, companyID string, refs []ObjectRef) bool {
	if companyID == "" || p.KindIn(companyID) != access.KindGuest {
		return false
	}
	for _, r := range refs {
		if refKind(r.Type) != "" && validID(r.ID) {
			return true
		}
	}
	return false
}

// admittingGrants is AdmittingGrants in c's transaction, in one query whatever the number of
// refs. Every table is read through the storage wall (scopeSQL) and pinned to companyID, and
// only the caller's own grants are joined, so the answer tells nothing the caller could not
// read.
func (c *conn) admittingGrants(ctx context.Context, companyID string, refs []ObjectRef) (map[ObjectRef]string, error) {
	out := map[ObjectRef]string{}
	if !admitsAny(c.p, companyID, refs) {
		return out, nil
	}
	ids := map[string][]string{}
	for _, r := range refs {
		if k := refKind(r.Type); k != "" && validID(r.ID) {
			ids[k] = append(ids[k], r.ID)
		}
	}

	// Each branch lists, for the refs of one type, the caller's grants that reach them; the
	// outer query ranks them per object by AdmittingGrants' rule and keeps the first.
	var branches []string
	var args []any
	grants, gargs := c.scopeSQL(grantsTable)
	branch := func(kind, from string, fargs []any, idCol, docCol, pathCol, where string, wargs ...any) {
		reach := "(grnt.folder_id IS NOT NULL AND " + pathCol + " LIKE grnt.path || '%')"
		if docCol != "" {
			reach = "(grnt.document_id = " + docCol + " OR " + reach + ")"
		}
		branches = append(branches, "SELECT '"+kind+"' AS ref_type, "+idCol+" AS ref_id, grnt.id AS grant_id, grnt.level AS level,"+
			" CASE WHEN grnt.document_id IS NULL THEN 0 ELSE 1 END AS on_document, length(grnt.path) AS path_length"+
			" FROM "+from+" JOIN "+grants+" ON grnt.company_id = ? AND grnt.grantee_id = ?"+
			" AND (grnt.expires_at IS NULL OR grnt.expires_at > ?) AND "+reach+" WHERE "+where)
		args = append(args, fargs...)
		args = append(args, gargs...)
		args = append(args, companyID, c.p.UserID, c.now)
		args = append(args, wargs...)
	}
	if in := ids[RefFolder]; len(in) > 0 {
		// Soft-deleted objects too: a DELETE is recorded once the object is gone.
		from, fargs := c.scopeSQL(deletedFoldersTable)
		branch(RefFolder, from, fargs, "folder.id", "", "folder.path",
			"folder.company_id = ? AND folder.id IN (?)", companyID, bun.List(in))
	}
	if in := ids[RefDocument]; len(in) > 0 {
		from, fargs := c.scopeSQL(deletedDocumentsTable)
		branch(RefDocument, from, fargs, "document.id", "document.id", "document.folder_path",
			"document.company_id = ? AND document.id IN (?)", companyID, bun.List(in))
	}
	if in := ids[RefComment]; len(in) > 0 {
		comments, cargs := c.scopeSQL(commentsTable)
		docs, dargs := c.scopeSQL(deletedDocumentsTable)
		from := comments + " JOIN " + docs + " ON document.company_id = comment.company_id AND document.id = comment.document_id"
		branch(RefComment, from, append(cargs, dargs...), "comment.id", "document.id", "document.folder_path",
			"comment.company_id = ? AND comment.id IN (?)", companyID, bun.List(in))
	}
	if in := ids[RefTemplate]; len(in) > 0 {
		// The live documents made from the template, as templatesTable admits it through them.
		from, fargs := c.scopeSQL(documentsTable)
		branch(RefTemplate, from, fargs, "document.template_id", "document.id", "document.folder_path",
			"document.company_id = ? AND document.template_id IN (?)", companyID, bun.List(in))
	}
	query := "SELECT ref_type, ref_id, grant_id FROM (SELECT reaching.*, row_number() OVER (" +
		"PARTITION BY reaching.ref_type, reaching.ref_id ORDER BY " +
		"CASE reaching.level WHEN 'MANAGE' THEN 3 WHEN 'EDIT' THEN 2 ELSE 1 END DESC, " +
		"reaching.on_document DESC, reaching.path_length DESC, reaching.grant_id" +
		") AS rn FROM (" + strings.Join(branches, " UNION ALL ") + ") AS reaching) AS ranked WHERE ranked.rn = 1"
	var rows []struct {
		RefType string `bun:"ref_type"`
		RefID   string `bun:"ref_id"`
		GrantID string `bun:"grant_id"`
	}
	if err := c.db.NewRaw(query, args...).Scan(ctx, &rows); err != nil {
		return nil, err
	}
	found := make(map[ObjectRef]string, len(rows))
	for _, r := range rows {
		found[ObjectRef{Type: r.RefType, ID: r.RefID}] = r.GrantID
	}
	// Answer in the caller's terms: its type names (TEMPLATE) and its ids as it spelled them.
	for _, r := range refs {
		if id, ok := found[ObjectRef{Type: refKind(r.Type), ID: strings.ToLower(r.ID)}]; ok {
			out[r] = id
		}
	}
	return out, nil
}
