package storage

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/uptrace/bun"
)

// ChangeKind says what happened to an object.
type ChangeKind string

// The change kinds, also the audit actions of changes.
const (
	ChangeCreated  ChangeKind = "CREATE"
	ChangeUpdated  ChangeKind = "UPDATE"
	ChangeDeleted  ChangeKind = "DELETE"
	ChangeRestored ChangeKind = "RESTORE"
	ChangeShared   ChangeKind = "SHARE"
	ChangeUnshared ChangeKind = "UNSHARE"
)

// Change describes one committed-to-be change, for the audit log and for subscribers.
type Change struct {
	Kind       ChangeKind
	CompanyID  string
	ObjectType string
	ObjectID   string
	// Path is the folder path the object lives under (a folder's own path), so that folder
	// subscribers can match changes below them.
	Path string
	// Fields are the changed fields, with values before and after where they may be copied.
	Fields []FieldChange
	// UserIDs are users whose access changed (grants), for sharedWithMe subscribers.
	UserIDs []string
	// GrantID is the grant that admitted the caller to the object, when the caller acts as a
	// guest of the change's company (see Store.AdmittingGrants); empty for members, the system and
	// anonymous callers. emit fills it in unless the change names it already.
	GrantID string
}

// FieldChange is one changed field. Before and After are empty for personal fields, whose
// values are never copied out of the object.
type FieldChange struct {
	Field    string `json:"field"`
	Before   any    `json:"before,omitempty"`
	After    any    `json:"after,omitempty"`
	Personal bool   `json:"personal,omitempty"`
}

// ChangeHook runs inside the writing transaction for every change: the audit log writes its
// event there, and the publisher queues its notification. An error aborts the change.
type ChangeHook func(ctx context.Context, tx bun.IDB, ch Change, afterCommit func(func())) error

// OnChange adds a hook. It is called during wiring, before the store serves requests.
func (s *Store) OnChange(h ChangeHook) { s.hooks = append(s.hooks, h) }

func (c *conn) changed(ctx context.Context, kind ChangeKind, o Object, fields ...FieldChange) error {
	return c.emit(ctx, Change{Kind: kind, CompanyID: o.ObjectCompanyID(), ObjectType: o.ObjectType(), ObjectID: o.ObjectID(),
		Path: o.ObjectPath(), Fields: fields})
}

func (c *conn) emit(ctx context.Context, ch Change) error {
	// The hooks append to the change's company (its audit chain); row-level security must let
	// them read and write there for the duration, whichever company the caller acts in.
	if ch.CompanyID != "" && ch.CompanyID != c.p.CompanyID {
		if err := c.s.setTenant(ctx, c.db, ch.CompanyID, c.p.UserID); err != nil {
			return err
		}
		defer func() { _ = c.s.setTenant(context.WithoutCancel(ctx), c.db, c.p.CompanyID, c.p.UserID) }()
	}
	if ch.GrantID == "" {
		// Only a guest pays for this query, in the change's own transaction, which sees the
		// object as the change leaves it (a new document, a deleted one).
		ref := ObjectRef{Type: ch.ObjectType, ID: ch.ObjectID}
		by, err := c.admittingGrants(ctx, ch.CompanyID, []ObjectRef{ref})
		if err != nil {
			return fmt.Errorf("%s %s: admitting grant: %w", ch.Kind, ch.ObjectType, err)
		}
		ch.GrantID = by[ref]
	}
	for _, h := range c.s.hooks {
		if err := h(ctx, c.db, ch, c.afterCommit); err != nil {
			return fmt.Errorf("%s %s: %w", ch.Kind, ch.ObjectType, err)
		}
	}
	return nil
}

// saveVersion keeps the state of an object before a change, so that it can be restored.
func (c *conn) saveVersion(ctx context.Context, objectType, objectID, companyID string, version int, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("save version: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("save version: %w", err)
	}
	v := &ObjectVersion{CompanyID: companyID, ID: NewID(), ObjectType: objectType, ObjectID: objectID,
		Version: version, Data: m, CreatedAt: c.now}
	if c.p.UserID != "" {
		v.ActorID = &c.p.UserID
	}
	if _, err := c.db.NewInsert().Model(v).Exec(ctx); err != nil {
		return fmt.Errorf("save version: %w", err)
	}
	return nil
}

// Emit sends an event that is not a change of a stored object (a login, a denied attempt)
// through the change hooks, so that it is audited like one. Within a mutation it joins the
// operation's transaction in a savepoint of its own: it commits with the operation even when
// the field that emitted it fails, and it never waits for a lock that transaction holds (on
// SQLite the one writer). Within a query, whose transaction is read-only, it writes in a
// transaction of its own.
func (s *Store) Emit(ctx context.Context, ch Change) error {
	if op, ok := ctx.Value(opKey{}).(*Op); ok && op.readOnly {
		ctx = context.WithValue(ctx, opKey{}, (*Op)(nil))
	}
	return s.write(ctx, func(c *conn) error { return c.emit(ctx, ch) })
}
