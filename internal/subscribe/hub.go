package subscribe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/rs/zerolog"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"golang.org/x/sync/singleflight"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/auth"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/pubsub"
	"github.com/laatu/laatu/internal/storage"
)

// Options are the limits and timers of the subscription transports. Zero values take the
// defaults of DefaultOptions.
type Options struct {
	// AllowedOrigins are the origins ("https://app.example.com") besides the server's own
	// whose pages may open WebSockets; the same list as the cross-origin protection of HTTP.
	AllowedOrigins []string
	// InitTimeout is how long a WebSocket may stay open without connection_init (4408).
	InitTimeout time.Duration
	// PingInterval is how often the server pings WebSocket clients; a client that has not
	// answered within twice the interval is taken for dead and disconnected.
	PingInterval time.Duration
	// KeepAlive is how often an idle SSE stream gets a comment line, so that proxies keep it.
	KeepAlive time.Duration
	// WriteTimeout bounds every write to a client; a client that does not read is
	// disconnected instead of holding memory.
	WriteTimeout time.Duration
	// MaxMessageBytes caps the size of one WebSocket message from a client.
	MaxMessageBytes int64
	// MessageRate and MessageBurst cap the messages one WebSocket may send: MessageRate a
	// second on average, MessageBurst at once; past them the socket closes with 4429.
	MessageRate  float64
	MessageBurst int
	// MaxSubscriptionsPerConn caps the operations running at once on one WebSocket.
	MaxSubscriptionsPerConn int
	// MaxConnsPerUser caps the live WebSocket and SSE connections of one user on this
	// instance.
	MaxConnsPerUser int
	// RecheckInterval is how often a stream checks the session and its object again when no
	// event has made it do so.
	RecheckInterval time.Duration
	// Buffer is the number of events a stream may fall behind before it is ended as a slow
	// consumer.
	Buffer int
	// ShutdownGrace bounds how long Shutdown waits for the completes of a connection's
	// subscriptions to be written before it sends the close frame.
	ShutdownGrace time.Duration
}

// DefaultOptions are the production limits.
func DefaultOptions() Options {
	return Options{
		InitTimeout:             10 * time.Second,
		PingInterval:            25 * time.Second,
		KeepAlive:               25 * time.Second,
		WriteTimeout:            10 * time.Second,
		MaxMessageBytes:         64 << 10,
		MessageRate:             100,
		MessageBurst:            200,
		MaxSubscriptionsPerConn: 100,
		MaxConnsPerUser:         50,
		RecheckInterval:         30 * time.Second,
		Buffer:                  16,
		ShutdownGrace:           5 * time.Second,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&o.InitTimeout, d.InitTimeout)
	set(&o.PingInterval, d.PingInterval)
	set(&o.KeepAlive, d.KeepAlive)
	set(&o.WriteTimeout, d.WriteTimeout)
	set(&o.RecheckInterval, d.RecheckInterval)
	set(&o.ShutdownGrace, d.ShutdownGrace)
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = d.MaxMessageBytes
	}
	if o.MessageRate <= 0 {
		o.MessageRate = d.MessageRate
	}
	if o.MessageBurst <= 0 {
		o.MessageBurst = d.MessageBurst
	}
	if o.MaxSubscriptionsPerConn <= 0 {
		o.MaxSubscriptionsPerConn = d.MaxSubscriptionsPerConn
	}
	if o.MaxConnsPerUser <= 0 {
		o.MaxConnsPerUser = d.MaxConnsPerUser
	}
	if o.Buffer <= 0 {
		o.Buffer = d.Buffer
	}
	return o
}

// Hub serves the subscriptions of one server instance: it tracks their connections and
// streams, and is what the resolvers reach through the request context.
type Hub struct {
	store   *storage.Store
	auth    *auth.Authenticator
	broker  *pubsub.Broker
	log     zerolog.Logger
	opts    Options
	origins map[string]bool
	// checks shares one session check among the streams of one session that handle the
	// same event; loads shares one read among the streams of one view (see load).
	checks, loads singleflight.Group

	mu      sync.Mutex
	closing bool
	conns   map[*conn]struct{}
	perUser map[string]int
	streams map[*graphql.OperationContext]*stream
	// served counts the connections whose handlers still run.
	served sync.WaitGroup

	// recheck is closed every RecheckInterval, and replaced, while there are streams: they
	// check again together, as if an event had come (recheckSeq numbers it), so that streams
	// alike share the session check and the loads of a recheck as they share an event's.
	// A timer of each stream's own would make as many checks and loads as there are streams.
	recheck    chan struct{}
	recheckSeq uint64
	recheckOn  bool
}

