package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
)

// DocumentSort orders document lists.
type DocumentSort string

// The document sort keys.
const (
	DocumentUpdatedAtDesc DocumentSort = "UPDATED_AT_DESC"
	DocumentUpdatedAtAsc  DocumentSort = "UPDATED_AT_ASC"
	DocumentCreatedAtDesc DocumentSort = "CREATED_AT_DESC"
	DocumentCreatedAtAsc  DocumentSort = "CREATED_AT_ASC"
	DocumentTitleAsc      DocumentSort = "TITLE_ASC"
	DocumentTitleDesc     DocumentSort = "TITLE_DESC"
)

var documentSorts = map[DocumentSort]sortSpec[*Document]{
	DocumentUpdatedAtDesc: {"document.updated_at", true, func(d *Document) any { return d.UpdatedAt }, cursor.timeAny},
	DocumentUpdatedAtAsc:  {"document.updated_at", false, func(d *Document) any { return d.UpdatedAt }, cursor.timeAny},
	DocumentCreatedAtDesc: {"document.created_at", true, func(d *Document) any { return d.CreatedAt }, cursor.timeAny},
	DocumentCreatedAtAsc:  {"document.created_at", false, func(d *Document) any { return d.CreatedAt }, cursor.timeAny},
	DocumentTitleAsc:      {"document.title", false, func(d *Document) any { return d.Title }, cursor.stringAny},
	DocumentTitleDesc:     {"document.title", true, func(d *Document) any { return d.Title }, cursor.stringAny},
}

// DocumentFilter narrows a document list. Zero fields do not filter.
type DocumentFilter struct {
	FolderID *string
	// IncludeSubfolders widens FolderID to everything below the folder.
	IncludeSubfolders bool
	Statuses          []Status
	TemplateID        *string
	UpdatedFrom       *time.Time
	UpdatedTo         *time.Time
	TitleContains     *string
}

func (f DocumentFilter) apply(c *conn, q scoped) scoped {
	// A malformed id matches nothing, like an unknown one (PostgreSQL would refuse to compare
	// it with a uuid column).
	if (f.FolderID != nil && !validID(*f.FolderID)) || (f.TemplateID != nil && !validID(*f.TemplateID)) {
		return q.Where("1 = 0")
	}
	if f.FolderID != nil {
		if f.IncludeSubfolders {
			q = q.Where("document.folder_path LIKE (SELECT ff.path FROM folders AS ff WHERE ff.id = ? AND ff.company_id = document.company_id) || '%'", c.arg(*f.FolderID))
		} else {
			q = q.Where("document.folder_id = ?", c.arg(*f.FolderID))
		}
	}
	if len(f.Statuses) > 0 {
		statuses := make([]any, len(f.Statuses))
		for i, st := range f.Statuses {
			statuses[i] = c.arg(string(st))
		}
		q = q.Where("document.status IN (?)", bun.List(statuses))
	}
	if f.TemplateID != nil {
		q = q.Where("document.template_id = ?", c.arg(*f.TemplateID))
	}
	if f.UpdatedFrom != nil {
		q = q.Where("document.updated_at >= ?", c.arg(f.UpdatedFrom.UTC()))
	}
	if f.UpdatedTo != nil {
		q = q.Where("document.updated_at < ?", c.arg(f.UpdatedTo.UTC()))
	}
	if f.TitleContains != nil && *f.TitleContains != "" {
		q = q.Where("lower(document.title) LIKE ? ESCAPE '\\'", c.arg(likePattern(*f.TitleContains)))
	}
	return q
}

func documentSort(s DocumentSort) sortSpec[*Document] {
	if spec, ok := documentSorts[s]; ok {
		return spec
	}
	return documentSorts[DocumentUpdatedAtDesc]
}

