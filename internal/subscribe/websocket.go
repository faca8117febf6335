package subscribe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"golang.org/x/time/rate"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/auth"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
)

// subprotocol is the only WebSocket protocol served: graphql-transport-ws, spoken by the
// graphql-ws client. The deprecated subscriptions-transport-ws ("graphql-ws") is not offered.
const subprotocol = "graphql-transport-ws"

// Close codes. The 44xx ones are graphql-transport-ws's.
const (
	statusNormal           = 1000
	statusGoingAway        = 1001
	statusBadRequest       = 4400
	statusInternalError    = 4500
	statusUnauthorized     = 4401
	statusForbidden        = 4403
	statusBadSubprotocol   = 4406
	statusInitTimeout      = 4408
	statusSubscriberExists = 4409
	statusTooManyRequests  = 4429
)

// sessionEnded is the close reason when the session is unknown, revoked or expired, or its user
// disabled: log in again.
const sessionEnded = "Unauthorized: the session is invalid or has expired; log in again"

// initRefused is the close reason of a connection_init whose token names no live session.
const initRefused = "Forbidden: the session is invalid or has expired; log in again"

// Buffer sizes of a socket. net/http reads and writes a connection through 4 KiB buffers each,
// which it would hand over with the hijacked socket for as long as it lives; the messages of
// graphql-transport-ws are small, and larger ones bypass the buffers anyway.
const (
	socketReadBuffer  = 512
	socketWriteBuffer = 1 << 10
)

// Transports returns the WebSocket and SSE transports, for api.Options.Transports.
func (h *Hub) Transports() []graphql.Transport {
	return []graphql.Transport{
		wsTransport{h},
		transport.SSE{KeepAlivePingInterval: h.opts.KeepAlive},
	}
}

// wsTransport serves graphql-transport-ws over gqlgen's executor. It replaces gqlgen's
// WebSocket transport for the sake of memory: gqlgen serves each socket from the handler's
// goroutine, deep in the middleware chain, with net/http's connection state and buffers kept
// alive under it and one more goroutine per socket waiting for its end. Here the handler
// returns once the socket is accepted; the socket lives on in one shallow reader goroutine,
// plus one goroutine per running operation.
type wsTransport struct{ h *Hub }

var _ graphql.Transport = wsTransport{}

// Supports matches what gqlgen's WebSocket transport matched: any upgrade.
func (wsTransport) Supports(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

// Do upgrades the request and hands the socket over to its reader goroutine. A client that
// does not offer graphql-transport-ws is closed with 4406 right after the upgrade, as the
// protocol asks.
func (t wsTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	h := t.h
	c := connFrom(r.Context())
	if c == nil || !c.detachable {
		// Hub.Handler lets every WebSocket upgrade through as a connection; this is another
		// upgrade, as gqlgen's transport answered it.
		httpx.WriteJSONError(w, http.StatusBadRequest, errs.BadUserInput, "only WebSocket upgrades are served here")
		return
	}
	ws, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{
		Subprotocols:   []string{subprotocol},
		OriginPatterns: h.originPatterns(),
	})
	if err != nil {
		h.log.Debug().Err(err).Msg("WebSocket handshake") // Accept has answered the client
		return
	}
	ws.SetReadLimit(h.opts.MaxMessageBytes)
	wc := newWSConn(h, c, ws, exec, r.Header)
	c.mu.Lock()
	c.ws = wc
	ending := c.ending
	c.mu.Unlock()
	switch {
	case ws.Subprotocol() != subprotocol:
		_ = wc.WriteClose(statusBadSubprotocol, "Subprotocol not acceptable")
	case ending:
		_ = wc.WriteClose(statusGoingAway, "Server shutting down")
	}
	c.detached = true
	go wc.serve(context.WithoutCancel(r.Context()))
}

// smallBuffers gives the WebSocket library the hijacked connection with buffers of the
// socket's own sizes; net/http's are dropped with the handler's goroutine.
type smallBuffers struct{ http.ResponseWriter }

