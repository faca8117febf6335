package e2e

// Signing (issue 14): signers, signDocument, the freeze, voiding, verification, viewerCan.sign
// and the SIGN audit event, through the real API. Helpers start with s.

import (
	"testing"

	"github.com/laatu/laatu/internal/testserver"
)

const sDocFields = `id version status contentHash viewerCan { sign }
	signers { user { id } signed }
	signatures { id version contentHash valid voidedAt signer { id } }`

type sDoc struct {
	ID          string
	Version     int
	Status      string
	ContentHash string
	ViewerCan   struct{ Sign bool }
	Signers     []struct {
		User   struct{ ID string }
		Signed bool
	}
	Signatures []struct {
		ID, ContentHash string
		Version         int
		Valid           bool
		VoidedAt        *string
		Signer          struct{ ID string }
	}
}

func sRead(t *testing.T, w *aWorld, who aWho, id string) sDoc {
	t.Helper()
	var data struct{ Document sDoc }
	w.mustOK(t, who, `query($id: ID!) { document(id: $id) { `+sDocFields+` } }`, map[string]any{"id": id}, &data)
	return data.Document
}

func sCode(t *testing.T, w *aWorld, who aWho, query string, vars map[string]any, code string) {
	t.Helper()
	fOne(t, w.do(t, who, query, vars, nil), code)
}

const (
	sSign       = `mutation($id: ID!, $v: Int!) { signDocument(id: $id, expectedVersion: $v) { id version contentHash valid signer { id } } }`
	sSetSigners = `mutation($id: ID!, $u: [ID!]!) { setSigners(documentId: $id, userIds: $u) { id } }`
	sUpdate     = `mutation($id: ID!, $in: UpdateDocumentInput!) { updateDocument(id: $id, input: $in) { id version status } }`
)