// Documents lists the documents the caller may view.
func (s *Store) Documents(ctx context.Context, f DocumentFilter, sort DocumentSort, page PageArgs) (*Page[*Document], error) {
	return paginate(ctx, s, documentsTable, documentSort(sort), page, f.apply)
}

// DocumentsByFolder returns one page of documents for each folder, in one query.
func (s *Store) DocumentsByFolder(ctx context.Context, folders []Parent, f DocumentFilter, sortKey DocumentSort, page PageArgs) (map[string]*Page[*Document], error) {
	f.FolderID = nil
	return pagesByParent(ctx, s, documentsTable, "folder_id", folders, documentSort(sortKey), page, f.apply,
		func(d *Document) string { return d.FolderID })
}

// CountDocumentsByFolder counts each folder's documents that the caller may view.
func (s *Store) CountDocumentsByFolder(ctx context.Context, folderIDs []string, f DocumentFilter) (map[string]int, error) {
	folderIDs = validIDs(folderIDs)
	out := make(map[string]int, len(folderIDs))
	if len(folderIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		FolderID string `bun:"folder_id"`
		N        int    `bun:"n"`
	}
	err := s.read(ctx, func(c *conn) error {
		f.FolderID = nil
		return f.apply(c, c.from(documentsTable, (*Document)(nil))).
			ColumnExpr("document.folder_id, count(*) AS n").Where("document.folder_id IN (?)", bun.List(folderIDs)).
			GroupExpr("document.folder_id").Scan(ctx, &rows)
	})
	if err != nil {
		return nil, fmt.Errorf("count documents by folder: %w", err)
	}
	for _, id := range folderIDs {
		out[id] = 0
	}
	for _, r := range rows {
		out[r.FolderID] = r.N
	}
	return out, nil
}

// DocumentsByID returns the documents among ids that the caller may view.
func (s *Store) DocumentsByID(ctx context.Context, ids []string) (map[string]*Document, error) {
	return visibleByID(ctx, s, documentsTable, ids, func(d *Document) string { return d.ID })
}

// Document returns one document the caller may view, or NOT_FOUND.
func (s *Store) Document(ctx context.Context, id string) (*Document, error) {
	var d *Document
	err := s.read(ctx, func(c *conn) (err error) {
		d, err = c.document(ctx, id)
		return err
	})
	return d, err
}

func (c *conn) document(ctx context.Context, id string) (*Document, error) {
	if !validID(id) {
		return nil, errs.NotFoundf("document")
	}
	d := new(Document)
	if err := c.from(documentsTable, d).Where("document.id = ?", id).Scan(ctx); err != nil {
		return nil, notFound(err, "document")
	}
	return d, nil
}

// NewDocument is the input of CreateDocument.
type NewDocument struct {
	FolderID   string
	TemplateID string
	Title      string
	Values     map[string]any
}

// CreateDocument creates a DRAFT document in a folder the caller may add to.
func (s *Store) CreateDocument(ctx context.Context, in NewDocument) (*Document, error) {
	if err := validateName("title", in.Title, 300); err != nil {
		return nil, err
	}
	var out *Document
	err := s.write(ctx, func(c *conn) error {
		folder, err := c.folder(ctx, in.FolderID)
		if err != nil {
			return err
		}
		if err := c.requireToAdd(ctx, folder); err != nil {
			return err
		}
		return c.actingIn(ctx, folder.CompanyID, func(c *conn) error {
			tmpl, err := c.template(ctx, in.TemplateID, folder.CompanyID)
			if err != nil {
				return err
			}
			values, err := validateValues(tmpl.Fields, nil, in.Values, false)
			if err != nil {
				return err
			}
			d := &Document{CompanyID: folder.CompanyID, ID: NewID(), FolderID: folder.ID, FolderPath: folder.Path,
				TemplateID: tmpl.ID, Title: strings.TrimSpace(in.Title), Status: Draft, Values: values,
				OwnerID: c.p.UserID, Version: 1, CreatedAt: c.now, UpdatedAt: c.now}
			if _, err := c.db.NewInsert().Model(d).Exec(ctx); err != nil {
				return fmt.Errorf("insert document: %w", err)
			}
			out = d
			return c.changed(ctx, ChangeCreated, d)
		})
	})
	return out, err
}

