package api

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/storage"
)

// Limits refuses operations that are too deep, too costly, or multiply work through aliases,
// before any resolver runs. Cost counts one per field, and a connection field (one with a
// `first` argument, or whose type is a *Connection) multiplies the cost of what it selects by
// its page size, so that a nested list of lists costs what it would really fetch.
type Limits struct {
	MaxDepth      int
	MaxComplexity int
	MaxAliases    int
	// OnceFields may appear at most once per operation (login: aliases must not multiply
	// password attempts).
	OnceFields []string
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Limits{}

// ExtensionName names the extension for gqlgen.
func (Limits) ExtensionName() string { return "Limits" }

// Validate accepts any schema.
func (Limits) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext measures the operation and refuses it when over a limit.
func (l Limits) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := measure{vars: oc.Variables, once: map[string]int{}}
	cost := m.selections(oc.Operation.SelectionSet, 1)
	for _, name := range l.OnceFields {
		if m.once[name] > 1 {
			return limitError("%s may appear only once per request", name)
		}
	}
	switch {
	case m.maxDepth > l.MaxDepth:
		return limitError("the query is %d levels deep; the limit is %d", m.maxDepth, l.MaxDepth)
	case m.aliases > l.MaxAliases:
		return limitError("the query has %d aliases; the limit is %d", m.aliases, l.MaxAliases)
	case cost > l.MaxComplexity:
		return limitError("the query would cost %d; the limit is %d (a connection costs what it selects times its page size)", cost, l.MaxComplexity)
	}
	oc.Stats.SetExtension("complexity", cost)
	return nil
}

func limitError(format string, args ...any) *gqlerror.Error {
	e := gqlerror.Errorf(format, args...)
	e.Extensions = map[string]any{"code": string(errs.BadUserInput), "reason": "QUERY_LIMIT"}
	return e
}

type measure struct {
	vars     map[string]any
	maxDepth int
	aliases  int
	once     map[string]int
}

// selections returns the cost of a selection set at the given depth.
func (m *measure) selections(set ast.SelectionSet, depth int) int {
	cost := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue // introspection: allowed only where enabled, and bounded by the schema
			}
			if depth == 1 {
				m.once[s.Name]++
			}
			if s.Alias != "" && s.Alias != s.Name {
				m.aliases++
			}
			if depth > m.maxDepth {
				m.maxDepth = depth
			}
			cost += 1 + m.selections(s.SelectionSet, depth+1)*m.multiplier(s)
		case *ast.InlineFragment:
			cost += m.selections(s.SelectionSet, depth)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				cost += m.selections(s.Definition.SelectionSet, depth)
			}
		}
	}
	return cost
}

// multiplier is the page size of a connection field, 1 for any other field.
func (m *measure) multiplier(f *ast.Field) int {
	isConn := f.Definition != nil && strings.HasSuffix(f.Definition.Type.Name(), "Connection")
	for _, a := range f.Arguments {
		if a.Name != "first" {
			continue
		}
		if v, err := a.Value.Value(m.vars); err == nil {
			if n, ok := v.(int64); ok && n >= 0 {
				return max(int(n), 1)
			}
		}
		return storage.MaxPageSize
	}
	if isConn {
		return storage.DefaultPageSize
	}
	return 1
}
