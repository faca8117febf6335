package subscribe

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/pubsub"
	"github.com/laatu/laatu/internal/storage"
)

// Update is one event for a subscriber, with the objects loaded as the subscriber sees them
// at that moment. The resolvers turn it into the schema's event types.
type Update struct {
	// Kind is one of the values of the schema's ObjectChangeKind or SharingChangeKind.
	Kind string
	// ObjectType (FOLDER or DOCUMENT) and ObjectID name the changed object.
	ObjectType, ObjectID string
	Folder               *storage.Folder
	Document             *storage.Document
	Comment              *storage.Comment
	Grant                *storage.Grant
	// value is what a Follow handler made.
	value any
}

// The kinds of Update.
const (
	KindCreated       = "CREATED"
	KindUpdated       = "UPDATED"
	KindStatusChanged = "STATUS_CHANGED"
	KindDeleted       = "DELETED"
	KindRestored      = "RESTORED"
	KindResync        = "RESYNC"
	KindShared        = "SHARED"
	KindUnshared      = "UNSHARED"
	KindExpired       = "EXPIRED"
)

// Pseudo-events of a stream's own timers; they never travel through the broker.
const (
	kindRecheck = "recheck"
	kindExpiry  = "expiry"
)

var (
	// errDone ends a stream quietly (it completes) after the updates that came with it.
	errDone = errors.New("subscribe: stream done")
	// errAccessChanged ends the streams of a subscriber whose memberships changed: its
	// principal, fixed when the connection was authenticated, no longer tells what it may see.
	errAccessChanged = errs.New(errs.Forbidden, "your memberships changed since this subscription began; connect and subscribe again")
	// errResync ends streams whose events have no way to say that some may have been missed.
	errResync   = errs.New(errs.Conflict, "changes may have been missed while the server reconnected to its database; reload and subscribe again")
	errNoStream = errs.New(errs.BadUserInput, "subscriptions are served over a WebSocket (graphql-transport-ws) or server-sent events (Accept: text/event-stream) on /graphql")
)

// follower is what one kind of subscription does with the events of its stream.
type follower interface {
	// topics returns the broker topics to follow.
	topics(s *stream) []string
	// relevant tells, without a query, whether an event may concern the subscriber.
	relevant(s *stream, ev pubsub.Event) bool
	// handle turns a relevant event into updates, once the session has been checked. A
	// returned error ends the stream after the updates: errDone quietly, any other with it.
	handle(s *stream, ev pubsub.Event) ([]Update, error)
	// expiry fires when a timer of the follower's own runs out (nil when none).
	expiry() <-chan time.Time
}

// starter is a follower with work to do once its stream listens, before it handles events.
type starter interface {
	started(s *stream) error
}

// stream is one subscription of one subscriber.
type stream struct {
	h *Hub
	c *conn
	// oc identifies the operation, so that the response hook finds the stream.
	oc *graphql.OperationContext
	// field is the root field's response name, for the path of the final error.
	field string
	// p is the subscriber as the operation began; checked against the session at each event.
	p *access.Principal
	// view identifies what p may see (see viewOf): streams of the same view share loads.
	view string
	// seq is the dispatch number of the event being handled: the broker's, a recheck's (see
	// Hub.recheck), or 0 for the stream's own timer (a grant's expiry).
	seq uint64
	// parent ends when gqlgen is done with the subscription; ctx ends earlier when the
	// stream is ended from outside (its cause says why).
	parent, ctx context.Context
	cancel      context.CancelCauseFunc
	// drive, set for a stream on a WebSocket, runs the stream's loop on the goroutine of the
	// transport's operation rather than on one of its own (see wsConn.run); it calls respond
	// after each value it hands gqlgen, which makes gqlgen's response of it there and then.
	// Between events an operation then waits in the stream's loop, on a shallow stack and
	// without a response's state (a transaction scope, loaders, the audit collector).
	drive   func()
	respond func()

	// resynced is the dispatch number of the last RESYNC handled: the broker sends one to
	// each of the stream's topics.
	resynced uint64

	mu    sync.Mutex
	final error
}