// DocumentPatch is a partial update: nil fields stay; in Values, a key set to nil clears it.
type DocumentPatch struct {
	ExpectedVersion int
	Title           *string
	Values          map[string]any
	Status          *Status
}

// transitions lists the allowed status changes and the right each needs.
var transitions = map[[2]Status]access.Right{
	{Draft, Submitted}:    access.Edit,
	{Submitted, Draft}:    access.Edit,
	{Submitted, Approved}: access.Manage,
	{Approved, Archived}:  access.Manage,
	{Draft, Archived}:     access.Manage,
	{Archived, Draft}:     access.Manage,
}

// UpdateDocument applies a patch if the document is still at ExpectedVersion (else CONFLICT).
func (s *Store) UpdateDocument(ctx context.Context, id string, p DocumentPatch) (*Document, error) {
	if p.Title != nil {
		if err := validateName("title", *p.Title, 300); err != nil {
			return nil, err
		}
	}
	var out *Document
	err := s.write(ctx, func(c *conn) error {
		d, err := c.document(ctx, id)
		if err != nil {
			return err
		}
		need := access.Edit
		status := d.Status
		if p.Status != nil && *p.Status != d.Status {
			r, ok := transitions[[2]Status{d.Status, *p.Status}]
			if !ok {
				return errs.Invalid("status", "a %s document cannot become %s", d.Status, *p.Status)
			}
			need, status = r, *p.Status
		}
		if err := c.require(ctx, d, need); err != nil {
			return err
		}
		if d.Version != p.ExpectedVersion {
			return errs.New(errs.Conflict, "the document was changed by someone else (now at version %d)", d.Version)
		}
		if (p.Values != nil || p.Title != nil) && (d.Status == Approved || d.Status == Archived) {
			return errs.Invalid("values", "an %s document cannot be edited", strings.ToLower(string(d.Status)))
		}
		return c.actingIn(ctx, d.CompanyID, func(c *conn) error {
			tmpl, err := c.template(ctx, d.TemplateID, d.CompanyID)
			if err != nil {
				return err
			}
			before := *d
			values, err := validateValues(tmpl.Fields, d.Values, p.Values, status == Submitted)
			if err != nil {
				return err
			}
			after := *d
			after.Values, after.Status = values, status
			if p.Title != nil {
				after.Title = strings.TrimSpace(*p.Title)
			}
			fields := documentDiff(tmpl.Fields, &before, &after)
			if len(fields) == 0 {
				out = d
				return nil
			}
			// Signing (signing.go): back to DRAFT voids the signatures; otherwise content that
			// signatures cover is frozen.
			if status == Draft && d.Status != Draft {
				n, err := c.voidSignatures(ctx, d)
				if err != nil {
					return err
				}
				if n > 0 {
					fields = append(fields, FieldChange{Field: "signatures", Before: n, After: 0})
				}
			} else if ContentHash(&after) != ContentHash(d) {
				inForce, err := c.signaturesInForce(ctx, d)
				if err != nil {
					return err
				}
				if len(inForce) > 0 {
					return errs.New(errs.Conflict, "the document is signed; set it back to DRAFT to change it, which voids its signatures")
				}
			}
			after.Version, after.UpdatedAt = d.Version+1, c.now
			if err := c.saveVersion(ctx, "DOCUMENT", d.ID, d.CompanyID, d.Version, &before); err != nil {
				return err
			}
			res, err := c.db.NewUpdate().Model(&after).Column("title", "status", "values", "version", "updated_at").
				Where("company_id = ? AND id = ? AND version = ?", d.CompanyID, d.ID, p.ExpectedVersion).Exec(ctx)
			if err != nil {
				return fmt.Errorf("update document: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errs.New(errs.Conflict, "the document was changed by someone else")
			}
			out = &after
			return c.changed(ctx, ChangeUpdated, &after, fields...)
		})
	})
	return out, err
}

// DeleteDocument soft-deletes a document; it needs MANAGE.
func (s *Store) DeleteDocument(ctx context.Context, id string) (*Document, error) {
	var out *Document
	err := s.write(ctx, func(c *conn) error {
		d, err := c.document(ctx, id)
		if err != nil {
			return err
		}
		if err := c.require(ctx, d, access.Manage); err != nil {
			return err
		}
		return c.actingIn(ctx, d.CompanyID, func(c *conn) error {
			if _, err := c.db.NewUpdate().Table("documents").Set("deleted_at = ?", c.now).
				Where("company_id = ? AND id = ?", d.CompanyID, d.ID).Exec(ctx); err != nil {
				return fmt.Errorf("delete document: %w", err)
			}
			d.DeletedAt = &c.now
			out = d
			return c.changed(ctx, ChangeDeleted, d)
		})
	})
	return out, err
}

func documentDiff(fields []FieldDef, a, b *Document) []FieldChange {
	var out []FieldChange
	if a.Title != b.Title {
		out = append(out, FieldChange{Field: "title", Before: a.Title, After: b.Title})
	}
	if a.Status != b.Status {
		out = append(out, FieldChange{Field: "status", Before: a.Status, After: b.Status})
	}
	personal := map[string]bool{}
	for _, f := range fields {
		personal[f.Key] = f.Personal
	}
	keys := map[string]bool{}
	for k := range a.Values {
		keys[k] = true
	}
	for k := range b.Values {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		before, after := a.Values[k], b.Values[k]
		if reflect.DeepEqual(before, after) {
			continue
		}
		fc := FieldChange{Field: "values." + k, Personal: personal[k]}
		if !fc.Personal {
			fc.Before, fc.After = before, after
		}
		out = append(out, fc)
	}
	return out
}

// validateValues merges patch into current and checks the result against the template's
// fields. With complete, every required field must have a value (submitting a document).
func validateValues(fields []FieldDef, current, patch map[string]any, complete bool) (map[string]any, error) {
	defs := make(map[string]FieldDef, len(fields))
	for _, f := range fields {
		defs[f.Key] = f
	}
	out := make(map[string]any, len(current)+len(patch))
	for k, v := range current {
		out[k] = v
	}
	keys := make([]string, 0, len(patch))
	for k := range patch {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := patch[k]
		def, ok := defs[k]
		if !ok {
			return nil, errs.Invalid("values."+k, "the template has no field %q", k)
		}
		if v == nil {
			delete(out, k)
			continue
		}
		norm, err := checkValue(def, v)
		if err != nil {
			return nil, err
		}
		out[k] = norm
	}
	if complete {
		for _, f := range fields {
			if _, ok := out[f.Key]; f.Required && !ok {
				return nil, errs.Invalid("values."+f.Key, "%s is required to submit", f.Label)
			}
		}
	}
	return out, nil
}

func checkValue(def FieldDef, v any) (any, error) {
	field := "values." + def.Key
	bad := func(want string) error { return errs.Invalid(field, "%s must be %s", def.Label, want) }
	switch def.Type {
	case FieldText, FieldPhoto, FieldSignature:
		s, ok := v.(string)
		if !ok {
			return nil, bad("a string")
		}
		if !utf8.ValidString(s) || len(s) > 100_000 {
			return nil, bad("valid text of at most 100000 bytes")
		}
		return s, nil
	case FieldNumber:
		var n float64
		switch x := v.(type) {
		case float64:
			n = x
		case int:
			n = float64(x)
		case int64:
			n = float64(x)
		default:
			if jn, ok := v.(interface{ Float64() (float64, error) }); ok {
				f, err := jn.Float64()
				if err != nil {
					return nil, bad("a number")
				}
				n = f
			} else {
				return nil, bad("a number")
			}
		}
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, bad("a finite number")
		}
		return n, nil
	case FieldDate:
		s, ok := v.(string)
		if !ok {
			return nil, bad("a date (YYYY-MM-DD)")
		}
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return nil, bad("a date (YYYY-MM-DD)")
		}
		return s, nil
	case FieldCheckbox:
		b, ok := v.(bool)
		if !ok {
			return nil, bad("true or false")
		}
		return b, nil
	case FieldChoice:
		s, ok := v.(string)
		if !ok {
			return nil, bad("one of " + strings.Join(def.Options, ", "))
		}
		for _, o := range def.Options {
			if o == s {
				return s, nil
			}
		}
		return nil, bad("one of " + strings.Join(def.Options, ", "))
	}
	return nil, errs.Invalid(field, "the field has an unknown type")
}

