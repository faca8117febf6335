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
	// MaxListItems caps every list in the operation's arguments and variables, nested ones
	// included, so that one argument cannot carry more work than a page holds.
	MaxListItems int
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
	if err := checkValues(oc.Variables, l.MaxListItems); err != nil {
		return err
	}
	if err := checkLiterals(oc.Operation, l.MaxListItems); err != nil {
		return err
	}
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
			// An alias multiplies work whatever it names: __typename's too.
			if s.Alias != "" && s.Alias != s.Name {
				m.aliases++
			}
			if strings.HasPrefix(s.Name, "__") {
				continue // introspection: allowed only where enabled, and bounded by the schema
			}
			if depth == 1 {
				m.once[s.Name]++
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

// checkValues refuses variable values holding a list longer than maxItems or a string with a
// NUL byte (which PostgreSQL refuses to store, and no text of Laatu's needs), before any
// resolver turns them into work or a query.
func checkValues(v any, maxItems int) *gqlerror.Error {
	switch v := v.(type) {
	case string:
		if strings.IndexByte(v, 0) >= 0 {
			return nulError()
		}
	case []any:
		if maxItems > 0 && len(v) > maxItems {
			return listError(len(v), maxItems)
		}
		for _, e := range v {
			if err := checkValues(e, maxItems); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 {
				return nulError()
			}
			if err := checkValues(e, maxItems); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkLiterals applies checkValues' rules to the values written in the operation itself
// (variables are checked as values): arguments of fields and directives, and variables'
// defaults, in the operation and every fragment it uses.
func checkLiterals(op *ast.OperationDefinition, maxItems int) *gqlerror.Error {
	var check func(v *ast.Value) *gqlerror.Error
	check = func(v *ast.Value) *gqlerror.Error {
		if v == nil {
			return nil
		}
		switch v.Kind {
		case ast.StringValue, ast.BlockValue:
			if strings.IndexByte(v.Raw, 0) >= 0 {
				return nulError()
			}
		case ast.ListValue:
			if maxItems > 0 && len(v.Children) > maxItems {
				return listError(len(v.Children), maxItems)
			}
		}
		for _, c := range v.Children {
			if err := check(c.Value); err != nil {
				return err
			}
		}
		return nil
	}
	args := func(list ast.ArgumentList) *gqlerror.Error {
		for _, a := range list {
			if err := check(a.Value); err != nil {
				return err
			}
		}
		return nil
	}
	dirs := func(list ast.DirectiveList) *gqlerror.Error {
		for _, d := range list {
			if err := args(d.Arguments); err != nil {
				return err
			}
		}
		return nil
	}
	seen := map[*ast.FragmentDefinition]bool{}
	var walk func(set ast.SelectionSet) *gqlerror.Error
	walk = func(set ast.SelectionSet) *gqlerror.Error {
		for _, sel := range set {
			var err *gqlerror.Error
			switch s := sel.(type) {
			case *ast.Field:
				if err = args(s.Arguments); err == nil {
					if err = dirs(s.Directives); err == nil {
						err = walk(s.SelectionSet)
					}
				}
			case *ast.InlineFragment:
				if err = dirs(s.Directives); err == nil {
					err = walk(s.SelectionSet)
				}
			case *ast.FragmentSpread:
				if err = dirs(s.Directives); err == nil && s.Definition != nil && !seen[s.Definition] {
					seen[s.Definition] = true
					err = walk(s.Definition.SelectionSet)
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	for _, v := range op.VariableDefinitions {
		if err := check(v.DefaultValue); err != nil {
			return err
		}
	}
	if err := dirs(op.Directives); err != nil {
		return err
	}
	return walk(op.SelectionSet)
}

func listError(n, maxItems int) *gqlerror.Error {
	return limitError("a list argument holds %d items; the limit is %d", n, maxItems)
}

func nulError() *gqlerror.Error {
	e := gqlerror.Errorf("a string argument holds a NUL byte, which no text may contain")
	e.Extensions = map[string]any{"code": string(errs.BadUserInput)}
	return e
}
