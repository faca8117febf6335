package api

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
)

// TestSharedWithoutDeclaredObjectFailsClosed checks that @shared on a root field that names no
// argument refuses instead of guessing the object from argument names (the schema test keeps
// such a field out of the schema; this is the wall behind it).
func TestSharedWithoutDeclaredObjectFailsClosed(t *testing.T) {
	ctx := access.NewContext(context.Background(), &access.Principal{UserID: "u1", CompanyID: "c1", Level: access.Admin})
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Args: map[string]any{"id": "x", "documentId": "y", "objectId": "z"}})
	reached := false
	next := func(context.Context) (any, error) { reached = true; return nil, nil }
	var d Directives
	_, err := d.Shared(ctx, nil, next, nil, nil, nil, nil)
	if errs.KindOf(err) != errs.Internal || reached {
		t.Fatalf("Shared without a declared argument: err %v (kind %v), resolver reached %v; want INTERNAL, not reached", err, errs.KindOf(err), reached)
	}
	name := "folderId"
	_, err = d.Shared(ctx, nil, next, nil, nil, &name, nil)
	if errs.KindOf(err) != errs.Internal || reached {
		t.Fatalf("Shared naming an absent argument: err %v, resolver reached %v; want INTERNAL, not reached", err, reached)
	}
}
