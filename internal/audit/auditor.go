package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/rs/zerolog"
	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/pubsub"
	"github.com/laatu/laatu/internal/storage"
)

// ErrClosed is returned by Record and Flush after Close.
var ErrClosed = errors.New("audit: the audit log is closed")

// Options tune the group committer. The zero value gives the defaults.
type Options struct {
	// Window is how long the writer waits, after the first pending flush, for more to join the
	// same transaction. Default 2ms; a negative value takes only what is already queued.
	Window time.Duration
	// MaxBatch stops gathering once this many events are pending. Default 1000.
	MaxBatch int
	// QueueSize bounds the flushes waiting for the writer; beyond it callers wait (and fail
	// when their context ends). Default 1024.
	QueueSize int
	// WriteTimeout bounds one transaction of the writer. Default 10s.
	WriteTimeout time.Duration
	// Publisher, when set, announces what each transaction appends to a company's chain on
	// pubsub.AuditTopic, in that transaction (see notice), for the live audit tail.
	Publisher pubsub.Publisher
	// Linger applies when Window is negative: how long, at most, the writer waits for the
	// responses that Scope has begun and not yet flushed, before it commits what is queued.
	// It never waits when there are none, so a lone request is written at once; under load a
	// commit takes the views of several responses, which share its fixed cost (on PostgreSQL
	// a WAL flush to disk). Zero: never wait.
	Linger time.Duration
	// LingerPending is the fewest responses under way for which the writer lingers (default
	// 1). A response finishes within a short linger only when many are under way; with one or
	// two, waiting mostly delays the response that is ready.
	LingerPending int
	// Grants, when set, names the grant that admitted a guest to each object it viewed, for
	// the GrantID of its VIEW events (viewGrants, in grants.go). The server sets it to
	// storage.Store.AdmittingGrants; without it views name no grant.
	Grants GrantsFunc
	// Reach finds the folder or document of a trail and checks the caller's right on it:
	// storage.Store.Reach. Without it Trail refuses every caller.
	Reach ReachFunc

	// beforeWrite, set only by tests, runs before each transaction of the writer.
	beforeWrite func()
	// taken, set only by tests, runs when the writer takes a batch into the transaction it
	// gathers, so that a test can wait for that instead of sleeping.
	taken func()
}

