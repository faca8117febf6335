package subscribe

import (
	"context"
	"errors"
	"strings"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/pubsub"
	"github.com/laatu/laatu/internal/storage"
)

// Object types of changes, as storage names them.
const (
	typeFolder   = storage.TypeFolder
	typeDocument = storage.TypeDocument
	typeComment  = storage.TypeComment
)

// kindStatusChanged is the wire kind of a document update that changed its status; the other
// wire kinds are storage's change kinds (CREATE, UPDATE, DELETE, RESTORE, SHARE, UNSHARE,
// MEMBER_REMOVED, ...).
const kindStatusChanged = "STATUS_CHANGED"

// ChangeHook returns the storage.ChangeHook that publishes each change with pub, inside the
// writing transaction, carrying ids only:
//   - changes to folders, documents and comments, and grants on folders and documents, go to
//     the topic of the object's company, with the object's folder path so that subscribers to
//     a folder can match what happens below it;
//   - changes that concern users (grants, memberships, disabled accounts) also go to each
//     user's own topic, where that user's streams learn that their access may have changed.
func ChangeHook(pub pubsub.Publisher) storage.ChangeHook {
	return func(ctx context.Context, tx bun.IDB, ch storage.Change, afterCommit func(func())) error {
		evs := events(ch)
		if len(evs) == 0 {
			return nil
		}
		// The local publisher (SQLite) queues its events and hands them over when flush runs.
		// Storage runs afterCommit just after the transaction commits, and never after a
		// rollback (of the transaction or of the savepoint the change was made in). PostgreSQL
		// ignores the queue: it holds notifications until commit itself.
		ctx, flush, _ := pubsub.WithTxQueue(ctx)
		for _, ev := range evs {
			if err := publish(ctx, pub, tx, ev); err != nil {
				return err
			}
		}
		afterCommit(flush)
		return nil
	}
}

// events turns one change into the notifications to publish.
func events(ch storage.Change) []pubsub.Event {
	base := pubsub.Event{Kind: string(ch.Kind), CompanyID: ch.CompanyID, ObjectType: ch.ObjectType, ObjectID: ch.ObjectID}
	var out []pubsub.Event
	switch ch.ObjectType {
	case typeFolder, typeDocument, typeComment:
		base.Path, base.FolderID = ch.Path, lastID(ch.Path)
		if ch.ObjectType == typeDocument && ch.Kind == storage.ChangeUpdated && changedField(ch, "status") {
			base.Kind = kindStatusChanged
		}
		if ch.ObjectType == typeComment {
			base.DocumentID = afterString(ch, "documentId")
		}
		if ch.CompanyID != "" {
			ev := base
			ev.Topic = pubsub.CompanyTopic(ch.CompanyID)
			out = append(out, ev)
		}
	}
	for _, id := range ch.UserIDs {
		ev := base
		ev.Topic = pubsub.UserTopic(id)
		out = append(out, ev)
	}
	return out
}

// publish publishes ev; an event whose folder path is too deep to fit in a notification goes
// without it, and the subscribers look the object up instead.
func publish(ctx context.Context, pub pubsub.Publisher, tx bun.IDB, ev pubsub.Event) error {
	err := pub.Publish(ctx, tx, ev)
	if errors.Is(err, pubsub.ErrTooLarge) && ev.Path != "" {
		ev.Path = ""
		err = pub.Publish(ctx, tx, ev)
	}
	return err
}

func changedField(ch storage.Change, field string) bool {
	for _, f := range ch.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

func afterString(ch storage.Change, field string) string {
	for _, f := range ch.Fields {
		if f.Field == field {
			s, _ := f.After.(string)
			return s
		}
	}
	return ""
}

// lastID returns the last id of a folder path /a/b/c/: the folder itself.
func lastID(path string) string {
	path = strings.TrimSuffix(path, "/")
	return path[strings.LastIndexByte(path, '/')+1:]
}