func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The handshake response was flushed by the hijack; this is only a safeguard.
	if err := brw.Writer.Flush(); err != nil {
		_ = nc.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(nc, socketReadBuffer)
	if n := brw.Reader.Buffered(); n > 0 {
		// The client spoke as soon as it had the handshake's answer, and net/http has read
		// the start of it. It must be buffered in br, not only behind it: the WebSocket
		// library keeps what br has buffered and reads the connection itself after that.
		b, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(b)), nc), max(socketReadBuffer, n))
		if _, err := br.Peek(n); err != nil {
			_ = nc.Close()
			return nil, nil, err
		}
	}
	return nc, bufio.NewReadWriter(br, bufio.NewWriterSize(nc, socketWriteBuffer)), nil
}

// closeError ends connection_init with a close code.
type closeError struct {
	code   int
	reason string
	err    error
}

func (e *closeError) Error() string { return e.err.Error() }
func (e *closeError) Unwrap() error { return e.err }

// initWebSocket authenticates connection_init. The session token comes from its payload,
// as {"Authorization": "Bearer <token>"} or {"token": "<token>"}, or else from the
// handshake's Authorization header; the active company from "X-Company-ID" (payload or header).
// No token, or a token that names no live session, closes the socket with 4403 Forbidden, as
// graphql-transport-ws says a server rejecting connection_init does (4401 is for a subscribe
// sent before the connection was acknowledged).
func (h *Hub) initWebSocket(ctx context.Context, c *conn, payload transport.InitPayload) (context.Context, error) {
	token, company := c.credentials()
	if t := auth.BearerToken(payload.Authorization()); t != "" {
		token = t
	} else if t := strings.TrimSpace(payload.GetString("token")); t != "" {
		token = t
	}
	for _, key := range []string{"X-Company-ID", "x-company-id", "companyId"} {
		if v := payload.GetString(key); v != "" {
			company = v
		}
	}
	if token == "" {
		return nil, &closeError{statusForbidden, "Forbidden: send {\"Authorization\": \"Bearer <token>\"} in connection_init",
			errs.New(errs.Unauthenticated, "log in first")}
	}
	p, err := h.auth.Authenticate(ctx, token, company)
	if err != nil {
		if errs.KindOf(err) == errs.Unauthenticated {
			return nil, &closeError{statusForbidden, initRefused, err}
		}
		h.log.Error().Err(err).Msg("authenticate WebSocket")
		return nil, &closeError{statusInternalError, "Internal server error", errs.New(errs.Internal, "internal error")}
	}
	if err := h.admit(c, p.UserID); err != nil {
		return nil, &closeError{statusTooManyRequests, "Too many connections for this user", err}
	}
	c.mu.Lock()
	c.token, c.company, c.principal = token, company, p
	c.mu.Unlock()
	return access.NewContext(ctx, p), nil
}

// wsConn is one socket. Its reader goroutine (serve) reads the client's messages and
// enforces the protocol's rules: the init timeout (4408), no subscribe before the connection
// is acknowledged (4401), one init (4429), unique operation ids (4409), well-formed messages
// (4400), and the cap on operations per connection. Each operation runs in a goroutine of
// its own that writes its responses. Every write is bounded in time. The socket pings the
// client and drops it when it has not answered by the next ping. It knows which operations
// still run, so that shutdown can wait for their completes.
type wsConn struct {
	h       *Hub
	c       *conn
	ws      *websocket.Conn
	exec    graphql.GraphExecutor
	headers http.Header

	mu        sync.Mutex
	initTimer *time.Timer
	inited    bool
	acked     bool
	// ctx is the context of operations, with the subscriber; set when acknowledged.
	ctx     context.Context
	active  map[string]*wsOp
	changed chan struct{} // signalled when an operation ends
	closing bool
	// gone is set once the reader has stopped: the socket is closed or closing.
	gone bool
	// pinger pings every PingInterval once the connection is acknowledged; heard says
	// whether anything came from the client since the last ping.
	pinger *time.Timer
	heard  bool
	// limit caps the rate of the client's messages (read by the reader goroutine only).
	limit *rate.Limiter
}

// wsOp is one running operation; cancel is set once it has started.
type wsOp struct{ cancel context.CancelFunc }

