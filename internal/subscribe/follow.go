package subscribe

import (
	"context"
	"strings"
	"time"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/pubsub"
	"github.com/laatu/laatu/internal/storage"
)

// Document starts the stream of documentChanged: updates of the document, its deletion (then
// the stream completes), and RESYNC. The directive has checked that the caller may view it.
//
// The stream follows the topic of the document's company, which for a guest is not its own.
// A grant taken back between the load here and the broker subscription is caught by the next
// event or check: every delivery loads the document again as the subscriber.
func Document[T any](ctx context.Context, documentID string, convert func(Update) T) (<-chan T, error) {
	return followObject(ctx, func(s *stream) (follower, error) {
		d, err := s.mustSee(documentID)
		return &documentFollower{doc: d}, err
	}, convert)
}

// Folder starts the stream of folderChanged: changes to the folder and to what is below it.
func Folder[T any](ctx context.Context, folderID string, convert func(Update) T) (<-chan T, error) {
	return followObject(ctx, func(s *stream) (follower, error) {
		f, err := s.mustSeeFolder(folderID)
		return &folderFollower{folder: f}, err
	}, convert)
}

// Comments starts the stream of commentAdded: each new comment on the document.
func Comments[T any](ctx context.Context, documentID string, convert func(Update) T) (<-chan T, error) {
	return followObject(ctx, func(s *stream) (follower, error) {
		d, err := s.mustSee(documentID)
		return &documentFollower{doc: d, comments: true}, err
	}, convert)
}

// followObject starts a stream that follows one object: load sees it as the subscriber (an
// object it may not see is refused like one that does not exist) and makes its follower.
func followObject[T any](ctx context.Context, load func(s *stream) (follower, error), convert func(Update) T) (<-chan T, error) {
	s, err := newStream(ctx)
	if err != nil {
		return nil, err
	}
	f, err := load(s)
	if err != nil {
		s.cancel(nil)
		return nil, err
	}
	return start(s, f, convert)
}

// SharedWithMe starts the stream of sharedWithMeChanged: the caller's grants given, taken back
// or expired, in every company.
func SharedWithMe[T any](ctx context.Context, convert func(Update) T) (<-chan T, error) {
	s, err := newStream(ctx)
	if err != nil {
		return nil, err
	}
	f := &sharedFollower{}
	if err := f.reload(s); err != nil {
		s.cancel(nil)
		return nil, err
	}
	return start(s, f, convert)
}

// Follow starts a stream over one topic whose events handle turns into values for the
// subscriber. It is how a kind of subscription that this package does not know gets the same
// guarantees: the session checked again at every event and by the timer (a changed
// membership or level ends the stream), bounded buffers, final errors, shutdown.
//
// begin, when not nil, runs once the stream listens to the topic and before any event is
// handled, with the subscriber's context: a follower that reads where it starts from reads it
// there, so that no event falls between that read and the first notice. An error it returns
// is the resolver's, and no stream runs.
//
// handle runs with the subscriber's context, after the check; it also receives the broker's
// RESYNC events. An error it returns ends the stream with that error.
//
// The live audit tail (auditEventAdded, for ADMINs) is built on it: the auditor publishes an
// ids-only notice on pubsub.AuditTopic(company) with each commit to the company's chain, and
// audit.Tail's Begin and Next read the new events as the subscriber.
func Follow[T any](ctx context.Context, topic string, begin func(ctx context.Context) error,
	handle func(ctx context.Context, ev pubsub.Event) ([]T, error)) (<-chan T, error) {
	s, err := newStream(ctx)
	if err != nil {
		return nil, err
	}
	f := &topicFollower{topic: topic, begin: begin, fn: func(ctx context.Context, ev pubsub.Event) ([]Update, error) {
		vs, err := handle(ctx, ev)
		ups := make([]Update, len(vs))
		for i, v := range vs {
			ups[i].value = v
		}
		return ups, err
	}}
	return start(s, f, func(u Update) T { return u.value.(T) })
}