// newStream prepares the stream of the subscription resolver running in ctx; start registers
// and runs it.
func newStream(ctx context.Context) (*stream, error) {
	c := connFrom(ctx)
	if c == nil {
		return nil, errNoStream
	}
	h := c.hub
	p := access.FromContext(ctx)
	if !p.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "log in first")
	}
	if c.sse {
		if err := h.admit(c, p.UserID); err != nil {
			return nil, err
		}
	} else {
		// The WebSocket's principal dates from connection_init, possibly long ago.
		fresh, err := c.authenticate(ctx, 0)
		if err != nil {
			return nil, err
		}
		if !samePrincipal(fresh, p) {
			c.end(errAccessChanged, statusForbidden, "Forbidden: your access changed; connect again")
			return nil, errAccessChanged
		}
	}
	sctx, cancel := context.WithCancelCause(ctx)
	return &stream{h: h, c: c, oc: graphql.GetOperationContext(ctx), field: graphql.GetFieldContext(ctx).Field.Alias,
		p: p, view: viewOf(p), parent: ctx, ctx: sctx, cancel: cancel}, nil
}

// viewOf sums up what storage reads of a principal to decide what it may see: its user, its
// active company and its memberships (not its session).
func viewOf(p *access.Principal) string {
	var b strings.Builder
	b.WriteString(p.UserID + "|" + p.CompanyID + "|" + string(p.Level))
	for _, company := range slices.Sorted(maps.Keys(p.Memberships)) {
		b.WriteString("|" + company + "=" + string(p.Memberships[company]))
	}
	return b.String()
}

// loadTimeout bounds a load shared by several streams, which runs detached from each.
const loadTimeout = 15 * time.Second

// load runs fn as the subscriber. The streams of one view handling the same event would all
// read the same rows at the same moment: they share one read, started after the event
// arrived. It runs detached from the context of the stream that started it, whose end must
// not fail the others.
func load[T any](s *stream, what string, fn func(ctx context.Context) (T, error)) (T, error) {
	if s.seq == 0 {
		return fn(s.ctx)
	}
	key := strconv.FormatUint(s.seq, 10) + "\x00" + s.view + "\x00" + what
	v, err, _ := s.h.loads.Do(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), loadTimeout)
		defer cancel()
		return fn(ctx)
	})
	t, _ := v.(T)
	return t, err
}

// register makes the stream known to its connection (which ends it with the connection) and
// to the Hub (whose response hook finds it), unless either is closing.
func (s *stream) register() error {
	if err := s.c.addStream(s); err != nil {
		return err
	}
	s.h.mu.Lock()
	closing := s.h.closing
	if !closing {
		s.h.streams[s.oc] = s
	}
	s.h.mu.Unlock()
	if closing {
		s.unregister()
		return errs.New(errs.Unauthenticated, "the server is shutting down; connect again")
	}
	// The final response reads the stream's error after the stream's goroutine has ended,
	// so the stream stays findable until gqlgen is done with the operation.
	context.AfterFunc(s.parent, s.unregister)
	return nil
}

// unregister ends the stream and forgets it. It is safe to call more than once, and before
// register.
func (s *stream) unregister() {
	s.cancel(nil)
	s.c.removeStream(s)
	s.h.mu.Lock()
	if s.h.streams[s.oc] == s {
		delete(s.h.streams, s.oc)
	}
	s.h.mu.Unlock()
}

// start follows f's topics and returns the channel gqlgen reads the stream's values from. The
// stream is registered (and counted) once it listens and its follower has started.
func start[T any](s *stream, f follower, convert func(Update) T) (<-chan T, error) {
	var subs []*pubsub.Subscription
	for _, topic := range f.topics(s) {
		sub, err := s.h.broker.Subscribe(s.ctx, topic, s.h.opts.Buffer)
		if err != nil {
			s.unregister()
			return nil, err
		}
		subs = append(subs, sub)
	}
	if st, ok := f.(starter); ok {
		if err := st.started(s); err != nil {
			s.unregister()
			return nil, err
		}
	}
	if err := s.register(); err != nil {
		s.unregister()
		return nil, err
	}
	if s.c.ws != nil {
		// The WebSocket transport drives the stream (see stream.drive). Each value is taken
		// before the next is made: one slot is all the channel needs.
		out := make(chan T, 1)
		s.drive = func() { run(s, f, convert, subs, out) }
		return out, nil
	}
	out := make(chan T)
	go run(s, f, convert, subs, out)
	return out, nil
}

