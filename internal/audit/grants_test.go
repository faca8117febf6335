package audit

import (
	"cmp"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

// The audit log's object types are the ones storage answers for: a view is looked up under
// the type it was collected with.
func TestViewTypesAreStorageRefTypes(t *testing.T) {
	for audit, ref := range map[string]string{ObjectFolder: storage.RefFolder, ObjectDocument: storage.RefDocument,
		ObjectComment: storage.RefComment, ObjectTemplate: storage.RefTemplate} {
		if audit != ref {
			t.Errorf("audit names %q what storage names %q", audit, ref)
		}
	}
}

// A guest's VIEW events name the grant that admitted it, asked once per company where it is a
// guest and never where it is a member; the grant is part of the hashed chain.
func TestViewEventsNameTheAdmittingGrant(t *testing.T) {
	tdb := testdb.New(t)
	own, guestOf, guestOf2 := newID(), newID(), newID()
	doc, tmpl, folder, unreached, ownDoc := newID(), newID(), newID(), newID(), newID()
	var mu sync.Mutex
	asked := map[string][]storage.ObjectRef{}
	grants := func(ctx context.Context, company string, refs []storage.ObjectRef) (map[storage.ObjectRef]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if _, again := asked[company]; again {
			t.Errorf("asked twice for company %s", company)
		}
		asked[company] = refs
		return map[storage.ObjectRef]string{
			{Type: ObjectDocument, ID: doc}:    "grant-on-doc",
			{Type: ObjectTemplate, ID: tmpl}:   "grant-on-doc",
			{Type: ObjectFolder, ID: folder}:   "grant-on-folder",
			{Type: ObjectDocument, ID: ownDoc}: "must not be asked",
		}, nil
	}
	a, stream := newAuditor(t, tdb.App, Options{Grants: grants})

	c := NewCollector()
	c.Add(guestOf, ObjectDocument, doc, "title")
	c.Add(guestOf, ObjectTemplate, tmpl, "name")
	c.Add(guestOf, ObjectDocument, unreached, "title")
	c.Add(guestOf2, ObjectFolder, folder, "name")
	c.Add(own, ObjectDocument, ownDoc, "title")
	ctx := userCtx(newID(), own, access.Member) // a member of own, a guest of the others
	if err := a.Flush(ctx, c); err != nil {
		t.Fatal(err)
	}

	if _, ok := asked[own]; ok {
		t.Errorf("asked for the grants of a member's views: %v", asked[own])
	}
	wantAsked := []storage.ObjectRef{{Type: ObjectDocument, ID: doc}, {Type: ObjectDocument, ID: unreached}, {Type: ObjectTemplate, ID: tmpl}}
	slices.SortFunc(wantAsked, compareRefs)
	gotAsked := slices.SortedFunc(slices.Values(asked[guestOf]), compareRefs)
	if !reflect.DeepEqual(gotAsked, wantAsked) || len(asked[guestOf2]) != 1 {
		t.Errorf("asked %v", asked)
	}

	grantOf := func(company string) map[string]string {
		out := map[string]string{}
		for _, e := range chain(t, tdb.Owner, company) {
			out[e.ObjectID] = e.GrantID
			if company != own && e.PrincipalKind != string(access.KindGuest) {
				t.Errorf("%s in a guest's company recorded as %s", e.ObjectID, e.PrincipalKind)
			}
		}
		return out
	}
	if got, want := grantOf(guestOf), map[string]string{doc: "grant-on-doc", tmpl: "grant-on-doc", unreached: ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("guest's views: %v, want %v", got, want)
	}
	if got, want := grantOf(guestOf2), map[string]string{folder: "grant-on-folder"}; !reflect.DeepEqual(got, want) {
		t.Errorf("guest's views in the other company: %v, want %v", got, want)
	}
	if got, want := grantOf(own), map[string]string{ownDoc: ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("member's view: %v, want %v", got, want)
	}
	for _, company := range []string{guestOf, guestOf2, own} {
		if r := mustVerify(t, tdb.App, company); !r.OK() {
			t.Fatal(r)
		}
	}
	var streamed int
	for _, l := range stream.lines(t) {
		if l["object_id"] == doc && l["grant_id"] == "grant-on-doc" {
			streamed++
		}
	}
	if streamed != 1 {
		t.Errorf("the stream carries the grant of the document's view %d times, want once", streamed)
	}
}

func compareRefs(a, b storage.ObjectRef) int {
	return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.ID, b.ID))
}

// When the grants cannot be read, the flush fails and writes nothing: a guest's view is not
// recorded without the grant that admitted it.
func TestViewGrantsFailClosed(t *testing.T) {
	tdb := testdb.New(t)
	boom := errors.New("grants unreadable")
	a, _ := newAuditor(t, tdb.App, Options{Grants: func(context.Context, string, []storage.ObjectRef) (map[storage.ObjectRef]string, error) {
		return nil, boom
	}})
	company := newID()
	c := NewCollector()
	c.Add(company, ObjectDocument, newID(), "title")
	if err := a.Flush(userCtx(newID(), newID(), access.Admin), c); !errors.Is(err, boom) {
		t.Fatalf("flush: %v, want the lookup's error", err)
	}
	if n := len(chain(t, tdb.Owner, company)); n != 0 {
		t.Fatalf("%d events written although the lookup failed", n)
	}
}

// ChangeHook copies the grant that storage named in the change into the event.
func TestChangeEventNamesTheGrant(t *testing.T) {
	tdb := testdb.New(t)
	a, _ := newAuditor(t, tdb.App, Options{})
	store := storage.New(tdb.App)
	store.OnChange(a.ChangeHook())
	company, doc := newID(), newID()
	ctx := userCtx(newID(), newID(), access.Member)
	err := store.Emit(ctx, storage.Change{Kind: ActionAccessDenied, CompanyID: company, ObjectType: ObjectDocument,
		ObjectID: doc, GrantID: "the-grant"})
	if err != nil {
		t.Fatal(err)
	}
	events := chain(t, tdb.Owner, company)
	if len(events) != 1 || events[0].GrantID != "the-grant" || events[0].ObjectID != doc {
		t.Fatalf("events %+v, want one naming the grant", events)
	}
}