func (o Options) withDefaults() Options {
	if o.Window == 0 {
		o.Window = 2 * time.Millisecond
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.LingerPending <= 0 {
		o.LingerPending = 1
	}
	return o
}

// Auditor writes audit events: changes inside their transactions (ChangeHook), views and
// security events through one group-committing writer (Flush, Record), and every durable event
// to the audit stream.
type Auditor struct {
	db   *database.DB
	opts Options

	streamMu  sync.Mutex   // the stream's writer need not be safe for concurrent use
	stream    io.Writer    // nil: no stream
	streamBuf bytes.Buffer // the lines of one emit, written at once

	mu     sync.RWMutex // held for reading while submitting, for writing by Close
	closed bool
	queue  chan *batch
	stop   chan struct{}
	done   chan struct{}

	// heads is where the chains ended when the writer or ChangeHook last committed to them.
	heads heads
	// sql (the statements of one write) and conn (on PostgreSQL, the connection the writer
	// keeps, so that operations holding the pool cannot hold up the writes they wait for) are
	// the writer's alone.
	sql  []byte
	conn *bun.Conn

	// pending counts the responses that Scope has begun and whose views the writer has not
	// taken yet; wake tells the writer, lingering for them, that one has ended without any.
	pending atomic.Int64
	wake    chan struct{}

	txs, events, headReads atomic.Uint64
}

// batch is one caller's events and where it waits for their fate.
type batch struct {
	events []*Event
	done   chan error
	// scoped batches are the views of a response that Scope counts in pending.
	scoped bool
}

// New returns an Auditor writing to db (the server's role) and mirroring every durable event
// to stream as JSON lines (nil: no stream). The lines of one commit reach stream in one Write,
// so a file opened with O_APPEND receives them whole. Close it to stop its writer.
func New(db *database.DB, stream io.Writer, opts Options) *Auditor {
	opts = opts.withDefaults()
	a := &Auditor{
		db: db, opts: opts, stream: stream,
		queue: make(chan *batch, opts.QueueSize),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go a.run()
	return a
}

// Close writes what is queued, then stops the writer. Later Record and Flush calls fail with
// ErrClosed.
func (a *Auditor) Close() error {
	a.mu.Lock()
	already := a.closed
	a.closed = true
	a.mu.Unlock()
	if !already {
		close(a.stop)
	}
	<-a.done
	return nil
}

// Stats counts what the writer has done.
type Stats struct {
	// Transactions is the number of group-commit transactions written.
	Transactions uint64
	// Events is the number of events they held.
	Events uint64
	// HeadReads is the number of those transactions that first read where their chains end:
	// on PostgreSQL the first for each company, and those after another writer (a change,
	// another server) extended a chain; on SQLite all.
	HeadReads uint64
}

// Stats returns the writer's counters.
func (a *Auditor) Stats() Stats {
	return Stats{Transactions: a.txs.Load(), Events: a.events.Load(), HeadReads: a.headReads.Load()}
}

// ChangeHook returns the storage hook that writes one event per change in the change's own
// transaction (where storage has set app.company_id to the change's company), announces it
// there to the audit tail's subscribers, and mirrors it to the stream once that transaction
// commits.
func (a *Auditor) ChangeHook() storage.ChangeHook {
	return func(ctx context.Context, tx bun.IDB, ch storage.Change, afterCommit func(func())) error {
		e := &Event{CompanyID: ch.CompanyID, Action: string(ch.Kind), ObjectType: ch.ObjectType,
			ObjectID: ch.ObjectID, GrantID: ch.GrantID, Fields: changeFields(ch.Fields)}
		fillFromContext(ctx, e)
		if err := Append(ctx, tx, a.db.Dialect, e); err != nil {
			return err
		}
		// The local publisher (SQLite) queues its notice and hands it over when flush runs,
		// which storage does only after the transaction (or savepoint) commits; PostgreSQL
		// holds the notification until commit itself.
		ctx, flush, _ := pubsub.WithTxQueue(ctx)
		if err := a.announce(ctx, tx, e); err != nil {
			return err
		}
		afterCommit(func() {
			a.heads.advance(e.CompanyID, link{Seq: e.Seq, Hash: e.Hash})
			a.emit(e)
			flush()
		})
		return nil
	}
}

// notice is what the audit tail's subscribers are told when a transaction has appended to a
// company's chain up to last: ids only, one notice for all that the transaction appended.
// Events outside any company (NoCompany) are announced to no one: no ADMIN can follow them.
func notice(last *Event) (pubsub.Event, bool) {
	if last.CompanyID == NoCompany {
		return pubsub.Event{}, false
	}
	return pubsub.Event{Topic: pubsub.AuditTopic(last.CompanyID), Kind: pubsub.KindAudit,
		CompanyID: last.CompanyID, ObjectID: last.ID, ChainSeq: last.Seq}, true
}

// announce publishes in tx the notices of chains that end, for now, at the events lasts.
func (a *Auditor) announce(ctx context.Context, tx bun.IDB, lasts ...*Event) error {
	if a.opts.Publisher == nil {
		return nil
	}
	for _, last := range lasts {
		if n, ok := notice(last); ok {
			if err := a.opts.Publisher.Publish(ctx, tx, n); err != nil {
				return fmt.Errorf("audit: announce: %w", err)
			}
		}
	}
	return nil
}

// changeFields copies a change's fields; values of personal fields are only named.
func changeFields(in []storage.FieldChange) []Field {
	out := make([]Field, len(in))
	for i, f := range in {
		out[i] = Field{Field: f.Field, Personal: f.Personal}
		if !f.Personal {
			out[i].Before, out[i].After = f.Before, f.After
		}
	}
	return out
}

// Record writes security events (LOGIN, LOGIN_FAILED, LOGOUT, PASSWORD_CHANGED,
// ACCESS_DENIED, EXPORT, ...) outside any transaction of the caller, and returns once they are
// durable. Who, from where and in which operation are taken from ctx for what the events leave
// empty. An error means they may not have been written: fail closed.
func (a *Auditor) Record(ctx context.Context, events ...Event) error {
	evs := make([]*Event, len(events))
	for i := range events {
		e := events[i]
		fillFromContext(ctx, &e)
		if err := e.prepare(); err != nil {
			return err
		}
		evs[i] = &e
	}
	return a.enqueue(ctx, evs, false)
}

// Flush writes the views c collected, one VIEW event per object with its fields, and returns
// once they are durable. It empties c, so a subscription flushes after each event. Call it
// after the operation's own transaction has ended: on PostgreSQL a mutation's transaction holds
// its company's chain lock, and on SQLite the write lock, until it ends.
func (a *Auditor) Flush(ctx context.Context, c *Collector) error {
	return a.flush(ctx, c, false)
}

// flush is Flush; scoped flushes are those of the responses Scope counts in pending, which
// they leave once the writer has their views, or when there are none to hand over.
func (a *Auditor) flush(ctx context.Context, c *Collector, scoped bool) error {
	var evs []*Event
	var err error
	if c != nil {
		evs, err = a.viewEvents(ctx, c)
	}
	if err != nil || len(evs) == 0 {
		if scoped {
			a.settle()
		}
		return err
	}
	return a.enqueue(ctx, evs, scoped)
}

// viewEvents empties c into prepared VIEW events, one per object. Who, from where and in
// which operation is the same for all of one company's: it is read from ctx once.
func (a *Auditor) viewEvents(ctx context.Context, c *Collector) ([]*Event, error) {
	views := c.take()
	grants, err := a.viewGrants(ctx, views)
	if err != nil {
		return nil, err
	}
	evs := make([]*Event, len(views))
	now := time.Now()
	var like Event // what the events of one company share
	for i, v := range views {
		if i == 0 || v.company != like.CompanyID {
			like = Event{CompanyID: v.company, OccurredAt: now, Action: ActionView}
			fillFromContext(ctx, &like)
		}
		e := like
		e.ObjectType, e.ObjectID, e.Fields = v.typ, v.id, v.fields
		e.GrantID = grants[v.viewKey]
		if err := e.prepare(); err != nil {
			return nil, err
		}
		evs[i] = &e
	}
	return evs, nil
}

// Scope runs one response (one event, for subscriptions) with a fresh Collector and the
// operation's description in the context, and flushes the views before the response may
// leave: if they cannot be made durable, the response is replaced by an error. Its signature
// is that of api.Hooks.Scope, which calls next inside the operation's transaction and commits
// it before next returns.
func (a *Auditor) Scope(ctx context.Context, next func(ctx context.Context) *graphql.Response) (*graphql.Response, error) {
	if OperationFrom(ctx).Type == "" && graphql.HasOperationContext(ctx) {
		ctx = WithOperation(ctx, OperationOf(graphql.GetOperationContext(ctx)))
	}
	c := NewCollector()
	a.pending.Add(1)
	flushing := false
	defer func() {
		if !flushing { // next panicked
			a.settle()
		}
	}()
	resp := next(WithCollector(ctx, c))
	flushing = true
	if err := a.flush(ctx, c, true); err != nil {
		return nil, errs.Fault(err, "the audit log is unavailable; nothing was sent")
	}
	return resp, nil
}

// settle ends a response's count in pending without the writer (it has no views for it), and
// wakes the writer if it is lingering for it.
func (a *Auditor) settle() {
	a.pending.Add(-1)
	select {
	case a.wake <- struct{}{}:
	default: // the writer has a wake-up waiting already
	}
}

// enqueue hands events to the writer and waits until they are durable. When the queue is
// full it waits for room; when ctx ends first it gives up with an error, never dropping
// silently what it already handed over (that is still written).
func (a *Auditor) enqueue(ctx context.Context, events []*Event, scoped bool) error {
	b := &batch{events: events, done: make(chan error, 1), scoped: scoped}
	if err := a.submit(ctx, b); err != nil {
		if scoped {
			a.settle()
		}
		return err
	}
	select {
	case err := <-b.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit: waiting for the audit log: %w", ctx.Err())
	}
}

func (a *Auditor) submit(ctx context.Context, b *batch) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return ErrClosed
	}
	select {
	case a.queue <- b:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: the audit log queue is full: %w", ctx.Err())
	}
}

