package resolvers

import (
	"context"

	"github.com/laatu/laatu/dataloaders"
	"github.com/laatu/laatu/graph"
	"github.com/laatu/laatu/graph/model"
	"github.com/laatu/laatu/internal/storage"
)

func (r *commentResolver) Author(ctx context.Context, obj *storage.Comment) (*storage.User, error) {
	return optional(dataloaders.For(ctx).Users.Load(ctx, obj.AuthorID))
}

func (r *documentResolver) Folder(ctx context.Context, obj *storage.Document) (*storage.Folder, error) {
	return optional(dataloaders.For(ctx).Folders.Load(ctx, obj.FolderID))
}

func (r *documentResolver) Template(ctx context.Context, obj *storage.Document) (*storage.DocumentTemplate, error) {
	return optional(dataloaders.For(ctx).Templates.Load(ctx, obj.TemplateID))
}

func (r *documentResolver) Owner(ctx context.Context, obj *storage.Document) (*storage.User, error) {
	return optional(dataloaders.For(ctx).Users.Load(ctx, obj.OwnerID))
}

func (r *documentResolver) Company(ctx context.Context, obj *storage.Document) (*storage.Company, error) {
	return optional(dataloaders.For(ctx).Companies.Load(ctx, obj.CompanyID))
}

func (r *documentResolver) Comments(ctx context.Context, obj *storage.Document, first *int, after *string) (*model.CommentConnection, error) {
	pg, err := storage.NewPageArgs(first, after)
	if err != nil {
		return nil, err
	}
	l := dataloaders.For(ctx)
	key := dataloaders.DocumentListArgs{Page: pg}.Key(obj.ID)
	p, err := l.DocumentComments.Load(ctx, key)
	if err != nil {
		return nil, err
	}
	edges, nodes, info := page(p, func(c string, n *storage.Comment) *model.CommentEdge { return &model.CommentEdge{Cursor: c, Node: n} })
	count := func() (int, error) { return l.DocumentCommentCounts.Load(ctx, obj.ID) }
	return &model.CommentConnection{Edges: edges, Nodes: nodes, PageInfo: info, Count: count}, nil
}

func (r *documentResolver) ViewerCan(ctx context.Context, obj *storage.Document) (*model.Permissions, error) {
	return permissions(ctx, obj, obj.CompanyID)
}

func (r *mutationResolver) CreateDocument(ctx context.Context, input model.CreateDocumentInput) (*storage.Document, error) {
	return r.Store.CreateDocument(ctx, storage.NewDocument{FolderID: input.FolderID, TemplateID: input.TemplateID,
		Title: input.Title, Values: input.Values})
}

func (r *mutationResolver) UpdateDocument(ctx context.Context, id string, input model.UpdateDocumentInput) (*storage.Document, error) {
	return r.Store.UpdateDocument(ctx, id, storage.DocumentPatch{ExpectedVersion: input.ExpectedVersion,
		Title: input.Title, Values: input.Values, Status: input.Status})
}

func (r *mutationResolver) DeleteDocument(ctx context.Context, id string) (*storage.Document, error) {
	return r.Store.DeleteDocument(ctx, id)
}

func (r *mutationResolver) AddComment(ctx context.Context, documentID string, body string) (*storage.Comment, error) {
	return r.Store.AddComment(ctx, documentID, body)
}

func (r *mutationResolver) CreateTemplate(ctx context.Context, input model.CreateTemplateInput) (*storage.DocumentTemplate, error) {
	fields := make([]storage.FieldDef, len(input.Fields))
	for i, f := range input.Fields {
		fields[i] = storage.FieldDef{Key: f.Key, Label: f.Label, Type: f.Type, Required: deref(f.Required, false),
			Options: f.Options, Personal: deref(f.Personal, false)}
	}
	return r.Store.CreateTemplate(ctx, storage.NewTemplate{Name: input.Name, Description: deref(input.Description, ""), Fields: fields})
}

func (r *queryResolver) Documents(ctx context.Context, filter *model.DocumentFilter, sort *storage.DocumentSort, first *int, after *string) (*model.DocumentConnection, error) {
	pg, err := storage.NewPageArgs(first, after)
	if err != nil {
		return nil, err
	}
	p, err := r.Store.Documents(ctx, documentFilter(filter), deref(sort, storage.DocumentUpdatedAtDesc), pg)
	if err != nil {
		return nil, err
	}
	return documentConnection(p, p.Total), nil
}

func (r *queryResolver) Document(ctx context.Context, id string) (*storage.Document, error) {
	return r.Store.Document(ctx, id)
}

func (r *queryResolver) Templates(ctx context.Context, first *int, after *string) (*model.DocumentTemplateConnection, error) {
	pg, err := storage.NewPageArgs(first, after)
	if err != nil {
		return nil, err
	}
	p, err := r.Store.Templates(ctx, pg)
	if err != nil {
		return nil, err
	}
	edges, nodes, info := page(p, func(c string, n *storage.DocumentTemplate) *model.DocumentTemplateEdge {
		return &model.DocumentTemplateEdge{Cursor: c, Node: n}
	})
	return &model.DocumentTemplateConnection{Edges: edges, Nodes: nodes, PageInfo: info, Count: p.Total}, nil
}

// Comment returns graph.CommentResolver implementation.
func (r *Resolver) Comment() graph.CommentResolver { return &commentResolver{r} }

// Document returns graph.DocumentResolver implementation.
func (r *Resolver) Document() graph.DocumentResolver { return &documentResolver{r} }

type commentResolver struct{ *Resolver }
type documentResolver struct{ *Resolver }
