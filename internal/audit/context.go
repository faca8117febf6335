package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/httpx"
)

// Operation describes the GraphQL operation an event happened in, as the server parsed it.
type Operation struct {
	// Type is "query", "mutation" or "subscription".
	Type string
	// Name is the operation name the client chose, possibly empty.
	Name string
	// Hash is the lowercase hex SHA-256 of the document text.
	Hash string
	// RootFields are the names of the root fields selected, in order, without duplicates.
	RootFields []string
}

// KindUser is the principal kind of a logged-in user in events outside any company
// (NoCompany), where it is neither a member nor a guest.
const KindUser = "USER"

type operationKey struct{}

// WithOperation returns a context carrying op, for the events recorded under it.
func WithOperation(ctx context.Context, op Operation) context.Context {
	return context.WithValue(ctx, operationKey{}, op)
}

// OperationFrom returns the operation in ctx, or the zero Operation outside of one (CLI,
// background jobs).
func OperationFrom(ctx context.Context) Operation {
	op, _ := ctx.Value(operationKey{}).(Operation)
	return op
}

// OperationOf describes a parsed gqlgen operation: its type, name, the hash of its document
// text, and its root fields (fragments and @skip/@include resolved as gqlgen does).
func OperationOf(oc *graphql.OperationContext) Operation {
	if oc == nil || oc.Operation == nil {
		return Operation{}
	}
	sum := sha256.Sum256([]byte(oc.RawQuery))
	op := Operation{Type: string(oc.Operation.Operation), Name: oc.OperationName, Hash: hex.EncodeToString(sum[:])}
	if op.Name == "" {
		op.Name = oc.Operation.Name
	}
	root := map[string]string{"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}[op.Type]
	seen := map[string]bool{}
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{root}) {
		if !seen[f.Name] {
			seen[f.Name] = true
			op.RootFields = append(op.RootFields, f.Name)
		}
	}
	return op
}

// fillFromContext sets who, from where and in which operation, for the fields the caller
// left empty. The company must be set: the principal's kind and level are those in it.
func fillFromContext(ctx context.Context, e *Event) {
	p := access.FromContext(ctx)
	company := strings.ToLower(e.CompanyID) // as prepare will store it
	if e.ActorID == nil && p.Authenticated() {
		id := p.UserID
		e.ActorID = &id
	}
	if e.PrincipalKind == "" {
		e.PrincipalKind = string(p.KindIn(company))
		if company == NoCompany && p.Authenticated() {
			// Outside any company a user is neither member nor guest.
			e.PrincipalKind = KindUser
		}
	}
	if e.PrincipalLevel == "" {
		e.PrincipalLevel = string(p.LevelIn(company))
	}
	if e.SessionID == "" && p != nil {
		e.SessionID = p.SessionID
	}
	if info, ok := httpx.FromContext(ctx); ok {
		if e.RequestID == "" {
			e.RequestID = info.ID
		}
		if e.ClientIP == "" && info.ClientIP != (netip.Addr{}) {
			e.ClientIP = info.ClientIP.String()
		}
		if e.UserAgent == "" {
			e.UserAgent = info.UserAgent
		}
	}
	if op := OperationFrom(ctx); e.OperationType == "" && op.Type != "" {
		e.OperationType, e.OperationName, e.OperationHash = op.Type, op.Name, op.Hash
		e.RootFields = append([]string(nil), op.RootFields...)
	}
}