// run is the writer: it gathers pending batches into one transaction at a time until Close,
// then writes what is left and returns.
func (a *Auditor) run() {
	defer close(a.done)
	defer a.closeConn()
	for {
		select {
		case b := <-a.queue:
			a.commit(a.gather(b))
		case <-a.stop:
			// Close holds no submitter any more: what is queued now is all there will be.
			for {
				select {
				case b := <-a.queue:
					a.commit(a.gather(b))
				default:
					return
				}
			}
		}
	}
}

// gather takes first and whatever else arrives within the window, up to MaxBatch events.
// Without a window it takes what is queued, and waits up to Linger for more while responses
// that have begun are still to hand over their views.
func (a *Auditor) gather(first *batch) []*batch {
	var batches []*batch
	n := 0
	take := func(b *batch) {
		batches, n = append(batches, b), n+len(b.events)
		if b.scoped {
			a.pending.Add(-1) // its response is no longer to be waited for
		}
		if a.opts.taken != nil {
			a.opts.taken()
		}
	}
	take(first)
	var timer *time.Timer
	var expired <-chan time.Time
	startTimer := func(d time.Duration) {
		if timer == nil {
			timer = time.NewTimer(d)
			expired = timer.C
		}
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	if a.opts.Window > 0 {
		startTimer(a.opts.Window)
	}
	closing := false
	for n < a.opts.MaxBatch {
		select {
		case b := <-a.queue:
			take(b)
			continue
		default:
		}
		// Nothing more is queued: wait, or write what there is.
		switch {
		case closing:
			return batches
		case a.opts.Window > 0:
		case a.opts.Linger > 0 && a.pending.Load() >= int64(a.opts.LingerPending):
			startTimer(a.opts.Linger)
		default:
			return batches
		}
		select {
		case b := <-a.queue:
			take(b)
		case <-a.wake: // a response ended without views: look again
		case <-expired:
			return batches
		case <-a.stop:
			closing = true // take what is queued without waiting
		}
	}
	return batches
}

// commit writes the batches in one transaction, mirrors them to the stream, and tells every
// waiter the outcome.
func (a *Auditor) commit(batches []*batch) {
	var events []*Event
	for _, b := range batches {
		events = append(events, b.events...)
	}
	err := a.write(events)
	if err == nil {
		a.txs.Add(1)
		a.events.Add(uint64(len(events)))
		a.emit(events...)
	}
	for _, b := range batches {
		b.done <- err
	}
}

func (a *Auditor) write(events []*Event) error {
	if a.opts.beforeWrite != nil {
		a.opts.beforeWrite()
	}
	byCompany := map[string][]*Event{}
	for _, e := range events {
		byCompany[e.CompanyID] = append(byCompany[e.CompanyID], e)
	}
	companies := make([]string, 0, len(byCompany))
	for c := range byCompany {
		companies = append(companies, c)
	}
	sort.Strings(companies) // one lock order for every writer
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.WriteTimeout)
	defer cancel()
	err := errUnknownHead
	if a.db.Dialect == database.Postgres {
		err = a.writeAtHeads(ctx, companies, byCompany)
	}
	readHeads := errors.Is(err, errUnknownHead) || isStaleHead(err)
	if readHeads {
		// Nothing was written: chain after the ends as the database has them.
		err = a.writeReadingHeads(ctx, companies, byCompany)
	}
	if err != nil {
		// The outcome may be unknown (a lost connection during commit): read the ends next time.
		for _, c := range companies {
			a.heads.forget(c)
		}
		return fmt.Errorf("audit: write %d events: %w", len(events), err)
	}
	if readHeads {
		a.headReads.Add(1)
	}
	for _, c := range companies {
		last := byCompany[c][len(byCompany[c])-1]
		a.heads.advance(c, link{Seq: last.Seq, Hash: last.Hash})
	}
	return nil
}

