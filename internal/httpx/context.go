package httpx

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// RequestInfo is what the edge knows about a request before any handler runs. Audit events
// and logs read it from the context.
type RequestInfo struct {
	// ID correlates the request across logs, audit events and the client (X-Request-ID).
	ID string
	// ClientIP is the address of the client as far as trusted proxies let us see it;
	// it is the zero Addr when the peer address could not be parsed.
	ClientIP netip.Addr
	// UserAgent is the client's User-Agent header, shortened to a bounded length.
	UserAgent string
	// Start is when the edge received the request.
	Start time.Time
}

type requestInfoKey struct{}

// NewContext returns a copy of ctx carrying info.
func NewContext(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// FromContext returns the RequestInfo that NewContext stored in ctx.
func FromContext(ctx context.Context) (RequestInfo, bool) {
	info, ok := ctx.Value(requestInfoKey{}).(RequestInfo)
	return info, ok
}

// maxAnnotationLen bounds client-influenced annotation values (an operation name is chosen
// by the client) so one request cannot blow up a log line.
const maxAnnotationLen = 128

// Annotations is what the GraphQL layer learns about a request while serving it and wants
// shown on the access-log line. It is created by the edge before the handler runs, so the
// handler fills it in place and the access log reads it after the handler returns. Only
// identifiers belong here: a user id, never an email or a name.
//
// The methods are safe for concurrent use and do nothing on a nil *Annotations, so callers
// need not check whether the edge middleware is installed.
type Annotations struct {
	mu            sync.Mutex
	operationName string
	operationType string
	userID        string
}

// SetOperation records the GraphQL operation name (may be empty for anonymous operations)
// and type ("query", "mutation" or "subscription").
func (a *Annotations) SetOperation(name, typ string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.operationName = truncate(name, maxAnnotationLen)
	a.operationType = truncate(typ, maxAnnotationLen)
}

// SetUserID records the id of the authenticated user.
func (a *Annotations) SetUserID(id string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.userID = truncate(id, maxAnnotationLen)
}

// OperationName returns the recorded operation name, or "".
func (a *Annotations) OperationName() string {
	if a == nil {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.operationName
}

// OperationType returns the recorded operation type, or "".
func (a *Annotations) OperationType() string {
	if a == nil {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.operationType
}

// UserID returns the recorded user id, or "".
func (a *Annotations) UserID() string {
	if a == nil {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.userID
}

type annotationsKey struct{}

// NewAnnotationsContext returns a copy of ctx carrying a.
func NewAnnotationsContext(ctx context.Context, a *Annotations) context.Context {
	return context.WithValue(ctx, annotationsKey{}, a)
}

// AnnotationsFromContext returns the request's Annotations, or nil when there are none
// (whose methods are no-ops).
func AnnotationsFromContext(ctx context.Context) *Annotations {
	a, _ := ctx.Value(annotationsKey{}).(*Annotations)
	return a
}

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