// topicFollower hands the events of one topic to a handler of Follow.
type topicFollower struct {
	topic string
	begin func(ctx context.Context) error
	fn    func(ctx context.Context, ev pubsub.Event) ([]Update, error)
}

func (f *topicFollower) started(s *stream) error {
	if f.begin == nil {
		return nil
	}
	return f.begin(s.ctx)
}

func (f *topicFollower) topics(s *stream) []string {
	if f.topic == pubsub.UserTopic(s.p.UserID) {
		return []string{f.topic}
	}
	return []string{f.topic, pubsub.UserTopic(s.p.UserID)}
}

func (f *topicFollower) expiry() <-chan time.Time { return nil }

func (f *topicFollower) relevant(*stream, pubsub.Event) bool { return true }

func (f *topicFollower) handle(s *stream, ev pubsub.Event) ([]Update, error) {
	if ev.Kind == kindRecheck || (ev.Topic != f.topic && ev.Kind != pubsub.KindResync) {
		return nil, nil // the subscriber's own topic: checking the session was all
	}
	return f.fn(s.ctx, ev)
}

// action is what an event means for a follower.
type action int

const (
	ignore action = iota
	// recheck: the subscriber's access to the followed object may have changed.
	recheck
	// deliver: the followed object (or, for a folder, one below it) changed.
	deliver
	// deleted: the followed object was deleted, with a folder above it or alone.
	deleted
	// deletedBelow: an object below the followed folder was deleted.
	deletedBelow
	// resync: events may have been missed.
	resync
	// comment: a comment was added to the followed document.
	comment
	// probe: an object of unknown place changed (its path did not fit in the notification).
	probe
)

// baseAction handles what every follower treats alike: the broker's RESYNC, the timer, and
// the subscriber's own topic, whose events (grants, memberships) may change what it sees.
func baseAction(s *stream, ev pubsub.Event) (action, bool) {
	switch {
	case ev.Kind == pubsub.KindResync:
		return resync, true
	case ev.Kind == kindRecheck:
		return recheck, true
	case ev.Topic == pubsub.UserTopic(s.p.UserID):
		return recheck, true
	}
	return ignore, false
}

// updateKind maps a wire kind to the kind of an Update.
func updateKind(kind string) string {
	switch kind {
	case string(storage.ChangeCreated):
		return KindCreated
	case kindStatusChanged:
		return KindStatusChanged
	case string(storage.ChangeDeleted):
		return KindDeleted
	case string(storage.ChangeRestored):
		return KindRestored
	case pubsub.KindResync:
		return KindResync
	}
	return KindUpdated
}

// documentFollower follows one document: its changes (documentChanged) or its comments
// (commentAdded).
type documentFollower struct {
	doc      *storage.Document
	comments bool
}

func (f *documentFollower) topics(s *stream) []string {
	return []string{pubsub.CompanyTopic(f.doc.CompanyID), pubsub.UserTopic(s.p.UserID)}
}

func (f *documentFollower) expiry() <-chan time.Time { return nil }

func (f *documentFollower) relevant(s *stream, ev pubsub.Event) bool {
	return f.action(s, ev) != ignore
}

func (f *documentFollower) action(s *stream, ev pubsub.Event) action {
	if a, ok := baseAction(s, ev); ok {
		return a
	}
	d := f.doc
	switch ev.ObjectType {
	case typeComment:
		if f.comments && ev.DocumentID == d.ID && ev.Kind == string(storage.ChangeCreated) {
			return comment
		}
	case typeDocument:
		if ev.ObjectID != d.ID {
			return ignore
		}
		switch ev.Kind {
		case string(storage.ChangeDeleted):
			return deleted
		case string(storage.ChangeShared), string(storage.ChangeUnshared):
			return recheck
		case string(storage.ChangeUpdated), kindStatusChanged, string(storage.ChangeRestored):
			if !f.comments {
				return deliver
			}
		}
	case typeFolder:
		// A folder above: deleting it deletes the document; changing its restriction or its
		// grants may hide the document.
		if ev.Kind == string(storage.ChangeCreated) || ev.Kind == string(storage.ChangeRestored) {
			return ignore
		}
		switch {
		case ev.Path == "":
			return recheck
		case !strings.HasPrefix(d.FolderPath, ev.Path):
			return ignore
		case ev.Kind == string(storage.ChangeDeleted):
			return deleted
		}
		return recheck
	}
	return ignore
}

