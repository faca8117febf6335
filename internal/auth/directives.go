package auth

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/laatu/laatu/dataloaders"
	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/storage"
)

// Directives implements @auth, @owner and @shared. They are the declared contract and the
// first check; storage applies the same rules again, so a field that lacked one could still
// not leak.
type Directives struct {
	// Denied, when set, is told about refusals on objects that exist, so they can be audited.
	Denied func(ctx context.Context, objectType, objectID, companyID string)
	// Probed, when set, is told about ids the caller asked for but may not view (or that do not
	// exist: the two are not told apart, not even here, since row-level security hides other
	// companies' rows from the server's own role). The audit log records the attempt in the
	// caller's company, so that its ADMINs see probing.
	Probed func(ctx context.Context, id string)
	// DeniedWrite, when set, is told about mutations refused for the caller's level (@auth),
	// with the ids the mutation names (none for a write on the company itself), so that every
	// denied write leaves a trace for the company's ADMINs.
	DeniedWrite func(ctx context.Context, ids []string)
}

// Auth admits a logged-in caller; with a level, only a member of the active company at that
// level or above.
func (d *Directives) Auth(ctx context.Context, obj any, next graphql.Resolver, level *access.Level) (any, error) {
	p := access.FromContext(ctx)
	if !p.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "log in first")
	}
	if level != nil && !p.Level.AtLeast(*level) {
		if d.DeniedWrite != nil && isMutation(ctx) {
			d.DeniedWrite(ctx, idArgs(ctx))
		}
		return nil, errs.New(errs.Forbidden, "this needs the %s level in the active company", *level)
	}
	return next(ctx)
}

func isMutation(ctx context.Context) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	op := graphql.GetOperationContext(ctx).Operation
	return op != nil && op.Operation == ast.Mutation
}

// idArgs are the values of the root field's arguments that name an object.
func idArgs(ctx context.Context) []string {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil
	}
	var ids []string
	for _, name := range []string{"id", "documentId", "folderId", "objectId", "userId", "grantId"} {
		if id, ok := fc.Args[name].(string); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// Public admits anyone: it marks the few fields (login, sign-up, password reset) that must work
// without a session. It is explicit so that the schema test can tell it from a forgotten directive.
func (d *Directives) Public(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
	return next(ctx)
}

// Owner admits the owner of the object, or an ADMIN of its company.
func (d *Directives) Owner(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
	p := access.FromContext(ctx)
	if !p.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "log in first")
	}
	o, err := d.object(ctx, obj)
	if err != nil {
		return nil, d.probed(ctx, err)
	}
	if o.owner != p.UserID && p.LevelIn(o.company) != access.Admin {
		d.denied(ctx, o)
		return nil, errs.New(errs.Forbidden, "only the owner or an admin may do this")
	}
	return next(ctx)
}

// Shared admits a caller whose effective right on the object is at least level.
func (d *Directives) Shared(ctx context.Context, obj any, next graphql.Resolver, level *access.Right) (any, error) {
	p := access.FromContext(ctx)
	if !p.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "log in first")
	}
	need := access.View
	if level != nil {
		need = *level
	}
	o, err := d.object(ctx, obj)
	if err != nil {
		return nil, d.probed(ctx, err)
	}
	right, err := dataloaders.For(ctx).Rights.Load(ctx, o.obj)
	if err != nil {
		return nil, err
	}
	if !right.AtLeast(access.View) {
		return nil, d.probed(ctx, errs.NotFoundf("object"))
	}
	if !right.AtLeast(need) {
		d.denied(ctx, o)
		return nil, errs.New(errs.Forbidden, "this needs the %s right on the %s", need, o.what)
	}
	return next(ctx)
}

type target struct {
	obj            storage.Object
	what, typ, id  string
	owner, company string
}

// object finds what a directive guards: the parent object on a type's field, or on a root field
// the folder or document named by the id, documentId or folderId argument. An object the
// caller may not view is NOT_FOUND, exactly like an id that exists nowhere.
func (d *Directives) object(ctx context.Context, parent any) (target, error) {
	switch o := parent.(type) {
	case *storage.Document:
		return target{o, "document", "DOCUMENT", o.ID, o.OwnerID, o.CompanyID}, nil
	case *storage.Folder:
		return target{o, "folder", "FOLDER", o.ID, o.OwnerID, o.CompanyID}, nil
	}
	args := graphql.GetFieldContext(ctx).Args
	l := dataloaders.For(ctx)
	if id, ok := args["documentId"].(string); ok {
		return loadDocument(ctx, l, id)
	}
	if id, ok := args["folderId"].(string); ok {
		return loadFolder(ctx, l, id)
	}
	id, ok := args["id"].(string)
	if !ok {
		id, ok = args["objectId"].(string)
	}
	if !ok {
		return target{}, errs.New(errs.Internal, "directive on a field without an object")
	}
	t, err := loadDocument(ctx, l, id)
	if errs.KindOf(err) == errs.NotFound {
		return loadFolder(ctx, l, id)
	}
	return t, err
}

func loadDocument(ctx context.Context, l *dataloaders.Loaders, id string) (target, error) {
	doc, err := l.Documents.Load(ctx, id)
	if dataloaders.Missing(err) {
		return target{}, errs.NotFoundf("object")
	}
	if err != nil {
		return target{}, err
	}
	return target{doc, "document", "DOCUMENT", doc.ID, doc.OwnerID, doc.CompanyID}, nil
}

func loadFolder(ctx context.Context, l *dataloaders.Loaders, id string) (target, error) {
	f, err := l.Folders.Load(ctx, id)
	if dataloaders.Missing(err) {
		return target{}, errs.NotFoundf("object")
	}
	if err != nil {
		return target{}, err
	}
	return target{f, "folder", "FOLDER", f.ID, f.OwnerID, f.CompanyID}, nil
}

func (d *Directives) denied(ctx context.Context, t target) {
	if d.Denied != nil {
		d.Denied(ctx, t.typ, t.id, t.company)
	}
}

// probed reports a NOT_FOUND on a root field's id argument to the Probed hook.
func (d *Directives) probed(ctx context.Context, err error) error {
	if d.Probed == nil || errs.KindOf(err) != errs.NotFound {
		return err
	}
	args := graphql.GetFieldContext(ctx).Args
	for _, name := range []string{"id", "documentId", "folderId", "objectId"} {
		if id, ok := args[name].(string); ok {
			d.Probed(ctx, id)
		}
	}
	return err
}
