package subscribe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/auth"
	"github.com/laatu/laatu/internal/errs"
)

// subprotocol is the only WebSocket protocol served: graphql-transport-ws, spoken by the
// graphql-ws client. gqlgen also speaks the deprecated subscriptions-transport-ws ("graphql-ws"),
// which is not offered.
const subprotocol = "graphql-transport-ws"

// Close codes. The 44xx ones are graphql-transport-ws's.
const (
	statusGoingAway        = 1001
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

// Transports returns the WebSocket and SSE transports, for api.Options.Transports.
func (h *Hub) Transports() []graphql.Transport {
	limit := h.opts.MaxMessageBytes
	return []graphql.Transport{
		transport.Websocket{
			Implementation: acceptor{h},
			InitFunc:       h.initWebSocket,
			// wsConn enforces the init timeout, with the protocol's 4408 (gqlgen's closes with
			// 1002), and pings on a timer rather than gqlgen's goroutine per connection.
			PayloadReadLimit: &limit,
			ErrorFunc: func(ctx context.Context, err error) {
				h.log.Debug().Err(err).Msg("websocket")
			},
		},
		transport.SSE{KeepAlivePingInterval: h.opts.KeepAlive},
	}
}

// initWebSocket authenticates connection_init. The session token comes from its payload,
// as {"Authorization": "Bearer <token>"} or {"token": "<token>"}, or else from the
// handshake's Authorization header; the active company from "X-Company-ID" (payload or header).
// No token, or a token that names no live session, closes the socket with 4401: graphql-ws
// gives up at once on 4401, where it would retry 4403 for a token that cannot get better.
func (h *Hub) initWebSocket(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	c := connFrom(ctx)
	if c == nil {
		return closing(ctx, statusInternalError, "Internal server error"), nil, errors.New("subscribe: WebSocket without connection state")
	}
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
		return closing(ctx, statusUnauthorized, "Unauthorized: send {\"Authorization\": \"Bearer <token>\"} in connection_init"), nil,
			errs.New(errs.Unauthenticated, "log in first")
	}
	p, err := h.auth.Authenticate(ctx, token, company)
	if err != nil {
		if errs.KindOf(err) == errs.Unauthenticated {
			return closing(ctx, statusUnauthorized, sessionEnded), nil, err
		}
		h.log.Error().Err(err).Msg("authenticate WebSocket")
		return closing(ctx, statusInternalError, "Internal server error"), nil, errs.New(errs.Internal, "internal error")
	}
	if err := h.admit(c, p.UserID); err != nil {
		return closing(ctx, statusTooManyRequests, "Too many connections for this user"), nil, err
	}
	c.mu.Lock()
	c.token, c.company, c.principal = token, company, p
	c.mu.Unlock()
	return access.NewContext(ctx, p), nil, nil
}

// closing tells gqlgen's transport which close code and reason to use.
func closing(ctx context.Context, code int, reason string) context.Context {
	return transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, code), reason)
}

// acceptor upgrades a request to a WebSocket for gqlgen, and watches the protocol on it.
type acceptor struct{ h *Hub }

// Accept upgrades the request. A client that does not offer graphql-transport-ws is closed
// with 4406 right after the upgrade, as the protocol asks.
func (a acceptor) Accept(w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	c := connFrom(r.Context())
	if c == nil {
		return nil, errors.New("subscribe: WebSocket request did not pass through Hub.Handler")
	}
	for k, vs := range o.ResponseHeader {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{subprotocol},
		OriginPatterns: a.h.originPatterns(),
	})
	if err != nil {
		return nil, err
	}
	wc := newWSConn(a.h, ws)
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
	return wc, nil
}

// wsConn is a WebSocket as gqlgen's transport uses it. Besides reading and writing, it bounds
// every write in time, and watches the messages to enforce what gqlgen leaves out: the init
// timeout (4408), no subscribe before the connection is acknowledged (4401), one init (4429),
// unique operation ids (4409), and the cap on operations per connection. It pings the client
// and drops it when it has not answered by the next ping. It also knows which operations are
// still running, so that shutdown can wait for their completes.
type wsConn struct {
	h  *Hub
	ws *websocket.Conn

	mu        sync.Mutex
	initTimer *time.Timer
	inited    bool
	acked     bool
	active    map[string]struct{}
	changed   chan struct{} // signalled when an operation ends
	closing   bool
	// pinger pings every PingInterval once the connection is acknowledged; heard says
	// whether anything came from the client since the last ping.
	pinger *time.Timer
	heard  bool
}