func (f *documentFollower) handle(s *stream, ev pubsub.Event) ([]Update, error) {
	switch f.action(s, ev) {
	case recheck:
		_, err := s.mustSee(f.doc.ID)
		return nil, err
	case deliver, resync:
		if f.comments {
			// A Comment has no kind to say RESYNC with.
			return nil, errResync
		}
		d, err := s.mustSee(f.doc.ID)
		if err != nil {
			return nil, err
		}
		return []Update{{Kind: updateKind(ev.Kind), ObjectType: typeDocument, ObjectID: d.ID, Document: d}}, nil
	case deleted:
		if ok, err := s.canView(f.doc); err != nil || !ok {
			return nil, orNotFound(err, "document")
		}
		if f.comments {
			return nil, errDone
		}
		return []Update{{Kind: KindDeleted, ObjectType: typeDocument, ObjectID: f.doc.ID}}, errDone
	case comment:
		c, err := s.comment(ev.ObjectID)
		if err != nil {
			return nil, err
		}
		if c == nil {
			// Comments are visible with their document.
			return nil, errs.NotFoundf("document")
		}
		return []Update{{Kind: KindCreated, ObjectType: typeComment, ObjectID: c.ID, Comment: c}}, nil
	}
	return nil, nil
}

// folderFollower follows a folder and everything below it.
type folderFollower struct {
	folder *storage.Folder
}

func (f *folderFollower) topics(s *stream) []string {
	return []string{pubsub.CompanyTopic(f.folder.CompanyID), pubsub.UserTopic(s.p.UserID)}
}

func (f *folderFollower) expiry() <-chan time.Time { return nil }

func (f *folderFollower) relevant(s *stream, ev pubsub.Event) bool { return f.action(s, ev) != ignore }

func (f *folderFollower) action(s *stream, ev pubsub.Event) action {
	if a, ok := baseAction(s, ev); ok {
		return a
	}
	if ev.ObjectType != typeFolder && ev.ObjectType != typeDocument {
		return ignore
	}
	if ev.Path == "" {
		return probe
	}
	fp := f.folder.Path
	self := ev.ObjectType == typeFolder && ev.ObjectID == f.folder.ID
	inside := strings.HasPrefix(ev.Path, fp)
	above := ev.ObjectType == typeFolder && !inside && strings.HasPrefix(fp, ev.Path)
	switch ev.Kind {
	case string(storage.ChangeShared), string(storage.ChangeUnshared):
		if self || above {
			return recheck
		}
		return ignore
	case string(storage.ChangeDeleted):
		switch {
		case self || above:
			return deleted
		case inside:
			return deletedBelow
		}
		return ignore
	}
	switch {
	case above && ev.Kind == string(storage.ChangeUpdated):
		return recheck
	case inside:
		return deliver
	}
	return ignore
}