// DocumentVersions lists the saved earlier states of a document, newest first; it needs MANAGE.
func (s *Store) DocumentVersions(ctx context.Context, id string) ([]*ObjectVersion, error) {
	var out []*ObjectVersion
	err := s.read(ctx, func(c *conn) error {
		d, err := c.document(ctx, id)
		if err != nil {
			return err
		}
		if err := c.require(ctx, d, access.Manage); err != nil {
			return err
		}
		return c.actingIn(ctx, d.CompanyID, func(c *conn) error {
			return c.from(versionsTable, &out).Where("objver.object_id = ? AND objver.object_type = 'DOCUMENT'", d.ID).
				OrderExpr("objver.version DESC, objver.id DESC").Limit(MaxPageSize).Scan(ctx)
		})
	})
	return out, err
}

// RestoreDocument brings a deleted document back, and with version, also its title, values and
// status as they were at that version (as a new version: nothing is lost). ADMIN only.
func (s *Store) RestoreDocument(ctx context.Context, id string, version *int) (*Document, error) {
	var out *Document
	err := s.write(ctx, func(c *conn) error {
		if !c.p.Level.AtLeast(access.Admin) {
			return errs.New(errs.Forbidden, "only admins restore")
		}
		if !validID(id) {
			return errs.NotFoundf("document")
		}
		d := new(Document)
		if err := c.from(deletedDocumentsTable, d).Where("document.id = ? AND document.company_id = ?", id, c.p.CompanyID).Scan(ctx); err != nil {
			return notFound(err, "document")
		}
		before := *d
		after := *d
		after.DeletedAt = nil
		if version != nil {
			v := new(ObjectVersion)
			if err := c.from(versionsTable, v).Where("objver.object_id = ? AND objver.version = ?", id, *version).
				OrderExpr("objver.created_at DESC").Limit(1).Scan(ctx); err != nil {
				return notFound(err, "version")
			}
			var old Document
			if err := remarshal(v.Data, &old); err != nil {
				return err
			}
			after.Title, after.Values, after.Status = old.Title, old.Values, old.Status
		}
		after.Version, after.UpdatedAt = d.Version+1, c.now
		if err := c.saveVersion(ctx, "DOCUMENT", d.ID, d.CompanyID, d.Version, &before); err != nil {
			return err
		}
		if _, err := c.db.NewUpdate().Model(&after).Column("title", "status", "values", "version", "updated_at", "deleted_at").
			Where("company_id = ? AND id = ?", d.CompanyID, d.ID).Exec(ctx); err != nil {
			return fmt.Errorf("restore document: %w", err)
		}
		out = &after
		tmpl, err := c.template(ctx, d.TemplateID, d.CompanyID)
		if err != nil {
			return err
		}
		return c.changed(ctx, ChangeRestored, &after, documentDiff(tmpl.Fields, &before, &after)...)
	})
	return out, err
}

func remarshal(from any, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}
