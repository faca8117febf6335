package api

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/laatu/laatu/dataloaders"
	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/storage"
)

// Directives implements @auth, @shared and @public. They are the declared contract and the
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

// Shared admits a caller whose effective right on the object is at least level. On a root
// field the object is the one named by the argument the schema declares (document, folder or
// object: the argument's name); on a field of Folder or Document it is the parent.
func (d *Directives) Shared(ctx context.Context, obj any, next graphql.Resolver, level *access.Right,
	document, folder, object *string) (any, error) {
	p := access.FromContext(ctx)
	if !p.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "log in first")
	}
	need := access.View
	if level != nil {
		need = *level
	}
	o, named, err := d.object(ctx, obj, document, folder, object)
	if err != nil {
		return nil, err
	}
	right, err := dataloaders.For(ctx).Rights.Load(ctx, o)
	if err != nil {
		return nil, err
	}
	if !right.AtLeast(access.View) {
		if named && d.Probed != nil {
			d.Probed(ctx, o.ObjectID())
		}
		return nil, errs.NotFoundf("object")
	}
	if !right.AtLeast(need) {
		if d.Denied != nil {
			d.Denied(ctx, o.ObjectType(), o.ObjectID(), o.ObjectCompanyID())
		}
		return nil, errs.New(errs.Forbidden, "this needs the %s right on the %s", need, strings.ToLower(o.ObjectType()))
	}
	return next(ctx)
}

// object finds what @shared guards: the parent on a field of a type, or on a root field the
// object named by the declared argument (named is then true). An id that names nothing the
// caller may view is NOT_FOUND, exactly like an id that exists nowhere, and told to Probed.
func (d *Directives) object(ctx context.Context, parent any, document, folder, object *string) (o storage.Object, named bool, err error) {
	if o, ok := parent.(storage.Object); ok {
		return o, false, nil
	}
	name := firstSet(document, folder, object)
	id, ok := graphql.GetFieldContext(ctx).Args[name].(string)
	if !ok {
		// The schema test refuses such a field; fail closed should one slip through.
		return nil, false, errs.New(errs.Internal, "@shared on a root field names no ID! argument holding the object")
	}
	l := dataloaders.For(ctx)
	switch {
	case document != nil:
		o, err = loadDocument(ctx, l, id)
	case folder != nil:
		o, err = loadFolder(ctx, l, id)
	default:
		if o, err = loadDocument(ctx, l, id); errs.KindOf(err) == errs.NotFound {
			o, err = loadFolder(ctx, l, id)
		}
	}
	if errs.KindOf(err) == errs.NotFound && d.Probed != nil {
		d.Probed(ctx, id)
	}
	return o, true, err
}

// firstSet is the first of names that is set, "" when none is.
func firstSet(names ...*string) string {
	for _, n := range names {
		if n != nil {
			return *n
		}
	}
	return ""
}

func loadDocument(ctx context.Context, l *dataloaders.Loaders, id string) (storage.Object, error) {
	doc, err := l.Documents.Load(ctx, id)
	if dataloaders.Missing(err) {
		return nil, errs.NotFoundf("object")
	}
	if err != nil {
		return nil, err
	}
	return doc, nil
}

func loadFolder(ctx context.Context, l *dataloaders.Loaders, id string) (storage.Object, error) {
	f, err := l.Folders.Load(ctx, id)
	if dataloaders.Missing(err) {
		return nil, errs.NotFoundf("object")
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}