// recheckBit marks the dispatch numbers of rechecks, apart from the broker's.
const recheckBit = 1 << 63

// rechecks returns the channel that the next recheck closes, and that recheck's number.
func (h *Hub) rechecks() (<-chan struct{}, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.recheck == nil {
		h.recheck = make(chan struct{})
	}
	if !h.recheckOn {
		h.recheckOn = true
		time.AfterFunc(h.opts.RecheckInterval, h.tickRecheck)
	}
	return h.recheck, recheckBit | (h.recheckSeq + 1)
}

// tickRecheck starts a recheck, and schedules the next one while streams remain.
func (h *Hub) tickRecheck() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.recheck)
	h.recheck = make(chan struct{})
	h.recheckSeq++
	if len(h.streams) == 0 {
		h.recheckOn = false
		return
	}
	time.AfterFunc(h.opts.RecheckInterval, h.tickRecheck)
}

// New returns a Hub that follows the events of broker and checks sessions with authn.
func New(store *storage.Store, authn *auth.Authenticator, broker *pubsub.Broker, log zerolog.Logger, opts Options) (*Hub, error) {
	h := &Hub{
		store: store, auth: authn, broker: broker, opts: opts.withDefaults(),
		log:     log.With().Str("component", "subscribe").Logger(),
		origins: map[string]bool{},
		conns:   map[*conn]struct{}{},
		perUser: map[string]int{},
		streams: map[*graphql.OperationContext]*stream{},
	}
	for _, o := range opts.AllowedOrigins {
		u, err := url.Parse(strings.TrimSuffix(o, "/"))
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			return nil, fmt.Errorf("subscribe: allowed origin %q is not scheme://host[:port]", o)
		}
		h.origins[strings.ToLower(u.Scheme+"://"+u.Host)] = true
	}
	return h, nil
}

// errShutdown ends streams when the server stops: they complete without an error.
var errShutdown = errors.New("subscribe: server shutting down")

// Handler wraps the GraphQL endpoint. It lets WebSocket upgrades and SSE requests through as
// tracked connections: it refuses WebSocket handshakes from foreign origins (cross-site
// WebSocket hijacking) and new streams once Shutdown has begun. Other requests pass untouched.
func (h *Hub) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sse := isSSE(r)
		if !sse && !isWebSocket(r) {
			next.ServeHTTP(w, r)
			return
		}
		if !sse && !h.originAllowed(r) {
			h.log.Info().Str("origin", r.Header.Get("Origin")).Msg("refused WebSocket from a foreign origin")
			httpx.WriteJSONError(w, http.StatusForbidden, errs.Forbidden, "WebSocket connections from this origin are not allowed")
			return
		}
		ctx := r.Context()
		if !sse {
			// A WebSocket outlives its handler (see wsTransport.Do).
			ctx = context.WithoutCancel(ctx)
		}
		ctx, cancel := context.WithCancelCause(ctx)
		c := &conn{hub: h, sse: sse, ctx: ctx, cancel: cancel, detachable: !sse, streams: map[*stream]struct{}{},
			token: auth.BearerToken(r.Header.Get("Authorization")), company: r.Header.Get("X-Company-ID")}
		if !h.open(c) {
			cancel(nil)
			w.Header().Set("Retry-After", "1")
			httpx.WriteJSONError(w, http.StatusServiceUnavailable, errs.Unavailable, "the server is shutting down; connect again")
			return
		}
		defer func() {
			// An accepted WebSocket is released by its reader when it ends.
			if !c.detached {
				c.finish()
			}
		}()
		if sse {
			sw := newSSEWriter(w, h.opts.WriteTimeout, func(err error) { cancel(err) })
			defer sw.reset()
			w = sw
		}
		next.ServeHTTP(w, r.WithContext(withConn(ctx, c)))
	})
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// isSSE matches the requests that gqlgen's SSE transport serves.
func isSSE(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// originAllowed tells whether a WebSocket handshake may proceed: from a page of the server's
// own host, of an allowed origin, or from a client that is not a browser (no Origin header:
// only browsers can be abused into opening a socket with the user's credentials).
func (h *Hub) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host) || h.origins[strings.ToLower(u.Scheme+"://"+u.Host)]
}