func newWSConn(h *Hub, c *conn, ws *websocket.Conn, exec graphql.GraphExecutor, headers http.Header) *wsConn {
	wc := &wsConn{h: h, c: c, ws: ws, exec: exec, headers: headers, active: map[string]*wsOp{}, changed: make(chan struct{}, 1),
		limit: rate.NewLimiter(rate.Limit(h.opts.MessageRate), h.opts.MessageBurst)}
	// The callback takes mu, so it cannot see initTimer before it is set.
	wc.mu.Lock()
	defer wc.mu.Unlock()
	wc.initTimer = time.AfterFunc(h.opts.InitTimeout, func() {
		wc.mu.Lock()
		late := !wc.inited
		wc.mu.Unlock()
		if late {
			_ = wc.WriteClose(statusInitTimeout, "Connection initialisation timeout")
		}
	})
	return wc
}

// message is a graphql-transport-ws message.
type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// serve reads the socket until it ends, then ends its operations and releases the
// connection. ctx carries the request's values (logger, request id, ...); the socket outlives
// the request, and ends with the connection's own context (see conn.kill).
func (wc *wsConn) serve(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			wc.h.log.Error().Interface("panic", r).Msg("WebSocket reader")
		}
		wc.mu.Lock()
		wc.gone = true
		for _, op := range wc.active {
			if op.cancel != nil {
				op.cancel()
			}
		}
		closing := wc.closing
		wc.stopTimersLocked()
		wc.mu.Unlock()
		if !closing {
			_ = wc.ws.CloseNow()
		}
		// The connection counts no more once its socket is gone, as when gqlgen's transport
		// returned; its operations finish on their own.
		wc.c.finish()
	}()
	// The connection's context ends only when the server gives up on it: drop the socket.
	stop := context.AfterFunc(wc.c.ctx, func() { _ = wc.WriteClose(statusNormal, "terminated") })
	defer stop()
	for {
		_, data, err := wc.ws.Read(context.Background())
		if err != nil {
			switch websocket.CloseStatus(err) {
			case websocket.StatusNormalClosure, websocket.StatusNoStatusRcvd, websocket.StatusGoingAway:
			default:
				if !errors.Is(err, net.ErrClosed) {
					wc.h.log.Debug().Err(err).Msg("websocket")
				}
			}
			return
		}
		start := graphql.Now()
		if !wc.limit.Allow() {
			// Each message costs a read, a decode and often an answer: a flood gets a close.
			_ = wc.WriteClose(statusTooManyRequests, "Too many messages")
			continue
		}
		var m message
		if json.Unmarshal(data, &m) != nil {
			_ = wc.WriteClose(statusBadRequest, "Invalid message received")
			continue
		}
		if !wc.admit(m) {
			continue
		}
		switch m.Type {
		case "connection_init":
			wc.init(ctx, m.Payload)
		case "subscribe":
			wc.subscribe(start, m.ID, m.Payload)
		case "ping":
			_ = wc.send(message{Type: "pong", Payload: m.Payload})
		}
	}
}

// admit applies the protocol's rules to an incoming message; false means it was answered
// here and goes no further.
func (wc *wsConn) admit(m message) bool {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	wc.heard = true
	if wc.closing {
		return false // the close handshake is under way: nothing new starts
	}
	switch m.Type {
	case "connection_init":
		wc.initTimer.Stop()
		if wc.inited {
			wc.closeLocked(statusTooManyRequests, "Too many initialisation requests")
			return false
		}
		wc.inited = true
	case "subscribe":
		switch _, dup := wc.active[m.ID]; {
		case !wc.acked:
			wc.closeLocked(statusUnauthorized, "Unauthorized")
			return false
		case m.ID == "":
			wc.closeLocked(statusBadRequest, "Invalid message received: subscribe without an id")
			return false
		case dup:
			wc.closeLocked(statusSubscriberExists, "Subscriber for "+truncate(m.ID, 64)+" already exists")
			return false
		case len(wc.active) >= wc.h.opts.MaxSubscriptionsPerConn:
			go wc.refuse(m.ID)
			return false
		}
		wc.active[m.ID] = &wsOp{}
	case "complete":
		if op := wc.active[m.ID]; op != nil {
			wc.endLocked(m.ID, op)
			if op.cancel != nil {
				op.cancel()
			}
		}
		return false
	case "ping", "pong":
	default:
		wc.closeLocked(statusBadRequest, "Invalid message received: type "+truncate(fmt.Sprintf("%q", m.Type), 40))
		return false
	}
	return true
}

