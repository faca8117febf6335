package resolvers

import (
	"context"

	"github.com/laatu/laatu/graph"
	"github.com/laatu/laatu/graph/model"
	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/auth"
	"github.com/laatu/laatu/internal/storage"
)

func (r *mutationResolver) Login(ctx context.Context, email string, password string) (*model.LoginPayload, error) {
	return loginPayload(r.Auth.Login(ctx, email, password))
}

func (r *mutationResolver) Logout(ctx context.Context) (bool, error) {
	return true, r.Auth.Logout(ctx)
}

func (r *mutationResolver) RevokeSession(ctx context.Context, id string) (bool, error) {
	return true, r.Auth.RevokeSession(ctx, id)
}

func (r *mutationResolver) ChangePassword(ctx context.Context, currentPassword string, newPassword string) (bool, error) {
	return true, r.Auth.ChangePassword(ctx, currentPassword, newPassword)
}

func (r *mutationResolver) SignUp(ctx context.Context, input model.SignUpInput) (*model.LoginPayload, error) {
	return loginPayload(r.Auth.SignUp(ctx, input.CompanyName, input.Name, input.Email, input.Password, deref(input.Language, "en")))
}

func (r *mutationResolver) InviteMember(ctx context.Context, email string, level access.Level, language *string) (bool, error) {
	return true, r.Auth.InviteMember(ctx, email, level, deref(language, "en"))
}

func (r *mutationResolver) AcceptInvitation(ctx context.Context, token string, password string, name *string) (*model.LoginPayload, error) {
	return loginPayload(r.Auth.AcceptInvitation(ctx, token, password, name))
}

func (r *mutationResolver) RequestPasswordReset(ctx context.Context, email string) (bool, error) {
	return true, r.Auth.RequestPasswordReset(ctx, email)
}

func (r *mutationResolver) ResetPassword(ctx context.Context, token string, password string) (bool, error) {
	return true, r.Auth.ResetPassword(ctx, token, password)
}

func (r *mutationResolver) DisableUser(ctx context.Context, userID string) (bool, error) {
	return true, r.Store.DisableUser(ctx, userID)
}

func (r *queryResolver) Sessions(ctx context.Context) ([]*storage.Session, error) {
	return r.Store.SessionsOf(ctx, access.FromContext(ctx).UserID)
}

func (r *sessionResolver) Current(ctx context.Context, obj *storage.Session) (bool, error) {
	return obj.ID == access.FromContext(ctx).SessionID, nil
}

// Session returns graph.SessionResolver implementation.
func (r *Resolver) Session() graph.SessionResolver { return &sessionResolver{r} }

type sessionResolver struct{ *Resolver }

func loginPayload(res *auth.LoginResult, err error) (*model.LoginPayload, error) {
	if err != nil {
		return nil, err
	}
	ms := res.Memberships
	if ms == nil {
		ms = []*storage.Membership{}
	}
	return &model.LoginPayload{Token: res.Token, ExpiresAt: res.ExpiresAt, User: res.User, Memberships: ms}, nil
}