// errUnknownHead means that where a company's chain ends is not known without reading it.
var errUnknownHead = errors.New("audit: the end of a chain is not known")

// isStaleHead reports whether err is the primary key's unique violation: the batch was chained
// after an end that another writer had passed, so PostgreSQL rolled all of it back.
func isStaleHead(err error) bool {
	var st interface{ SQLState() string }
	return errors.As(err, &st) && st.SQLState() == "23505"
}

// writeAtHeads writes a batch on PostgreSQL in one round trip, chaining each company's events
// after the end a.heads remembers (errUnknownHead when it remembers none). The statements go
// in one query message, which PostgreSQL runs as one implicit transaction and commits, flushed
// to disk, before it answers; an error anywhere rolls all of it back. Per company they do what
// a transaction calling Append does: admit the company under row-level security, lock its
// chain, insert.
func (a *Auditor) writeAtHeads(ctx context.Context, companies []string, byCompany map[string][]*Event) error {
	gen := a.db.QueryGen()
	q := a.sql[:0]
	defer func() { a.sql = q[:0] }()
	for _, c := range companies {
		last, ok := a.heads.get(c)
		if !ok {
			return errUnknownHead
		}
		events := byCompany[c]
		if _, err := chainAfter(last, events); err != nil {
			return err
		}
		q = gen.AppendQuery(q, "SELECT set_config('app.company_id', ?, true), pg_advisory_xact_lock(?);\n", c, lockKey(c))
		var err error
		if q, err = appendInsert(q, events); err != nil {
			return err
		}
		q = append(q, ";\n"...)
		// The notice rides in the same message, so in the same transaction: no round trip.
		if sp, ok := a.opts.Publisher.(pubsub.StatementPublisher); ok {
			if n, ok := notice(events[len(events)-1]); ok {
				query, args, err := sp.Statement(n)
				if err != nil {
					return fmt.Errorf("audit: announce: %w", err)
				}
				q = gen.AppendQuery(q, query, args...)
				q = append(q, ";\n"...)
			}
		}
	}
	if a.conn == nil {
		conn, err := a.db.Conn(ctx)
		if err != nil {
			return err
		}
		a.conn = &conn
	}
	// Without arguments, the driver sends the text as one simple query.
	_, err := a.conn.ExecContext(ctx, string(q))
	if err != nil && !isStaleHead(err) {
		a.closeConn() // it may be broken; the next write takes another
	}
	if _, ok := a.opts.Publisher.(pubsub.StatementPublisher); err == nil && !ok && a.opts.Publisher != nil {
		// A publisher that cannot join the message (in-process, on a PostgreSQL store without
		// a listener) is told once the batch has committed. The batch is durable whatever
		// happens here: a notice that cannot be queued (it cannot fail to encode) would be
		// made up for by the next one, as subscribers read every event after the last they saw.
		ctx, flush, discard := pubsub.WithTxQueue(ctx)
		defer discard()
		if a.announce(ctx, a.conn, lastOf(companies, byCompany)...) == nil {
			flush()
		}
	}
	return err
}