// init authenticates the connection and acknowledges it, or closes it with the code that
// says why not.
func (wc *wsConn) init(ctx context.Context, payload json.RawMessage) {
	var p transport.InitPayload
	if len(payload) > 0 && json.Unmarshal(payload, &p) != nil {
		_ = wc.WriteClose(statusBadRequest, "Invalid message received: connection_init payload is not an object")
		return
	}
	ctx, err := wc.h.initWebSocket(ctx, wc.c, p)
	if err != nil {
		var ce *closeError
		if !errors.As(err, &ce) {
			ce = &closeError{code: statusInternalError, reason: "Internal server error"}
		}
		_ = wc.WriteClose(ce.code, ce.reason)
		return
	}
	wc.mu.Lock()
	wc.ctx, wc.acked = ctx, true
	if !wc.closing {
		wc.pinger = time.AfterFunc(wc.h.opts.PingInterval, wc.ping)
	}
	wc.mu.Unlock()
	_ = wc.send(message{Type: "connection_ack"})
}

// subscribe starts an operation, as gqlgen's transport does: a request that does not parse
// or validate is answered (an error message, or a response with the errors) and completed.
func (wc *wsConn) subscribe(start time.Time, id string, payload json.RawMessage) {
	wc.mu.Lock()
	opCtx, op := wc.ctx, wc.active[id]
	wc.mu.Unlock()
	if op == nil {
		return // completed meanwhile
	}
	ctx := graphql.StartOperationTrace(opCtx)
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		wc.sendError(id, &gqlerror.Error{Message: "invalid json"})
		wc.complete(id, op)
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	params.Headers = wc.headers
	rc, errList := wc.exec.CreateOperationContext(ctx, params)
	if errList != nil {
		resp := wc.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errList)
		if errcode.GetErrorKind(errList) == errcode.KindProtocol {
			wc.sendError(id, resp.Errors...)
		} else {
			wc.sendResponse(id, &graphql.Response{Errors: errList})
		}
		wc.complete(id, op)
		return
	}
	ctx, cancel := context.WithCancel(graphql.WithOperationContext(ctx, rc))
	wc.mu.Lock()
	op.cancel = cancel
	wc.mu.Unlock()
	go wc.run(ctx, id, op, rc)
}

// run writes the responses of one operation, then its complete (after an error message, if
// it panicked). A socket that is gone gets no complete.
func (wc *wsConn) run(ctx context.Context, id string, op *wsOp, rc *graphql.OperationContext) {
	defer op.cancel()
	defer func() {
		if r := recover(); r != nil {
			err := rc.Recover(ctx, r)
			var gqlErr *gqlerror.Error
			if !errors.As(err, &gqlErr) {
				gqlErr = &gqlerror.Error{}
				if err != nil {
					gqlErr.Message = err.Error()
				}
			}
			wc.sendError(id, gqlErr)
		}
		wc.mu.Lock()
		gone := wc.gone
		wc.mu.Unlock()
		if gone {
			wc.end(id, op)
			return
		}
		// Also when the client completed it: gqlgen's transport confirmed that too, and
		// graphql-ws ignores it.
		wc.complete(id, op)
	}()
	responses, ctx := wc.exec.DispatchOperation(ctx, rc)
	respond := func() bool {
		resp := responses(ctx)
		if resp != nil {
			wc.sendResponse(id, resp)
		}
		return resp != nil
	}
	// The resolver has run: a subscription of ours has its stream now, to be driven here
	// (see stream.drive). gqlgen's response middleware then runs only when there is a value
	// to respond with, and the operation needs no goroutine besides this one.
	if s := wc.h.streamOf(rc); s != nil && s.drive != nil {
		s.respond = func() { respond() }
		s.drive()
		// The stream has ended, its last response written: it is forgotten before the
		// complete goes out, so that a client that subscribes again on hearing it is not
		// counted twice.
		s.unregister()
	}
	// What is left: a stream's end (its channel is closed), or the responses of anything
	// else.
	for respond() {
	}
}

