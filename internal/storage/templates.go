package storage

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
)

// template loads a document template of companyID that the caller may use.
func (c *conn) template(ctx context.Context, id, companyID string) (*DocumentTemplate, error) {
	if !validID(id) {
		return nil, errs.NotFoundf("template")
	}
	t := new(DocumentTemplate)
	err := c.from(templatesTable, t).Where("template.id = ? AND template.company_id = ?", id, companyID).Scan(ctx)
	if err != nil {
		return nil, notFound(err, "template")
	}
	return t, nil
}

// TemplatesByID returns the templates among ids that the caller may view.
func (s *Store) TemplatesByID(ctx context.Context, ids []string) (map[string]*DocumentTemplate, error) {
	return visibleByID(ctx, s, templatesTable, ids, func(t *DocumentTemplate) string { return t.ID })
}

var templateSort = sortSpec[*DocumentTemplate]{"template.name", false, func(t *DocumentTemplate) any { return t.Name }, cursor.stringAny}

// Templates lists the document templates of the active company.
func (s *Store) Templates(ctx context.Context, page PageArgs) (*Page[*DocumentTemplate], error) {
	return paginate(ctx, s, templatesTable, templateSort, page, func(c *conn, q scoped) scoped {
		return q.Where("template.company_id = ?", c.p.CompanyID)
	})
}

var fieldKey = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]{0,63}$`)

// NewTemplate is the input of CreateTemplate.
type NewTemplate struct {
	Name        string
	Description string
	Fields      []FieldDef
}

// CreateTemplate adds a document template to the active company; it needs ADMIN.
func (s *Store) CreateTemplate(ctx context.Context, in NewTemplate) (*DocumentTemplate, error) {
	if err := validateName("name", in.Name, 200); err != nil {
		return nil, err
	}
	if err := validateFields(in.Fields); err != nil {
		return nil, err
	}
	var out *DocumentTemplate
	err := s.write(ctx, func(c *conn) error {
		if !c.p.Level.AtLeast(access.Admin) && !c.p.System() {
			return errs.New(errs.Forbidden, "only admins manage templates")
		}
		t := &DocumentTemplate{CompanyID: c.p.CompanyID, ID: NewID(), Name: strings.TrimSpace(in.Name),
			Description: in.Description, Version: 1, Fields: in.Fields, CreatedAt: c.now, UpdatedAt: c.now}
		if _, err := c.db.NewInsert().Model(t).Exec(ctx); err != nil {
			return fmt.Errorf("insert template: %w", err)
		}
		out = t
		return c.emit(ctx, Change{Kind: ChangeCreated, CompanyID: t.CompanyID, ObjectType: "TEMPLATE", ObjectID: t.ID})
	})
	return out, err
}

func validateFields(fields []FieldDef) error {
	if len(fields) == 0 || len(fields) > 200 {
		return errs.Invalid("fields", "a template needs 1 to 200 fields")
	}
	seen := map[string]bool{}
	for i, f := range fields {
		name := fmt.Sprintf("fields.%d", i)
		if !fieldKey.MatchString(f.Key) {
			return errs.Invalid(name+".key", "a field key starts with a lowercase letter and holds letters, digits and _ (at most 64)")
		}
		if seen[f.Key] {
			return errs.Invalid(name+".key", "the field key %q is used twice", f.Key)
		}
		seen[f.Key] = true
		if err := validateName(name+".label", f.Label, 200); err != nil {
			return err
		}
		switch f.Type {
		case FieldText, FieldNumber, FieldDate, FieldCheckbox, FieldPhoto, FieldSignature:
		case FieldChoice:
			if len(f.Options) == 0 {
				return errs.Invalid(name+".options", "a CHOICE field needs options")
			}
		default:
			return errs.Invalid(name+".type", "unknown field type %q", f.Type)
		}
	}
	return nil
}
