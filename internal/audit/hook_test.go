package audit

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

// A change and its event commit together or not at all.
func TestChangeHookSharesTheTransaction(t *testing.T) {
	tdb := testdb.New(t)
	a, stream := newAuditor(t, tdb.App, Options{})
	store := storage.New(tdb.App)
	store.OnChange(a.ChangeHook())
	bg := context.Background()
	u, err := store.CreateUser(bg, storage.NewUser{Email: "ada@example.com", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	co, err := store.CreateCompany(access.AsSystem(bg, ""), "Acme", u.ID) // MEMBER_ADDED, by the system
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithOperation(userCtx(u.ID, co.ID, access.Admin),
		Operation{Type: "mutation", Name: "NewFolder", Hash: "abc", RootFields: []string{"createFolder"}})

	// Rolled back: neither the folder nor its event.
	opCtx, op, err := store.Begin(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := store.CreateFolder(opCtx, storage.NewFolder{Name: "Rolled back"})
	if err != nil {
		t.Fatal(err)
	}
	op.Rollback()
	if _, err := store.Folder(ctx, gone.ID); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("rolled-back folder: %v", err)
	}
	if n := len(chain(t, tdb.Owner, co.ID)); n != 1 {
		t.Fatalf("%d events after rollback, want only MEMBER_ADDED", n)
	}

	// A later hook fails: the change is refused, and its event goes with it.
	failing := storage.New(tdb.App)
	failing.OnChange(a.ChangeHook())
	failing.OnChange(func(context.Context, bun.IDB, storage.Change, func(func())) error { return errors.New("boom") })
	if _, err := failing.CreateFolder(ctx, storage.NewFolder{Name: "Refused"}); err == nil {
		t.Fatal("change succeeded although a hook failed")
	}
	if n := len(chain(t, tdb.Owner, co.ID)); n != 1 {
		t.Fatalf("%d events after a failed change, want 1", n)
	}

	// Committed: both.
	opCtx, op, err = store.Begin(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	f, err := store.CreateFolder(opCtx, storage.NewFolder{Name: "Kept"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(stream.lines(t)); n != 1 {
		t.Fatalf("%d stream lines before commit, want 1 (MEMBER_ADDED)", n)
	}
	if err := op.Commit(); err != nil {
		t.Fatal(err)
	}
	events := chain(t, tdb.Owner, co.ID)
	if len(events) != 2 {
		t.Fatalf("%d events, want 2", len(events))
	}
	added, created := events[0], events[1]
	if added.Action != "MEMBER_ADDED" || added.ActorID != nil || added.PrincipalKind != "SYSTEM" ||
		!reflect.DeepEqual(added.Fields, []Field{{Field: "level", After: "ADMIN"}}) {
		t.Fatalf("MEMBER_ADDED event: %+v", added)
	}
	if created.Action != ActionCreate || created.ObjectType != ObjectFolder || created.ObjectID != f.ID ||
		*created.ActorID != u.ID || created.PrincipalKind != "MEMBER" || created.PrincipalLevel != "ADMIN" ||
		created.ClientIP != "192.0.2.7" || created.RequestID != "req-1" || created.OperationType != "mutation" ||
		created.OperationName != "NewFolder" || created.PrevHash != added.Hash {
		t.Fatalf("CREATE event: %+v", created)
	}
	lines := stream.lines(t)
	if len(lines) != 2 || lines[1]["action"] != ActionCreate || lines[1]["hash"] != created.Hash {
		t.Fatalf("stream after commit: %v", lines)
	}
	if r := mustVerify(t, tdb.App, co.ID); !r.OK() {
		t.Fatal(r)
	}
}

func TestChangeFieldsNamePersonalFieldsOnly(t *testing.T) {
	got := changeFields([]storage.FieldChange{
		{Field: "title", Before: "a", After: "b"},
		{Field: "values.inspector", Before: "Ada", After: "Grace", Personal: true},
	})
	want := []Field{{Field: "title", Before: "a", After: "b"}, {Field: "values.inspector", Personal: true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