// originPatterns are the allowed origins as coder/websocket's patterns, escaped, so that the
// WebSocket library applies the same rule again.
func (h *Hub) originPatterns() []string {
	var out []string
	for o := range h.origins {
		out = append(out, strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`).Replace(o))
	}
	return out
}

func (h *Hub) open(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	h.conns[c] = struct{}{}
	h.served.Add(1)
	return true
}

// finish ends the connection's context and releases it.
func (c *conn) finish() {
	c.cancel(nil)
	c.hub.release(c)
}

func (h *Hub) release(c *conn) {
	h.mu.Lock()
	delete(h.conns, c)
	if c.userID != "" {
		if h.perUser[c.userID]--; h.perUser[c.userID] <= 0 {
			delete(h.perUser, c.userID)
		}
	}
	h.mu.Unlock()
	h.served.Done()
}

// admit counts c against its user's connection cap, once.
func (h *Hub) admit(c *conn, userID string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.userID != "" {
		return nil
	}
	if h.perUser[userID] >= h.opts.MaxConnsPerUser {
		return errs.New(errs.RateLimited, "too many live connections for this user (at most %d per server); close some first", h.opts.MaxConnsPerUser)
	}
	h.perUser[userID]++
	c.userID = userID
	return nil
}

// Shutdown ends every subscription (each completes), closes every WebSocket with a close
// frame (1001, going away) and waits for the connections' handlers to return, or for ctx to
// end. New streams are refused from the start. Call it before http.Server.Shutdown, which
// neither closes WebSockets nor ends SSE responses.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()

	for _, c := range conns {
		go c.shutdown(ctx, h.opts.ShutdownGrace)
	}
	done := make(chan struct{})
	go func() {
		h.served.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.kill()
		}
		return fmt.Errorf("subscribe: shutdown: %w", ctx.Err())
	}
}

// Connections returns the number of live WebSocket and SSE connections.
func (h *Hub) Connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Streams returns the number of running subscription streams.
func (h *Hub) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// streamOf returns the stream of the operation oc, nil when it has none (yet, or any more).
func (h *Hub) streamOf(oc *graphql.OperationContext) *stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams[oc]
}

// ScopeFunc has the signature of api.Hooks.Scope.
type ScopeFunc = func(ctx context.Context, next func(ctx context.Context) *graphql.Response) (*graphql.Response, error)

// Scope returns the response hook that adds a stream's final error to the response that ends
// it (see the package documentation), around inner, another such hook (nil for none).
func (h *Hub) Scope(inner ScopeFunc) ScopeFunc {
	return func(ctx context.Context, next func(ctx context.Context) *graphql.Response) (*graphql.Response, error) {
		var resp *graphql.Response
		var err error
		if inner != nil {
			resp, err = inner(ctx, next)
		} else {
			resp = next(ctx)
		}
		if err != nil || resp == nil || !graphql.HasOperationContext(ctx) {
			return resp, err
		}
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
			return resp, nil
		}
		h.mu.Lock()
		s := h.streams[oc]
		h.mu.Unlock()
		// Only the final response is null: every other one carries an event.
		if s == nil || string(resp.Data) != `{"`+s.field+`":null}` {
			return resp, nil
		}
		if final := s.takeFinal(); final != nil {
			graphql.AddError(ctx, gqlerror.WrapPath(ast.Path{ast.PathName(s.field)}, final))
			all := graphql.GetErrors(ctx)
			resp.Errors = append(resp.Errors, all[len(all)-1])
		}
		return resp, nil
	}
}

// conn is one client connection: a WebSocket with any number of operations, or an SSE
// request with one.
type conn struct {
	hub *Hub
	sse bool
	// ctx ends when the connection is done with, or dropped (kill).
	ctx    context.Context
	cancel context.CancelCauseFunc
	ws     *wsConn // set when the WebSocket is accepted
	// detachable says that the WebSocket transport may take the connection over from the
	// handler, and detached that it did: the socket's reader then releases it (finish).
	// Both are used on the handler's goroutine only.
	detachable, detached bool

	mu sync.Mutex
	// token and company re-authenticate the subscriber: from the Authorization and
	// X-Company-ID headers, or from connection_init.
	token, company string
	// principal is the WebSocket's subscriber, as authenticated by connection_init.
	principal *access.Principal
	// userID is set once the connection counts against its user's cap (guarded by hub.mu).
	userID  string
	streams map[*stream]struct{}
	// ending is set once the connection is being closed; it refuses new streams.
	ending bool
}

type connKey struct{}

func withConn(ctx context.Context, c *conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func connFrom(ctx context.Context) *conn {
	c, _ := ctx.Value(connKey{}).(*conn)
	return c
}

func (c *conn) credentials() (token, company string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token, c.company
}

// authenticate checks the session again and returns the subscriber as it is now. Streams of
// one session handling the same event (seq > 0) share one check, read from the database
// past the session cache; it starts after the event arrived, so it is as fresh as a check of
// each stream's own.
func (c *conn) authenticate(ctx context.Context, seq uint64) (*access.Principal, error) {
	token, company := c.credentials()
	if token == "" {
		return nil, auth.ErrBadSession
	}
	check := func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		if seq > 0 {
			return c.hub.auth.Recheck(ctx, token, company) // see Authenticator.Recheck
		}
		return c.hub.auth.Authenticate(ctx, token, company)
	}
	if seq == 0 {
		p, err := check()
		if err != nil {
			return nil, err
		}
		return p.(*access.Principal), nil
	}
	v, err, _ := c.hub.checks.Do(fmt.Sprintf("%d\x00%s\x00%s", seq, company, token), check)
	if err != nil {
		return nil, err
	}
	return v.(*access.Principal), nil
}

func (c *conn) addStream(s *stream) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ending {
		return errs.New(errs.Unauthenticated, "this connection is closing; connect again")
	}
	c.streams[s] = struct{}{}
	return nil
}

func (c *conn) removeStream(s *stream) {
	c.mu.Lock()
	delete(c.streams, s)
	c.mu.Unlock()
}

// markEnding marks the connection as ending and returns its streams and WebSocket (nil for
// SSE); already reports that it was ending before.
func (c *conn) markEnding() (streams []*stream, ws *wsConn, already bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	already, c.ending = c.ending, true
	streams = make([]*stream, 0, len(c.streams))
	for s := range c.streams {
		streams = append(streams, s)
	}
	return streams, c.ws, already
}

// end ends every stream of the connection with cause and, for a WebSocket, closes it with
// code once their last responses are written. It is how a session that is no longer valid
// takes all its subscriptions down at once.
func (c *conn) end(cause error, code int, reason string) {
	streams, ws, already := c.markEnding()
	if already {
		return
	}
	for _, s := range streams {
		s.cancel(cause)
	}
	if ws != nil {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.hub.opts.ShutdownGrace)
			defer cancel()
			ws.waitIdle(ctx)
			_ = ws.WriteClose(code, reason)
		}()
	}
}

// shutdown completes every stream, then closes a WebSocket with 1001 once the completes are
// written (or grace has passed).
func (c *conn) shutdown(ctx context.Context, grace time.Duration) {
	streams, ws, _ := c.markEnding()
	for _, s := range streams {
		s.cancel(errShutdown)
	}
	if ws == nil {
		if c.sse && len(streams) == 0 {
			c.cancel(errShutdown)
		}
		return
	}
	ctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	ws.waitIdle(ctx)
	_ = ws.WriteClose(statusGoingAway, "Server shutting down")
}

// kill drops the connection without ceremony, when Shutdown runs out of time.
func (c *conn) kill() {
	c.cancel(errShutdown)
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		_ = ws.ws.CloseNow()
	}
}