func newWSConn(h *Hub, ws *websocket.Conn) *wsConn {
	wc := &wsConn{h: h, ws: ws, active: map[string]struct{}{}, changed: make(chan struct{}, 1)}
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

var (
	_ transport.WebsocketConn        = (*wsConn)(nil)
	_ transport.WebsocketReadLimiter = (*wsConn)(nil)
)

// header is what wsConn reads of each message.
type header struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// NextReader returns the next message for gqlgen, after the checks of wsConn.
func (wc *wsConn) NextReader() (int, io.Reader, error) {
	for {
		typ, data, err := wc.ws.Read(context.Background())
		if err != nil {
			switch websocket.CloseStatus(err) {
			case websocket.StatusNormalClosure, websocket.StatusNoStatusRcvd, websocket.StatusGoingAway:
				return int(typ), nil, transport.ErrWebsocketClosed
			}
			return int(typ), nil, err
		}
		if wc.admit(data) {
			return int(typ), bytes.NewReader(data), nil
		}
	}
}

// admit applies the protocol's rules to an incoming message; false means it was answered
// here and gqlgen must not see it.
func (wc *wsConn) admit(data []byte) bool {
	var m header
	if json.Unmarshal(data, &m) != nil {
		return true // gqlgen answers malformed messages
	}
	wc.mu.Lock()
	defer wc.mu.Unlock()
	wc.heard = true
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
		case dup:
			wc.closeLocked(statusSubscriberExists, "Subscriber for "+truncate(m.ID, 64)+" already exists")
			return false
		case len(wc.active) >= wc.h.opts.MaxSubscriptionsPerConn:
			go wc.refuse(m.ID)
			return false
		}
		wc.active[m.ID] = struct{}{}
	case "complete":
		wc.endLocked(m.ID)
	}
	return true
}

// refuse answers a subscribe over the cap with an error message: the operation ends, the
// connection and its other operations go on.
func (wc *wsConn) refuse(id string) {
	msg, _ := json.Marshal(map[string]any{"id": id, "type": "error", "payload": []map[string]any{{
		"message":    fmt.Sprintf("too many operations on this connection (at most %d at once); complete some first", wc.h.opts.MaxSubscriptionsPerConn),
		"extensions": map[string]any{"code": string(errs.RateLimited)},
	}}})
	_ = wc.write(msg)
}

func (wc *wsConn) endLocked(id string) {
	if _, ok := wc.active[id]; !ok {
		return
	}
	delete(wc.active, id)
	select {
	case wc.changed <- struct{}{}:
	default:
	}
}

// nextSuffix is how gqlgen's messages of type next end: most messages are next, and this
// spares decoding their payload again.
var nextSuffix = []byte(`"type":"next"}`)

// WriteJSON writes one message from gqlgen.
func (wc *wsConn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var m header
	if !bytes.HasSuffix(data, nextSuffix) {
		_ = json.Unmarshal(data, &m)
	}
	if m.Type == "connection_ack" {
		wc.mu.Lock()
		wc.acked = true
		if !wc.closing {
			wc.pinger = time.AfterFunc(wc.h.opts.PingInterval, wc.ping)
		}
		wc.mu.Unlock()
	}
	err = wc.write(data)
	if m.Type == "complete" || m.Type == "error" {
		wc.mu.Lock()
		wc.endLocked(m.ID)
		wc.mu.Unlock()
	}
	return err
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

// write sends a message, giving up (and dropping the connection) when the client does not
// take it within the write timeout.
func (wc *wsConn) write(data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), wc.h.opts.WriteTimeout)
	defer cancel()
	return wc.ws.Write(ctx, websocket.MessageText, data)
}

// WriteClose starts the close handshake in the background, as gqlgen's own adapter does: it
// can wait seconds for the peer. Only the first close counts.
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

// Close drops the connection, unless a close handshake is under way: that one closes it.
func (wc *wsConn) Close() error {
	wc.mu.Lock()
	closing := wc.closing
	wc.stopTimersLocked()
	wc.mu.Unlock()
	if closing {
		return nil
	}
	return wc.ws.CloseNow()
}

func (wc *wsConn) stopTimersLocked() {
	wc.initTimer.Stop()
	if wc.pinger != nil {
		wc.pinger.Stop()
	}
}

// Subprotocol returns the negotiated subprotocol.
func (wc *wsConn) Subprotocol() string { return wc.ws.Subprotocol() }

// SetReadLimit caps the size of incoming messages; a larger one closes the socket (1009).
func (wc *wsConn) SetReadLimit(limit int64) { wc.ws.SetReadLimit(limit) }

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
