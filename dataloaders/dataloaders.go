// Package dataloaders batches the reads of one request: each loader collects the keys asked for
// by parallel resolvers within an adaptive window (batch.go) and fetches them with one storage
// call. Loaders are
// made fresh for every operation (and every subscription event), so that nothing cached
// outlives the request or leaks between callers; results follow keys, not database order
// (mapped loaders).
package dataloaders

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/99designs/gqlgen/graphql"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/storage"
)

// Loaders are the request-scoped loaders.
type Loaders struct {
	Users     *Loader[string, *storage.User]
	Companies *Loader[string, *storage.Company]
	Folders   *Loader[string, *storage.Folder]
	Documents *Loader[string, *storage.Document]
	Templates *Loader[string, *storage.DocumentTemplate]
	Comments  *Loader[string, *storage.Comment]
	// FolderDocuments pages the documents of many folders at once, for Folder.documents.
	FolderDocuments      *Loader[ListKey, *storage.Page[*storage.Document]]
	FolderDocumentCounts *Loader[ListKey, int]
	// FolderChildren pages the subfolders of many folders at once, for Folder.children.
	FolderChildren      *Loader[ListKey, *storage.Page[*storage.Folder]]
	FolderChildrenCount *Loader[string, int]
	// DocumentComments pages the comments of many documents at once, for Document.comments.
	DocumentComments      *Loader[ListKey, *storage.Page[*storage.Comment]]
	DocumentCommentCounts *Loader[string, int]
	// Colleagues tells which users are members of the caller's active company (for User.email).
	Colleagues *Loader[string, bool]
	// Rights computes access.Can for many folders and documents at once, for viewerCan.
	Rights *Loader[storage.Object, access.Right]
	// DocumentSigners and DocumentSignatures list the signers and signatures of many documents.
	DocumentSigners    *Loader[string, []*storage.Signer]
	DocumentSignatures *Loader[string, []*storage.Signature]

	activity *Activity
}

// Active is the field middleware that tells the request's loaders it is making progress, so
// that their batches wait for the resolvers still on their way (see gap).
func Active(ctx context.Context, next graphql.Resolver) (any, error) {
	l, _ := ctx.Value(ctxKey{}).(*Loaders)
	if l != nil {
		l.activity.mark()
	}
	res, err := next(ctx)
	if l != nil {
		l.activity.mark()
	}
	return res, err
}

// ListKey asks for one page of a child list of one parent. Args is the canonical JSON of the
// list's arguments (filter, sort, page), so that keys with the same arguments batch together.
type ListKey struct {
	// CompanyID is the parent's company, so that each page is read from its company's index.
	CompanyID string
	ParentID  string
	Args      string
}

// DocumentListArgs are the arguments of a child list: Folder.documents, Folder.children,
// Document.comments (each uses the fields that apply to it).
type DocumentListArgs struct {
	Filter     storage.DocumentFilter
	Sort       storage.DocumentSort
	FolderSort storage.FolderSort
	Page       storage.PageArgs
}

// Key returns the loader key for a parent, of companyID, with these arguments.
func (a DocumentListArgs) Key(companyID, parentID string) ListKey {
	b, _ := json.Marshal(a)
	return ListKey{CompanyID: companyID, ParentID: parentID, Args: string(b)}
}

// New returns fresh loaders reading through store.
func New(store *storage.Store) *Loaders {
	act := new(Activity)
	act.mark()
	return &Loaders{
		activity:  act,
		Users:     NewLoader(act, store.UsersByID),
		Companies: NewLoader(act, store.CompaniesByID),
		Folders:   NewLoader(act, store.FoldersByID),
		Documents: NewLoader(act, store.DocumentsByID),
		Templates: NewLoader(act, store.TemplatesByID),
		Comments:  NewLoader(act, store.CommentsByID),
		FolderDocuments: NewLoader(act, func(ctx context.Context, keys []ListKey) (map[ListKey]*storage.Page[*storage.Document], error) {
			return byArgs(ctx, keys, func(ctx context.Context, folders []storage.Parent, a DocumentListArgs) (map[string]*storage.Page[*storage.Document], error) {
				return store.DocumentsByFolder(ctx, folders, a.Filter, a.Sort, a.Page)
			})
		}),
		FolderDocumentCounts: NewLoader(act, func(ctx context.Context, keys []ListKey) (map[ListKey]int, error) {
			return byArgs(ctx, keys, func(ctx context.Context, folders []storage.Parent, a DocumentListArgs) (map[string]int, error) {
				return store.CountDocumentsByFolder(ctx, parentIDs(folders), a.Filter)
			})
		}),
		FolderChildren: NewLoader(act, func(ctx context.Context, keys []ListKey) (map[ListKey]*storage.Page[*storage.Folder], error) {
			return byArgs(ctx, keys, func(ctx context.Context, parents []storage.Parent, a DocumentListArgs) (map[string]*storage.Page[*storage.Folder], error) {
				return store.FoldersByParent(ctx, parents, a.FolderSort, a.Page)
			})
		}),
		FolderChildrenCount: NewLoader(act, store.CountFoldersByParent),
		DocumentComments: NewLoader(act, func(ctx context.Context, keys []ListKey) (map[ListKey]*storage.Page[*storage.Comment], error) {
			return byArgs(ctx, keys, func(ctx context.Context, docs []storage.Parent, a DocumentListArgs) (map[string]*storage.Page[*storage.Comment], error) {
				return store.CommentsByDocument(ctx, docs, a.Page)
			})
		}),
		DocumentCommentCounts: NewLoader(act, store.CountCommentsByDocument),
		Colleagues:            NewLoader(act, store.MembersAmong),
		DocumentSigners:       NewLoader(act, store.SignersByDocument),
		DocumentSignatures:    NewLoader(act, store.SignaturesByDocument),
		Rights: NewLoader(act, func(ctx context.Context, objs []storage.Object) (map[storage.Object]access.Right, error) {
			rights, err := store.Rights(ctx, objs)
			if err != nil {
				return nil, err
			}
			out := make(map[storage.Object]access.Right, len(objs))
			for i, o := range objs {
				out[o] = rights[i]
			}
			return out, nil
		}),
	}
}

// byArgs groups list keys by their arguments and fetches each group with one call.
func byArgs[V any](ctx context.Context, keys []ListKey, fetch func(context.Context, []storage.Parent, DocumentListArgs) (map[string]V, error)) (map[ListKey]V, error) {
	groups := map[string][]storage.Parent{}
	for _, k := range keys {
		groups[k.Args] = append(groups[k.Args], storage.Parent{CompanyID: k.CompanyID, ID: k.ParentID})
	}
	out := make(map[ListKey]V, len(keys))
	for args, parents := range groups {
		var a DocumentListArgs
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			return nil, err
		}
		got, err := fetch(ctx, parents, a)
		if err != nil {
			return nil, err
		}
		for _, p := range parents {
			if v, ok := got[p.ID]; ok {
				out[ListKey{CompanyID: p.CompanyID, ParentID: p.ID, Args: args}] = v
			}
		}
	}
	return out, nil
}

func parentIDs(ps []storage.Parent) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

type ctxKey struct{}

// NewContext returns a context carrying loaders.
func NewContext(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// For returns the request's loaders. It panics when there are none: the GraphQL handler always
// installs them, so their absence is a wiring bug, caught by every test.
func For(ctx context.Context) *Loaders {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	if !ok {
		panic("dataloaders: no loaders in context")
	}
	return l
}

// Missing reports whether err means "no such object, or not visible to the caller".
func Missing(err error) bool { return errors.Is(err, ErrNotFound) }
