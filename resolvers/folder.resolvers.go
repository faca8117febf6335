package resolvers

import (
	"context"

	"github.com/laatu/laatu/dataloaders"
	"github.com/laatu/laatu/graph"
	"github.com/laatu/laatu/graph/model"
	"github.com/laatu/laatu/internal/storage"
)

func (r *folderResolver) Parent(ctx context.Context, obj *storage.Folder) (*storage.Folder, error) {
	if obj.ParentID == nil {
		return nil, nil
	}
	return optional(dataloaders.For(ctx).Folders.Load(ctx, *obj.ParentID))
}

func (r *folderResolver) Children(ctx context.Context, obj *storage.Folder, first *int, after *string, sort *storage.FolderSort) (*model.FolderConnection, error) {
	pg, err := storage.NewPageArgs(first, after)
	if err != nil {
		return nil, err
	}
	p, err := r.Store.Folders(ctx, storage.FolderFilter{ParentID: &obj.ID}, deref(sort, storage.FolderNameAsc), pg)
	if err != nil {
		return nil, err
	}
	return folderConnection(p), nil
}

func (r *folderResolver) Documents(ctx context.Context, obj *storage.Folder, first *int, after *string, filter *model.DocumentFilter, sort *storage.DocumentSort) (*model.DocumentConnection, error) {
	pg, err := storage.NewPageArgs(first, after)
	if err != nil {
		return nil, err
	}
	f := documentFilter(filter)
	f.FolderID, f.IncludeSubfolders = nil, false
	args := dataloaders.DocumentListArgs{Filter: f, Sort: deref(sort, storage.DocumentUpdatedAtDesc), Page: pg}
	l := dataloaders.For(ctx)
	p, err := l.FolderDocuments.Load(ctx, args.Key(obj.ID))
	if err != nil {
		return nil, err
	}
	count := func() (int, error) { return l.FolderDocumentCounts.Load(ctx, args.Key(obj.ID)) }
	return documentConnection(p, count), nil
}

func (r *folderResolver) Owner(ctx context.Context, obj *storage.Folder) (*storage.User, error) {
	return optional(dataloaders.For(ctx).Users.Load(ctx, obj.OwnerID))
}

func (r *folderResolver) Company(ctx context.Context, obj *storage.Folder) (*storage.Company, error) {
	return optional(dataloaders.For(ctx).Companies.Load(ctx, obj.CompanyID))
}

func (r *folderResolver) ViewerCan(ctx context.Context, obj *storage.Folder) (*model.Permissions, error) {
	return permissions(ctx, obj, obj.CompanyID)
}

func (r *mutationResolver) CreateFolder(ctx context.Context, input model.CreateFolderInput) (*storage.Folder, error) {
	return r.Store.CreateFolder(ctx, storage.NewFolder{ParentID: input.ParentID, Name: input.Name,
		Description: deref(input.Description, ""), Restricted: deref(input.Restricted, false)})
}

func (r *mutationResolver) UpdateFolder(ctx context.Context, id string, input model.UpdateFolderInput) (*storage.Folder, error) {
	return r.Store.UpdateFolder(ctx, id, storage.FolderPatch{Name: input.Name, Description: input.Description, Restricted: input.Restricted})
}

func (r *mutationResolver) DeleteFolder(ctx context.Context, id string) (*storage.Folder, error) {
	return r.Store.DeleteFolder(ctx, id)
}

func (r *queryResolver) Folders(ctx context.Context, filter *model.FolderFilter, sort *storage.FolderSort, first *int, after *string) (*model.FolderConnection, error) {
	pg, err := storage.NewPageArgs(first, after)
	if err != nil {
		return nil, err
	}
	f := storage.FolderFilter{Roots: true}
	if filter != nil {
		f.NameContains = filter.NameContains
		if filter.ParentID != nil {
			f.ParentID, f.Roots = filter.ParentID, false
		}
	}
	p, err := r.Store.Folders(ctx, f, deref(sort, storage.FolderNameAsc), pg)
	if err != nil {
		return nil, err
	}
	return folderConnection(p), nil
}

func (r *queryResolver) Folder(ctx context.Context, id string) (*storage.Folder, error) {
	return r.Store.Folder(ctx, id)
}

// Folder returns graph.FolderResolver implementation.
func (r *Resolver) Folder() graph.FolderResolver { return &folderResolver{r} }

type folderResolver struct{ *Resolver }
