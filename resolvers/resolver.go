// Package resolvers implements the GraphQL schema. Resolvers translate, they do not decide:
// root fields call storage, child fields call a request-scoped dataloader, and every rule of
// access lives in internal/access and internal/storage.
package resolvers

import (
	"context"

	"github.com/laatu/laatu/dataloaders"
	"github.com/laatu/laatu/graph/model"
	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/auth"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/storage"
)

// Resolver holds what the resolvers need; it is built once in main.
type Resolver struct {
	Store *storage.Store
	Auth  *auth.Service
	Audit *audit.Auditor
}

// page turns storage's page into a connection's edges, nodes and page info.
func page[T any, E any](p *storage.Page[T], edge func(cursor string, node T) E) ([]E, []T, *model.PageInfo) {
	edges := make([]E, len(p.Items))
	for i, it := range p.Items {
		edges[i] = edge(p.Cursors[i], it)
	}
	info := &model.PageInfo{HasNextPage: p.HasNext, HasPreviousPage: p.HasPrev}
	if n := len(p.Cursors); n > 0 {
		info.StartCursor, info.EndCursor = &p.Cursors[0], &p.Cursors[n-1]
	}
	nodes := p.Items
	if nodes == nil {
		nodes = []T{}
	}
	return edges, nodes, info
}

func documentConnection(p *storage.Page[*storage.Document], count model.Counter) *model.DocumentConnection {
	edges, nodes, info := page(p, func(c string, n *storage.Document) *model.DocumentEdge {
		return &model.DocumentEdge{Cursor: c, Node: n}
	})
	return &model.DocumentConnection{Edges: edges, Nodes: nodes, PageInfo: info, Count: count}
}

func folderConnection(p *storage.Page[*storage.Folder]) *model.FolderConnection {
	edges, nodes, info := page(p, func(c string, n *storage.Folder) *model.FolderEdge { return &model.FolderEdge{Cursor: c, Node: n} })
	return &model.FolderConnection{Edges: edges, Nodes: nodes, PageInfo: info, Count: p.Total}
}

func documentFilter(f *model.DocumentFilter) storage.DocumentFilter {
	if f == nil {
		return storage.DocumentFilter{}
	}
	return storage.DocumentFilter{FolderID: f.FolderID, IncludeSubfolders: f.IncludeSubfolders != nil && *f.IncludeSubfolders,
		Statuses: f.Status, TemplateID: f.TemplateID, UpdatedFrom: f.UpdatedAfter, UpdatedTo: f.UpdatedBefore, TitleContains: f.TitleContains}
}

// optional returns nil for a reference the caller may not see: the field is then null.
func optional[T any](v *T, err error) (*T, error) {
	if dataloaders.Missing(err) {
		return nil, nil
	}
	return v, err
}

// permissions answers viewerCan from the same access.Can that guards the mutations.
func permissions(ctx context.Context, o storage.Object, companyID string) (*model.Permissions, error) {
	r, err := dataloaders.For(ctx).Rights.Load(ctx, o)
	if err != nil {
		return nil, err
	}
	p := access.FromContext(ctx)
	share := access.CanShare(p, companyID, r, access.View)
	return &model.Permissions{
		View: r.AtLeast(access.View), Edit: r.AtLeast(access.Edit), Manage: r.AtLeast(access.Manage),
		Share: share, Delete: r.AtLeast(access.Manage),
	}, nil
}

// documentPermissions is permissions for a document, with sign answered by access.MaySign, the
// rule signDocument applies.
func documentPermissions(ctx context.Context, d *storage.Document) (*model.Permissions, error) {
	out, err := permissions(ctx, d, d.CompanyID)
	if err != nil || !out.View {
		return out, err
	}
	l := dataloaders.For(ctx)
	signers, err := l.DocumentSigners.Load(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	sigs, err := l.DocumentSignatures.Load(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	r, err := l.Rights.Load(ctx, d)
	if err != nil {
		return nil, err
	}
	out.Sign = access.MaySign(storage.SignFactsOf(access.FromContext(ctx).UserID, d, r, signers, sigs))
	return out, nil
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// notFound is the one answer for anything the caller may not see.
func notFound(what string) error { return errs.NotFoundf(what) }

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

// documentVersion reads the fields a client may see out of a saved state.
func documentVersion(v *storage.ObjectVersion) *model.DocumentVersion {
	out := &model.DocumentVersion{Version: v.Version, ActorID: v.ActorID, ReplacedAt: v.CreatedAt}
	if t, ok := v.Data["Title"].(string); ok {
		out.Title = &t
	}
	if st, ok := v.Data["Status"].(string); ok {
		s := storage.Status(st)
		out.Status = &s
	}
	return out
}

// folderVersion reads the fields a client may see out of a saved state.
func folderVersion(v *storage.ObjectVersion) *model.FolderVersion {
	out := &model.FolderVersion{Version: v.Version, ActorID: v.ActorID, ReplacedAt: v.CreatedAt}
	if s, ok := v.Data["Name"].(string); ok {
		out.Name = &s
	}
	if s, ok := v.Data["Description"].(string); ok {
		out.Description = &s
	}
	if b, ok := v.Data["Restricted"].(bool); ok {
		out.Restricted = &b
	}
	return out
}

func auditConnection(p *storage.Page[*audit.Event]) *model.AuditEventConnection {
	edges, nodes, info := page(p, func(c string, n *audit.Event) *model.AuditEventEdge { return &model.AuditEventEdge{Cursor: c, Node: n} })
	return &model.AuditEventConnection{Edges: edges, Nodes: nodes, PageInfo: info, Count: p.Total}
}

// done answers a nullable Boolean mutation: true, or null with the error.
func done(err error) (*bool, error) {
	if err != nil {
		return nil, err
	}
	ok := true
	return &ok, nil
}

// visibleUser returns a user that the caller may look up by id: itself, or a fellow member of
// the active company. Anyone else is NOT_FOUND, like an id that exists nowhere.
func (r *Resolver) visibleUser(ctx context.Context, id string) (model.Node, bool, error) {
	l := dataloaders.For(ctx)
	if id != access.FromContext(ctx).UserID {
		colleague, err := l.Colleagues.Load(ctx, id)
		if err != nil || !colleague {
			return nil, false, nil
		}
	}
	u, err := l.Users.Load(ctx, id)
	if dataloaders.Missing(err) {
		return nil, false, nil
	}
	return u, err == nil, err
}
