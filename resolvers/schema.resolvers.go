package resolvers

import (
	"context"

	"github.com/laatu/laatu/dataloaders"
	"github.com/laatu/laatu/graph"
	"github.com/laatu/laatu/graph/model"
	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/storage"
)

func (r *mutationResolver) Ping(ctx context.Context) (bool, error) {
	return true, nil
}

func (r *queryResolver) Node(ctx context.Context, id string) (model.Node, error) {
	l := dataloaders.For(ctx)
	if d, err := l.Documents.Load(ctx, id); err == nil {
		return d, nil
	} else if !dataloaders.Missing(err) {
		return nil, err
	}
	if f, err := l.Folders.Load(ctx, id); err == nil {
		return f, nil
	} else if !dataloaders.Missing(err) {
		return nil, err
	}
	if t, err := l.Templates.Load(ctx, id); err == nil {
		return t, nil
	} else if !dataloaders.Missing(err) {
		return nil, err
	}
	return nil, notFound("node")
}

func (r *queryResolver) Viewer(ctx context.Context) (*model.Viewer, error) {
	p := access.FromContext(ctx)
	l := dataloaders.For(ctx)
	u, err := l.Users.Load(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	v := &model.Viewer{User: u}
	if p.CompanyID != "" {
		if v.ActiveCompany, err = optional(l.Companies.Load(ctx, p.CompanyID)); err != nil {
			return nil, err
		}
		level := p.Level
		v.Level = &level
	}
	if v.Memberships, err = r.Store.MembershipsOf(ctx, p.UserID); err != nil {
		return nil, err
	}
	if v.Memberships == nil {
		v.Memberships = []*storage.Membership{}
	}
	return v, nil
}

// Mutation returns graph.MutationResolver implementation.
func (r *Resolver) Mutation() graph.MutationResolver { return &mutationResolver{r} }

// Query returns graph.QueryResolver implementation.
func (r *Resolver) Query() graph.QueryResolver { return &queryResolver{r} }

type mutationResolver struct{ *Resolver }
type queryResolver struct{ *Resolver }
