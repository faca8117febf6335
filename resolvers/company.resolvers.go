package resolvers

import (
	"context"

	"github.com/laatu/laatu/dataloaders"
	"github.com/laatu/laatu/graph"
	"github.com/laatu/laatu/graph/model"
	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/storage"
)

func (r *membershipResolver) Company(ctx context.Context, obj *storage.Membership) (*storage.Company, error) {
	return optional(dataloaders.For(ctx).Companies.Load(ctx, obj.CompanyID))
}

func (r *membershipResolver) User(ctx context.Context, obj *storage.Membership) (*storage.User, error) {
	return optional(dataloaders.For(ctx).Users.Load(ctx, obj.UserID))
}

func (r *mutationResolver) SetMemberLevel(ctx context.Context, userID string, level access.Level) (*storage.Membership, error) {
	return r.Store.SetLevel(ctx, userID, level)
}

func (r *mutationResolver) RemoveMember(ctx context.Context, userID string) (*bool, error) {
	if err := r.Store.RemoveMember(ctx, userID); err != nil {
		return nil, err
	}
	ok := true
	return &ok, nil
}

func (r *queryResolver) Members(ctx context.Context, first *int, after *string) (*model.MembershipConnection, error) {
	pg, err := storage.NewPageArgs(first, after)
	if err != nil {
		return nil, err
	}
	p, err := r.Store.Members(ctx, pg)
	if err != nil {
		return nil, err
	}
	edges, _, info := page(p, func(c string, n *storage.Membership) *model.MembershipEdge {
		return &model.MembershipEdge{Cursor: c, Node: n}
	})
	return &model.MembershipConnection{Edges: edges, PageInfo: info, Count: p.Total}, nil
}

// Email shows a user's address to the user and to fellow members of one of the user's
// companies; to anyone else (a guest looking at an owner, say) it is null.
func (r *userResolver) Email(ctx context.Context, obj *storage.User) (*string, error) {
	p := access.FromContext(ctx)
	if p.UserID == obj.ID {
		return &obj.Email, nil
	}
	colleague, err := dataloaders.For(ctx).Colleagues.Load(ctx, obj.ID)
	if err != nil || !colleague {
		return nil, err
	}
	return &obj.Email, nil
}

// Membership returns graph.MembershipResolver implementation.
func (r *Resolver) Membership() graph.MembershipResolver { return &membershipResolver{r} }

// User returns graph.UserResolver implementation.
func (r *Resolver) User() graph.UserResolver { return &userResolver{r} }

type membershipResolver struct{ *Resolver }
type userResolver struct{ *Resolver }