func TestSigning(t *testing.T) {
	w := aNewWorld(t)
	guest, member := w.users[aEmail[aGView]], w.users[aEmail[aMember]]

	// A manager makes an inspection in Harbour Tower (which the VIEW guest sees) and submits it.
	doc := fCreateDocument(t, w.s, w.tokens[aManager], w.folders["Acme Construction/Harbour Tower"],
		w.templates["Acme Construction/Site inspection"], "Inspection — Pyhäjärvi, Straße 5",
		map[string]any{"inspector": "Päivi Größ", "date": "2026-12-01", "scaffoldingOk": true, "temperature": 1.5})
	d := sRead(t, w, aManager, doc)

	// Setting signers needs MANAGE; a signer must be able to view the document, and a user who
	// cannot is answered like one that does not exist.
	sCode(t, w, aMember, sSetSigners, map[string]any{"id": doc, "u": []string{member}}, "FORBIDDEN")
	sCode(t, w, aBAdmin, sSetSigners, map[string]any{"id": doc, "u": []string{member}}, "NOT_FOUND")
	sCode(t, w, aManager, sSetSigners, map[string]any{"id": doc, "u": []string{w.users[aEmail[aBAdmin]]}}, "BAD_USER_INPUT")
	sCode(t, w, aManager, sSetSigners, map[string]any{"id": doc, "u": []string{"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}}, "BAD_USER_INPUT")
	w.mustOK(t, aManager, sSetSigners, map[string]any{"id": doc, "u": []string{guest, member}}, nil)

	// A DRAFT is not signed; nobody may sign it yet.
	if sRead(t, w, aGView, doc).ViewerCan.Sign {
		t.Fatal("viewerCan.sign on a DRAFT")
	}
	sCode(t, w, aGView, sSign, map[string]any{"id": doc, "v": d.Version}, "BAD_USER_INPUT")

	var up struct{ UpdateDocument struct{ Version int } }
	w.mustOK(t, aManager, sUpdate, map[string]any{"id": doc, "in": map[string]any{"expectedVersion": d.Version, "status": "SUBMITTED"}}, &up)
	v := up.UpdateDocument.Version

	// viewerCan.sign answers access.MaySign: the listed signers, not the others.
	for who, want := range map[aWho]bool{aGView: true, aMember: true, aManager: false, aAdmin: false} {
		if got := sRead(t, w, who, doc).ViewerCan.Sign; got != want {
			t.Errorf("%s: viewerCan.sign = %v, want %v", who, got, want)
		}
	}

	// Signing: the version seen, as a signer, once per content; others are refused.
	sCode(t, w, aGView, sSign, map[string]any{"id": doc, "v": v - 1}, "CONFLICT")
	sCode(t, w, aAdmin, sSign, map[string]any{"id": doc, "v": v}, "FORBIDDEN")
	sCode(t, w, aBAdmin, sSign, map[string]any{"id": doc, "v": v}, "NOT_FOUND")
	sCode(t, w, aGExpired, sSign, map[string]any{"id": doc, "v": v}, "NOT_FOUND")
	var signed struct {
		SignDocument struct {
			ID, ContentHash string
			Version         int
			Valid           bool
			Signer          struct{ ID string }
		}
	}
	w.mustOK(t, aGView, sSign, map[string]any{"id": doc, "v": v}, &signed)
	sig := signed.SignDocument
	now := sRead(t, w, aManager, doc)
	if sig.Version != v || !sig.Valid || sig.Signer.ID != guest || sig.ContentHash != now.ContentHash || len(sig.ContentHash) != 64 {
		t.Fatalf("signature %+v, document hash %s", sig, now.ContentHash)
	}
	if now.Version != v {
		t.Fatalf("signing changed the document's version: %d, want %d", now.Version, v)
	}
	sCode(t, w, aGView, sSign, map[string]any{"id": doc, "v": v}, "CONFLICT")
	if sRead(t, w, aGView, doc).ViewerCan.Sign {
		t.Error("viewerCan.sign after signing")
	}

	// The SIGN event is in the audit log, with where it came from.
	var events []struct {
		Actor string `bun:"actor_id"`
		IP    string `bun:"client_ip"`
	}
	aSQL(t, w.s, &events, "SELECT actor_id, client_ip FROM audit_events WHERE action = 'SIGN' AND object_id = ?", doc)
	if len(events) != 1 || events[0].Actor != guest || events[0].IP == "" {
		t.Fatalf("SIGN audit events %+v", events)
	}
	var ips []string
	aSQL(t, w.s, &ips, "SELECT client_ip FROM signatures WHERE id = ?", sig.ID)
	if len(ips) != 1 || ips[0] == "" {
		t.Fatalf("signature client ip %v", ips)
	}

	// Frozen: the content cannot change while signed.
	sCode(t, w, aManager, sUpdate, map[string]any{"id": doc, "in": map[string]any{"expectedVersion": v, "values": map[string]any{"notes": "late"}}}, "CONFLICT")
	sCode(t, w, aManager, sUpdate, map[string]any{"id": doc, "in": map[string]any{"expectedVersion": v, "title": "Renamed"}}, "CONFLICT")

	// Back to DRAFT voids the signature; after changing and resubmitting, signing starts over.
	w.mustOK(t, aManager, sUpdate, map[string]any{"id": doc, "in": map[string]any{"expectedVersion": v, "status": "DRAFT"}}, &up)
	voided := sRead(t, w, aManager, doc)
	if len(voided.Signatures) != 1 || voided.Signatures[0].Valid || voided.Signatures[0].VoidedAt == nil || voided.Signers[0].Signed {
		t.Fatalf("after DRAFT: %+v", voided)
	}
	w.mustOK(t, aManager, sUpdate, map[string]any{"id": doc, "in": map[string]any{"expectedVersion": up.UpdateDocument.Version,
		"values": map[string]any{"notes": "Fixed the railing."}, "status": "SUBMITTED"}}, &up)
	v = up.UpdateDocument.Version
	w.mustOK(t, aGView, sSign, map[string]any{"id": doc, "v": v}, nil)
	w.mustOK(t, aMember, sSign, map[string]any{"id": doc, "v": v}, nil)

	// Approving keeps the content, and so the signatures.
	w.mustOK(t, aManager, sUpdate, map[string]any{"id": doc, "in": map[string]any{"expectedVersion": v, "status": "APPROVED"}}, &up)
	final := sRead(t, w, aAdmin, doc)
	valid := 0
	for _, s := range final.Signatures {
		if s.Valid {
			valid++
		}
	}
	if final.Status != "APPROVED" || len(final.Signatures) != 3 || valid != 2 || !final.Signers[0].Signed || !final.Signers[1].Signed {
		t.Fatalf("approved: %+v", final)
	}

	// Verification recomputes the hash: content changed behind the API's back shows as invalid.
	aExec(t, w.s, "UPDATE documents SET title = 'Tampered' WHERE id = ?", doc)
	for _, s := range sRead(t, w, aAdmin, doc).Signatures {
		if s.Valid {
			t.Fatalf("signature %s still valid after tampering", s.ID)
		}
	}
}

// TestSigningHashIsStable checks that a document's content hash survives the stores' round
// trip of values (numbers, text with non-ASCII letters) and differs when the content does.
func TestSigningHashIsStable(t *testing.T) {
	s := testserver.New(t)
	manager := s.Login(t, "manager@acme.test")
	folders, templates := fFolders(t, s, manager), fTemplates(t, s, manager)
	values := map[string]any{"inspector": "Åsa Öberg", "date": "2026-12-02", "scaffoldingOk": false, "temperature": 1e21, "notes": "ß ä ö ü"}
	a := fCreateDocument(t, s, manager, folders["Harbour Tower"], templates["Site inspection"], "Stable", values)
	b := fCreateDocument(t, s, manager, folders["Harbour Tower"], templates["Site inspection"], "Stable", values)
	var data struct {
		A, B struct{ ContentHash string }
	}
	fOK(t, s, manager, `query($a: ID!, $b: ID!) { a: document(id: $a) { contentHash } b: document(id: $b) { contentHash } }`,
		map[string]any{"a": a, "b": b}, &data)
	var again struct{ A struct{ ContentHash string } }
	fOK(t, s, manager, `query($a: ID!) { a: document(id: $a) { contentHash } }`, map[string]any{"a": a}, &again)
	if data.A.ContentHash == "" || data.A.ContentHash != again.A.ContentHash {
		t.Fatalf("hash not stable: %q then %q", data.A.ContentHash, again.A.ContentHash)
	}
	if data.A.ContentHash == data.B.ContentHash {
		t.Fatal("two documents hash the same: the hash must cover the document's identity")
	}
}
