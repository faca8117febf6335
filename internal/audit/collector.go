package audit

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sort"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/laatu/laatu/internal/storage"
)

// The object types of view events: storage's names for its objects, and the audit log's own.
const (
	ObjectFolder     = storage.TypeFolder
	ObjectDocument   = storage.TypeDocument
	ObjectComment    = storage.TypeComment
	ObjectTemplate   = storage.TypeTemplate
	ObjectMembership = "MEMBERSHIP"
	// ObjectAuditLog is the object of the views of the audit log itself.
	ObjectAuditLog = "AUDIT_LOG"
)

// ErrNoCollector is returned by FieldMiddleware when an audited object is resolved in a
// context without a Collector: a wiring error, refused rather than left unrecorded.
var ErrNoCollector = errors.New("audit: no view collector in the context")

type viewKey struct{ company, typ, id string }

// Collector gathers the fields of the objects that one operation (or one subscription event)
// returned. It is safe for concurrent use, as gqlgen resolves fields in parallel.
type Collector struct {
	mu sync.Mutex
	// views holds each object's field names, each once: an object has a handful of fields,
	// which a slice holds more cheaply than a set.
	views map[viewKey][]string
}

// NewCollector returns an empty collector.
func NewCollector() *Collector { return &Collector{views: map[viewKey][]string{}} }

// Add records that the response contains fieldPath of an object. Repeated adds of the same
// object fold into one event, with each field once.
func (c *Collector) Add(companyID, objectType, objectID, fieldPath string) {
	k := viewKey{companyID, objectType, objectID}
	c.mu.Lock()
	defer c.mu.Unlock()
	fields := c.views[k]
	if slices.Contains(fields, fieldPath) {
		return
	}
	c.views[k] = append(fields, fieldPath)
}

// view is one object's folded fields.
type view struct {
	viewKey
	fields []Field
}

// take returns what was collected, in a stable order, and empties the collector: a
// subscription's collector is flushed after every event.
func (c *Collector) take() []view {
	c.mu.Lock()
	views := c.views
	c.views = map[viewKey][]string{}
	c.mu.Unlock()
	out := make([]view, 0, len(views))
	for k, fields := range views {
		out = append(out, view{k, sortedFields(fields)})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].viewKey, out[j].viewKey
		if a.company != b.company {
			return a.company < b.company
		}
		if a.typ != b.typ {
			return a.typ < b.typ
		}
		return a.id < b.id
	})
	return out
}

type collectorKey struct{}

// WithCollector returns a context carrying c, which FieldMiddleware records into.
func WithCollector(ctx context.Context, c *Collector) context.Context {
	return context.WithValue(ctx, collectorKey{}, c)
}

// CollectorFrom returns the collector in ctx, or nil.
func CollectorFrom(ctx context.Context) *Collector {
	c, _ := ctx.Value(collectorKey{}).(*Collector)
	return c
}

// FieldMiddleware records views: for every field resolved without error whose parent object
// is a folder, document, comment, document template or membership, it adds the field's name
// against that object to the Collector in the context. Only objects that were returned have
// resolved fields, so only they are recorded.
//
// The parent object is the Result of the parent field context: gqlgen sets it to the value a
// field resolved to (or, inside a list, to a pointer to the element) before it resolves that
// value's own fields. A subscription's root object has no parent field context per event, so
// subscription payloads should wrap the objects they deliver (e.g. {kind, document}).
func FieldMiddleware() graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		res, err := next(ctx)
		if err != nil {
			return res, err
		}
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || fc.Parent == nil {
			return res, nil
		}
		company, typ, id, ok := auditedObject(fc.Parent.Result)
		if !ok {
			return res, nil
		}
		c := CollectorFrom(ctx)
		if c == nil {
			return nil, ErrNoCollector
		}
		c.Add(company, typ, id, fc.Field.Name)
		return res, nil
	}
}

// auditedObject tells whether v (a field's result, possibly behind pointers or an interface)
// is an object whose views are audited, and which.
func auditedObject(v any) (company, typ, id string, ok bool) {
	switch o := v.(type) {
	case *storage.Document:
		if o != nil {
			return o.CompanyID, ObjectDocument, o.ID, true
		}
	case *storage.Folder:
		if o != nil {
			return o.CompanyID, ObjectFolder, o.ID, true
		}
	case *storage.Comment:
		if o != nil {
			return o.CompanyID, ObjectComment, o.ID, true
		}
	case *storage.DocumentTemplate:
		if o != nil {
			return o.CompanyID, ObjectTemplate, o.ID, true
		}
	case *storage.Membership:
		if o != nil {
			return o.CompanyID, ObjectMembership, o.UserID, true
		}
	case nil:
	default:
		// A list element is a pointer to the slice element: **Document, or *Node for a list
		// of an interface type.
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer && !rv.IsNil() {
			if k := rv.Elem().Kind(); k == reflect.Pointer || k == reflect.Interface {
				return auditedObject(rv.Elem().Interface())
			}
		}
	}
	return "", "", "", false
}