// lastOf returns the last event of each company's events.
func lastOf(companies []string, byCompany map[string][]*Event) []*Event {
	lasts := make([]*Event, len(companies))
	for i, c := range companies {
		lasts[i] = byCompany[c][len(byCompany[c])-1]
	}
	return lasts
}

// closeConn gives the writer's connection back to the pool.
func (a *Auditor) closeConn() {
	if a.conn != nil {
		_ = a.conn.Close()
		a.conn = nil
	}
}

// writeReadingHeads writes a batch in a transaction that reads where each chain ends (Append),
// and announces it there.
func (a *Auditor) writeReadingHeads(ctx context.Context, companies []string, byCompany map[string][]*Event) error {
	ctx, flush, discard := pubsub.WithTxQueue(ctx)
	defer discard()
	err := a.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, c := range companies {
			if err := setCompany(ctx, tx, a.db.Dialect, c); err != nil {
				return err
			}
			if err := Append(ctx, tx, a.db.Dialect, byCompany[c]...); err != nil {
				return err
			}
		}
		return a.announce(ctx, tx, lastOf(companies, byCompany)...)
	})
	if err == nil {
		flush()
	}
	return err
}

// emit writes durable events to the audit stream, one JSON line each, in one Write (a
// response's views are hundreds of lines: one system call, not hundreds); nothing when there
// is no stream. A failed write is not retried: the events are durable in the database, which
// is the record; the stream mirrors it.
func (a *Auditor) emit(events ...*Event) {
	if a.stream == nil || len(events) == 0 {
		return
	}
	a.streamMu.Lock()
	defer a.streamMu.Unlock()
	a.streamBuf.Reset()
	lines := zerolog.New(&a.streamBuf)
	for _, e := range events {
		lines.Log().EmbedObject(e).Send()
	}
	_, _ = a.stream.Write(a.streamBuf.Bytes())
	if a.streamBuf.Cap() > 1<<20 {
		a.streamBuf = bytes.Buffer{} // do not keep a burst's buffer for ever
	}
}

// MarshalZerologObject writes e as the fields of one audit stream line (and export line).
func (e *Event) MarshalZerologObject(z *zerolog.Event) {
	z.Str("time", e.OccurredAt.UTC().Format(timeLayout)).
		Str("company_id", e.CompanyID).
		Int64("seq", e.Seq).
		Str("id", e.ID).
		Str("action", e.Action)
	if e.ActorID != nil {
		z.Str("actor_id", *e.ActorID)
	} else {
		z.RawJSON("actor_id", []byte("null"))
	}
	z.Str("principal_kind", e.PrincipalKind).
		Str("principal_level", e.PrincipalLevel).
		Str("grant_id", e.GrantID).
		Str("session_id", e.SessionID).
		Str("client_ip", e.ClientIP).
		Str("user_agent", e.UserAgent).
		Str("object_type", e.ObjectType).
		Str("object_id", e.ObjectID)
	var buf [512]byte
	fields, err := appendCanonicalFields(buf[:0], e.Fields)
	if err != nil {
		fields = []byte("null")
	}
	z.RawJSON("fields", fields).
		Str("request_id", e.RequestID).
		Str("operation_type", e.OperationType).
		Str("operation_name", e.OperationName).
		Str("operation_hash", e.OperationHash).
		Strs("root_fields", nonNil(e.RootFields)).
		Str("prev_hash", e.PrevHash).
		Str("hash", e.Hash)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