func run[T any](s *stream, f follower, convert func(Update) T, subs []*pubsub.Subscription, out chan T) {
	defer close(out)
	var c0, c1 <-chan *pubsub.Event
	c0 = subs[0].C()
	if len(subs) > 1 {
		c1 = subs[1].C()
	}
	for {
		if s.ctx.Err() != nil {
			finish(s, out, context.Cause(s.ctx))
			return
		}
		recheck, recheckSeq := s.h.rechecks()
		var ev pubsub.Event
		select {
		case <-s.ctx.Done():
			continue
		case e, ok := <-c0:
			if !ok {
				finish(s, out, subs[0].Err())
				return
			}
			ev = *e
		case e, ok := <-c1:
			if !ok {
				finish(s, out, subs[1].Err())
				return
			}
			ev = *e
		case <-recheck:
			ev = pubsub.Event{Kind: kindRecheck, Seq: recheckSeq}
		case <-f.expiry():
			ev = pubsub.Event{Kind: kindExpiry}
		}
		ups, end := s.process(f, ev)
		for _, u := range ups {
			select {
			case out <- convert(u):
				s.sent()
			case <-s.ctx.Done():
			}
		}
		switch {
		case end == nil:
		case errors.Is(end, errDone):
			return
		default:
			fail(s, out, end)
			return
		}
	}
}

// process checks the session for a relevant event, then lets the follower handle it.
func (s *stream) process(f follower, ev pubsub.Event) ([]Update, error) {
	if ev.Kind == pubsub.KindResync {
		if ev.Seq == s.resynced {
			return nil, nil
		}
		s.resynced = ev.Seq
	}
	if !f.relevant(s, ev) {
		return nil, nil
	}
	s.seq = ev.Seq
	var ups []Update
	err := s.check(ev)
	if err == nil {
		ups, err = f.handle(s, ev)
	}
	if err != nil && s.ctx.Err() != nil {
		return nil, nil // ending anyway; the loop says why
	}
	if err != nil && ev.Kind == kindRecheck {
		if _, known := errs.As(err); !known {
			// The database may be away: nothing can be delivered meanwhile, and the broker
			// sends RESYNC when it is back. Try again at the next tick.
			s.h.log.Warn().Err(err).Msg("recheck of a subscription failed; keeping it")
			return nil, nil
		}
	}
	return ups, err
}

// check authenticates the subscriber again and ends the connection's streams when its
// session is no longer valid or its memberships changed.
func (s *stream) check(ev pubsub.Event) error {
	p, err := s.c.authenticate(s.ctx, ev.Seq)
	switch {
	case errs.KindOf(err) == errs.Unauthenticated:
		s.c.end(err, statusUnauthorized, sessionEnded)
		return err
	case err != nil:
		return err
	case !samePrincipal(p, s.p):
		s.c.end(errAccessChanged, statusForbidden, "Forbidden: your access changed; connect again")
		return errAccessChanged
	}
	return nil
}

// finish ends the stream for cause: with it as the final error when it is one the client
// should see (slow consumer, session ended), quietly otherwise (unsubscribed, shutdown).
func finish[T any](s *stream, out chan<- T, cause error) {
	if _, known := errs.As(cause); known {
		fail(s, out, cause)
	}
}

// fail sends the null value whose response carries err (see Hub.Scope); the caller then
// closes the channel, and gqlgen completes the operation.
func fail[T any](s *stream, out chan<- T, err error) {
	s.mu.Lock()
	s.final = err
	s.mu.Unlock()
	var zero T
	select {
	case out <- zero:
		s.sent()
	case <-s.parent.Done():
	}
}

// sent is called once a value is in the channel: a driven stream has it responded to now.
func (s *stream) sent() {
	if s.respond != nil {
		s.respond()
	}
}

func (s *stream) takeFinal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.final
	s.final = nil
	return err
}

func samePrincipal(a, b *access.Principal) bool {
	if a.UserID != b.UserID || a.SessionID != b.SessionID || a.CompanyID != b.CompanyID || a.Level != b.Level ||
		len(a.Memberships) != len(b.Memberships) {
		return false
	}
	for company, level := range a.Memberships {
		if b.Memberships[company] != level {
			return false
		}
	}
	return true
}
