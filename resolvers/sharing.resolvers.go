package resolvers

import (
	"context"

	"github.com/laatu/laatu/dataloaders"
	"github.com/laatu/laatu/graph"
	"github.com/laatu/laatu/graph/model"
	"github.com/laatu/laatu/internal/storage"
)

func (r *documentResolver) Grants(ctx context.Context, obj *storage.Document) ([]*storage.Grant, error) {
	return r.Store.GrantsOn(ctx, obj.ID)
}

func (r *folderResolver) Grants(ctx context.Context, obj *storage.Folder) ([]*storage.Grant, error) {
	return r.Store.GrantsOn(ctx, obj.ID)
}

func (r *grantResolver) Grantee(ctx context.Context, obj *storage.Grant) (*storage.User, error) {
	return optional(dataloaders.For(ctx).Users.Load(ctx, obj.GranteeID))
}

func (r *grantResolver) Folder(ctx context.Context, obj *storage.Grant) (*storage.Folder, error) {
	if obj.FolderID == nil {
		return nil, nil
	}
	return optional(dataloaders.For(ctx).Folders.Load(ctx, *obj.FolderID))
}

func (r *grantResolver) Document(ctx context.Context, obj *storage.Grant) (*storage.Document, error) {
	if obj.DocumentID == nil {
		return nil, nil
	}
	return optional(dataloaders.For(ctx).Documents.Load(ctx, *obj.DocumentID))
}

func (r *grantResolver) Company(ctx context.Context, obj *storage.Grant) (*storage.Company, error) {
	return optional(dataloaders.For(ctx).Companies.Load(ctx, obj.CompanyID))
}

func (r *grantResolver) GrantedBy(ctx context.Context, obj *storage.Grant) (*storage.User, error) {
	if obj.GrantedBy == nil {
		return nil, nil
	}
	return optional(dataloaders.For(ctx).Users.Load(ctx, *obj.GrantedBy))
}

func (r *mutationResolver) Share(ctx context.Context, input model.ShareInput) (*storage.Grant, error) {
	return r.Auth.Share(ctx, input.ObjectID, input.Email, input.Level, input.ExpiresAt, deref(input.Language, "en"))
}

func (r *mutationResolver) Unshare(ctx context.Context, grantID string) (bool, error) {
	_, err := r.Store.Unshare(ctx, grantID)
	return err == nil, err
}

func (r *queryResolver) SharedWithMe(ctx context.Context) ([]*storage.Grant, error) {
	return r.Store.SharedWithMe(ctx)
}

func (r *queryResolver) Grants(ctx context.Context, objectID string) ([]*storage.Grant, error) {
	return r.Store.GrantsOn(ctx, objectID)
}

// Grant returns graph.GrantResolver implementation.
func (r *Resolver) Grant() graph.GrantResolver { return &grantResolver{r} }

type grantResolver struct{ *Resolver }