func (wc *wsConn) sendResponse(id string, resp *graphql.Response) {
	b, err := json.Marshal(resp)
	if err != nil {
		wc.h.log.Error().Err(err).Msg("encode a subscription response")
		b, _ = json.Marshal(&graphql.Response{Errors: gqlerror.List{{Message: "internal error",
			Extensions: map[string]any{"code": string(errs.Internal)}}}})
	}
	_ = wc.send(message{ID: id, Type: "next", Payload: b})
}

func (wc *wsConn) sendError(id string, list ...*gqlerror.Error) {
	b, _ := json.Marshal(list)
	_ = wc.send(message{ID: id, Type: "error", Payload: b})
}

// complete ends an operation for the client.
func (wc *wsConn) complete(id string, op *wsOp) {
	_ = wc.send(message{ID: id, Type: "complete"})
	wc.end(id, op)
}

// refuse answers a subscribe over the cap with an error message: the operation ends, the
// connection and its other operations go on.
func (wc *wsConn) refuse(id string) {
	wc.sendError(id, &gqlerror.Error{
		Message:    fmt.Sprintf("too many operations on this connection (at most %d at once); complete some first", wc.h.opts.MaxSubscriptionsPerConn),
		Extensions: map[string]any{"code": string(errs.RateLimited)},
	})
}

func (wc *wsConn) end(id string, op *wsOp) {
	wc.mu.Lock()
	wc.endLocked(id, op)
	wc.mu.Unlock()
}

func (wc *wsConn) endLocked(id string, op *wsOp) {
	if wc.active[id] != op {
		return
	}
	delete(wc.active, id)
	select {
	case wc.changed <- struct{}{}:
	default:
	}
}

// ping pings the client, or drops it when it has not answered the previous ping: a peer that
// is gone without closing (a dead network, a laptop shut) would otherwise hold its
// subscriptions until TCP gives up, hours later.
func (wc *wsConn) ping() {
	wc.mu.Lock()
	if wc.closing {
		wc.mu.Unlock()
		return
	}
	if !wc.heard {
		wc.mu.Unlock()
		_ = wc.ws.CloseNow()
		return
	}
	wc.heard = false
	wc.pinger.Reset(wc.h.opts.PingInterval)
	wc.mu.Unlock()
	_ = wc.write([]byte(`{"type":"ping"}`))
}

func (wc *wsConn) send(m message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return wc.write(data)
}

// write sends a message, giving up (and dropping the connection) when the client does not
// take it within the write timeout.
func (wc *wsConn) write(data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), wc.h.opts.WriteTimeout)
	defer cancel()
	return wc.ws.Write(ctx, websocket.MessageText, data)
}

// WriteClose starts the close handshake in the background: it can wait seconds for the
// peer. Only the first close counts.
func (wc *wsConn) WriteClose(code int, reason string) error {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	wc.closeLocked(code, reason)
	return nil
}

func (wc *wsConn) closeLocked(code int, reason string) {
	if wc.closing {
		return
	}
	wc.closing = true
	wc.stopTimersLocked()
	go func() { _ = wc.ws.Close(websocket.StatusCode(code), truncate(reason, 120)) }()
}

func (wc *wsConn) stopTimersLocked() {
	wc.initTimer.Stop()
	if wc.pinger != nil {
		wc.pinger.Stop()
	}
}

// waitIdle returns when no operation runs on the connection any more, or when ctx ends.
func (wc *wsConn) waitIdle(ctx context.Context) {
	for {
		wc.mu.Lock()
		idle := len(wc.active) == 0
		wc.mu.Unlock()
		if idle {
			return
		}
		select {
		case <-wc.changed:
		case <-ctx.Done():
			return
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