func (f *folderFollower) handle(s *stream, ev pubsub.Event) ([]Update, error) {
	switch f.action(s, ev) {
	case recheck:
		_, err := s.mustSeeFolder(f.folder.ID)
		return nil, err
	case resync:
		fo, err := s.mustSeeFolder(f.folder.ID)
		if err != nil {
			return nil, err
		}
		return []Update{{Kind: KindResync, ObjectType: typeFolder, ObjectID: fo.ID, Folder: fo}}, nil
	case deleted:
		// The deleted folder may be one above, which the subscriber may not know: name the
		// followed one, which went with it.
		if ok, err := s.canView(f.folder); err != nil || !ok {
			return nil, orNotFound(err, "folder")
		}
		return []Update{{Kind: KindDeleted, ObjectType: typeFolder, ObjectID: f.folder.ID}}, errDone
	case deletedBelow:
		var o storage.Object = &storage.Document{CompanyID: ev.CompanyID, ID: ev.ObjectID, FolderPath: ev.Path}
		if ev.ObjectType == typeFolder {
			o = &storage.Folder{CompanyID: ev.CompanyID, ID: ev.ObjectID, Path: ev.Path}
		}
		if ok, err := s.canView(o); err != nil || !ok {
			return nil, err
		}
		return []Update{{Kind: KindDeleted, ObjectType: ev.ObjectType, ObjectID: ev.ObjectID}}, nil
	case deliver:
		return s.below(f.folder, ev)
	case probe:
		if _, err := s.mustSeeFolder(f.folder.ID); err != nil {
			return nil, err
		}
		if ev.Kind == string(storage.ChangeDeleted) {
			return nil, nil
		}
		return s.below(f.folder, ev)
	}
	return nil, nil
}

// below loads the object of ev, and makes an update of it when the subscriber may view it
// and it lies in (or is) the followed folder. Objects the subscriber may not view are left
// out silently, even their ids.
func (s *stream) below(f *storage.Folder, ev pubsub.Event) ([]Update, error) {
	u := Update{Kind: updateKind(ev.Kind), ObjectType: ev.ObjectType, ObjectID: ev.ObjectID}
	if ev.ObjectType == typeFolder {
		fo, err := s.visibleFolder(ev.ObjectID)
		if err != nil || fo == nil || !strings.HasPrefix(fo.Path, f.Path) {
			return nil, err
		}
		u.Folder = fo
	} else {
		d, err := s.visibleDocument(ev.ObjectID)
		if err != nil || d == nil || !strings.HasPrefix(d.FolderPath, f.Path) {
			return nil, err
		}
		u.Document = d
	}
	return []Update{u}, nil
}

// sharedFollower follows the subscriber's own grants.
type sharedFollower struct {
	// grants are the unexpired grants as last loaded, by the id of the object they are on.
	grants map[string]*storage.Grant
	timer  *time.Timer
}

func (f *sharedFollower) topics(s *stream) []string { return []string{pubsub.UserTopic(s.p.UserID)} }

func (f *sharedFollower) expiry() <-chan time.Time {
	if f.timer == nil {
		return nil
	}
	return f.timer.C
}

func (f *sharedFollower) relevant(*stream, pubsub.Event) bool { return true }

func (f *sharedFollower) handle(s *stream, ev pubsub.Event) ([]Update, error) {
	switch ev.Kind {
	case pubsub.KindResync:
		if err := f.reload(s); err != nil {
			return nil, err
		}
		return []Update{{Kind: KindResync}}, nil
	case kindExpiry:
		before := f.grants
		if err := f.reload(s); err != nil {
			return nil, err
		}
		now := s.h.store.Now()
		var ups []Update
		for id, g := range before {
			if g.ExpiresAt != nil && !g.ExpiresAt.After(now) && f.grants[id] == nil {
				u, err := s.sharing(KindExpired, id, g)
				if err != nil {
					return nil, err
				}
				ups = append(ups, u)
			}
		}
		return ups, nil
	case string(storage.ChangeShared), string(storage.ChangeUnshared):
		if err := f.reload(s); err != nil {
			return nil, err
		}
		kind, g := KindUnshared, f.grants[ev.ObjectID]
		if ev.Kind == string(storage.ChangeShared) {
			if g == nil {
				return nil, nil // taken back again already
			}
			kind = KindShared
		}
		u, err := s.sharing(kind, ev.ObjectID, g)
		if err != nil {
			return nil, err
		}
		if kind == KindUnshared {
			u.Grant = nil
		}
		return []Update{u}, nil
	}
	return nil, nil
}

// reload loads the subscriber's grants and sets the timer for the next one to expire.
func (f *sharedFollower) reload(s *stream) error {
	gs, err := load(s, "grants", func(ctx context.Context) ([]*storage.Grant, error) { return s.h.store.SharedWithMe(ctx) })
	if err != nil {
		return err
	}
	f.grants = make(map[string]*storage.Grant, len(gs))
	var next time.Time
	for _, g := range gs {
		id := ""
		switch {
		case g.FolderID != nil:
			id = *g.FolderID
		case g.DocumentID != nil:
			id = *g.DocumentID
		}
		f.grants[id] = g
		if g.ExpiresAt != nil && (next.IsZero() || g.ExpiresAt.Before(next)) {
			next = *g.ExpiresAt
		}
	}
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	if !next.IsZero() {
		f.timer = time.NewTimer(time.Until(next) + time.Millisecond)
	}
	return nil
}

// sharing makes an update about the grant on one object, with the object as the subscriber
// sees it now (null when it may no longer view it).
func (s *stream) sharing(kind, objectID string, g *storage.Grant) (Update, error) {
	u := Update{Kind: kind, ObjectID: objectID, Grant: g}
	if g != nil && g.FolderID != nil {
		u.ObjectType = typeFolder
		fo, err := s.visibleFolder(objectID)
		u.Folder = fo
		return u, err
	}
	d, err := s.visibleDocument(objectID)
	if err != nil || d != nil {
		u.ObjectType, u.Document = typeDocument, d
		return u, err
	}
	fo, err := s.visibleFolder(objectID)
	if fo != nil {
		u.ObjectType, u.Folder = typeFolder, fo
	}
	return u, err
}

// visibleDocument loads a document as the subscriber; nil when it may not view it.
func (s *stream) visibleDocument(id string) (*storage.Document, error) {
	d, err := s.mustSee(id)
	if errs.KindOf(err) == errs.NotFound {
		return nil, nil
	}
	return d, err
}

// visibleFolder loads a folder as the subscriber; nil when it may not view it.
func (s *stream) visibleFolder(id string) (*storage.Folder, error) {
	f, err := s.mustSeeFolder(id)
	if errs.KindOf(err) == errs.NotFound {
		return nil, nil
	}
	return f, err
}

// mustSee loads a document as the subscriber; NOT_FOUND when it may not view it.
func (s *stream) mustSee(id string) (*storage.Document, error) {
	return load(s, "document "+id, func(ctx context.Context) (*storage.Document, error) { return s.h.store.Document(ctx, id) })
}

// mustSeeFolder loads a folder as the subscriber; NOT_FOUND when it may not view it.
func (s *stream) mustSeeFolder(id string) (*storage.Folder, error) {
	return load(s, "folder "+id, func(ctx context.Context) (*storage.Folder, error) { return s.h.store.Folder(ctx, id) })
}

// comment loads a comment as the subscriber; nil when it may not view it.
func (s *stream) comment(id string) (*storage.Comment, error) {
	return load(s, "comment "+id, func(ctx context.Context) (*storage.Comment, error) {
		cs, err := s.h.store.CommentsByID(ctx, []string{id})
		return cs[id], err
	})
}

// canView tells whether the subscriber may view an object as it is described, deleted or not.
func (s *stream) canView(o storage.Object) (bool, error) {
	return load(s, "rights "+o.ObjectID(), func(ctx context.Context) (bool, error) {
		r, err := s.h.store.Rights(ctx, []storage.Object{o})
		if err != nil {
			return false, err
		}
		return r[0].AtLeast(access.View), nil
	})
}

func orNotFound(err error, what string) error {
	if err != nil {
		return err
	}
	return errs.NotFoundf(what)
}
