package e2e

// PDF print (issue 14): GET /documents/{id}/pdf re-checks VIEW through the store, answers a
// document the caller may not view exactly as one that does not exist, and is audited as
// EXPORT. Helpers start with pdf.

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/laatu/laatu/internal/api"
	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testserver"
)

type pdfAnswer struct {
	Status int
	Header http.Header
	Body   []byte
}

func pdfGet(t *testing.T, s *testserver.Server, token, id string) pdfAnswer {
	t.Helper()
	return pdfGetIn(t, s, token, "", id)
}

// pdfGetIn downloads a document's PDF acting in company (X-Company-ID) when it is set.
func pdfGetIn(t *testing.T, s *testserver.Server, token, company, id string) pdfAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+"/documents/"+id+"/pdf", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if company != "" {
		req.Header.Set("X-Company-ID", company)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return pdfAnswer{Status: res.StatusCode, Header: res.Header, Body: body}
}

func TestDocumentPDF(t *testing.T) {
	s := testserver.New(t)
	member := s.Login(t, "member@acme.test")
	admin := s.Login(t, "admin@acme.test")
	beta := s.Login(t, "member@beta.test")

	var data struct {
		Documents struct {
			Nodes []struct{ ID, Title, PdfURL string }
		}
	}
	fOK(t, s, member, `{ documents(first: 1) { nodes { id title pdfUrl } } }`, nil, &data)
	if len(data.Documents.Nodes) == 0 {
		t.Fatal("the member sees no demo document")
	}
	doc := data.Documents.Nodes[0]
	if want := "/documents/" + doc.ID + "/pdf"; doc.PdfURL != want {
		t.Errorf("pdfUrl %q, want %q", doc.PdfURL, want)
	}

	// The member downloads it.
	got := pdfGet(t, s, member, doc.ID)
	if got.Status != http.StatusOK {
		t.Fatalf("member: status %d: %s", got.Status, got.Body)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := got.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	cd := got.Header.Get("Content-Disposition")
	if !strings.HasPrefix(cd, `attachment; filename="`) || !strings.Contains(cd, `.pdf"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if !bytes.HasPrefix(got.Body, []byte("%PDF-")) || len(got.Body) < 1000 {
		t.Fatalf("body is not a PDF (%d bytes): %q", len(got.Body), got.Body[:min(len(got.Body), 64)])
	}

	// Another company's user, and anyone for an unknown or malformed id: the same 404.
	absent := pdfGet(t, s, member, storage.NewID())
	for name, a := range map[string]pdfAnswer{
		"other company": pdfGet(t, s, beta, doc.ID),
		"unknown id":    absent,
		"malformed id":  pdfGet(t, s, member, "not-an-id"),
	} {
		if a.Status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404: %s", name, a.Status, a.Body)
		}
		if !bytes.Equal(a.Body, absent.Body) || a.Header.Get("Content-Type") != absent.Header.Get("Content-Type") {
			t.Errorf("%s: answer %q differs from an absent document's %q", name, a.Body, absent.Body)
		}
	}

	// No token, or a bad one: 401.
	for name, tok := range map[string]string{"no token": "", "bad token": "not-a-session"} {
		if a := pdfGet(t, s, tok, doc.ID); a.Status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401: %s", name, a.Status, a.Body)
		}
	}

	// Beta's user's probe is recorded in Beta's log, as through /graphql.
	if ev := aeEvents(t, s, s.Login(t, "admin@beta.test"), map[string]any{"object": doc.ID, "action": "ACCESS_DENIED"}); len(ev) != 1 {
		t.Errorf("%d ACCESS_DENIED events in Beta for the probe, want 1", len(ev))
	}

	// The download is in the audit log, as EXPORT of the document by the member.
	memberID := aeViewer(t, s, member)
	events := aeEvents(t, s, admin, map[string]any{"object": doc.ID, "action": "EXPORT"})
	if len(events) != 1 {
		t.Fatalf("%d EXPORT events for the document, want 1: %+v", len(events), events)
	}
	if e := events[0]; e.ActorID == nil || *e.ActorID != memberID || e.ObjectType != "DOCUMENT" {
		t.Errorf("EXPORT event %+v, want the member's on a DOCUMENT", e)
	}
}

// TestDocumentPDFGuest: a guest prints a document under a folder shared with it, and the
// EXPORT event names the grant that admitted it; a document it holds no grant on is 404.
func TestDocumentPDFGuest(t *testing.T) {
	s := testserver.New(t)
	guest := s.Login(t, "guest@partner.test")
	admin := s.Login(t, "admin@acme.test")
	member := s.Login(t, "member@acme.test")
	acme := s.Demo.Companies["Acme Construction"]

	var data struct {
		Documents struct {
			Nodes []struct {
				ID      string
				Company struct{ ID string }
			}
		}
	}
	res := s.Do(t, testserver.Request{Token: guest, Company: acme, Query: `{ documents(first: 100) { nodes { id company { id } } } }`}, &data)
	testserver.MustOK(t, res)
	shared := map[string]bool{}
	var doc string
	for _, d := range data.Documents.Nodes {
		shared[d.ID] = true
		if d.Company.ID == acme && doc == "" {
			doc = d.ID
		}
	}
	if doc == "" {
		t.Fatal("the guest sees no Acme document")
	}
	if got := pdfGetIn(t, s, guest, acme, doc); got.Status != http.StatusOK || !bytes.HasPrefix(got.Body, []byte("%PDF-")) {
		t.Fatalf("guest: status %d: %.200s", got.Status, got.Body)
	}
	events := aeEvents(t, s, admin, map[string]any{"object": doc, "action": "EXPORT"})
	if len(events) != 1 || events[0].GrantID == "" {
		t.Fatalf("EXPORT events %+v, want one naming the guest's grant", events)
	}

	// A document of Acme's outside what is shared with the guest.
	var all struct {
		Documents struct{ Nodes []struct{ ID string } }
	}
	fOK(t, s, member, `{ documents(first: 100) { nodes { id } } }`, nil, &all)
	for _, d := range all.Documents.Nodes {
		if shared[d.ID] {
			continue
		}
		if got := pdfGetIn(t, s, guest, acme, d.ID); got.Status != http.StatusNotFound {
			t.Errorf("guest, unshared document: status %d, want 404", got.Status)
		}
		return
	}
	t.Fatal("every Acme document the member sees is shared with the guest")
}

// TestDocumentPDFSigned: a signed document prints, and its print carries more than the same
// document's before signing (the signature block).
func TestDocumentPDFSigned(t *testing.T) {
	w := aNewWorld(t)
	member := w.users[aEmail[aMember]]
	doc := fCreateDocument(t, w.s, w.tokens[aManager], w.folders["Acme Construction/Harbour Tower"],
		w.templates["Acme Construction/Site inspection"], "Tarkastus — Pyhäjärvi, Straße 5",
		map[string]any{"inspector": "Päivi Größ", "date": "2026-12-01", "scaffoldingOk": true, "temperature": 1.5})
	w.mustOK(t, aManager, sSetSigners, map[string]any{"id": doc, "u": []string{member}}, nil)
	var up struct{ UpdateDocument struct{ Version int } }
	w.mustOK(t, aManager, sUpdate, map[string]any{"id": doc, "in": map[string]any{"expectedVersion": sRead(t, w, aManager, doc).Version, "status": "SUBMITTED"}}, &up)
	before := pdfGet(t, w.s, w.tokens[aMember], doc)
	w.mustOK(t, aMember, sSign, map[string]any{"id": doc, "v": up.UpdateDocument.Version}, nil)
	after := pdfGet(t, w.s, w.tokens[aMember], doc)
	for name, a := range map[string]pdfAnswer{"before signing": before, "after signing": after} {
		if a.Status != http.StatusOK || !bytes.HasPrefix(a.Body, []byte("%PDF-")) {
			t.Fatalf("%s: status %d: %.200s", name, a.Status, a.Body)
		}
	}
	if len(after.Body) <= len(before.Body) {
		t.Errorf("signed print is %d bytes, unsigned %d: the signature block is missing", len(after.Body), len(before.Body))
	}
	if cd := after.Header.Get("Content-Disposition"); !strings.Contains(cd, "filename*=UTF-8''Tarkastus%20%E2%80%94%20Pyh%C3%A4j%C3%A4rvi") {
		t.Errorf("Content-Disposition %q", cd)
	}
}

// TestDocumentPDFRateLimited: downloads are charged to the caller's budget of /graphql; over
// it, 429 RATE_LIMITED with Retry-After.
func TestDocumentPDFRateLimited(t *testing.T) {
	s := testserver.New(t, func(c *config.Config) {
		// The bucket holds a little more than one download and earns one back in 10 s.
		c.RateLimitUser, c.RateLimitUserBurst = 1, api.PDFCost+api.PDFCost/2
		c.RateLimitCompany, c.RateLimitIP = 0, 0
	})
	member := s.Login(t, "member@acme.test")
	var data struct {
		Documents struct{ Nodes []struct{ ID string } }
	}
	fOK(t, s, member, `{ documents(first: 1) { nodes { id } } }`, nil, &data)
	if len(data.Documents.Nodes) == 0 {
		t.Fatal("the member sees no demo document")
	}
	id := data.Documents.Nodes[0].ID
	if got := pdfGet(t, s, member, id); got.Status != http.StatusOK {
		t.Fatalf("first download: status %d: %s", got.Status, got.Body)
	}
	got := pdfGet(t, s, member, id)
	if got.Status != http.StatusTooManyRequests || got.Header.Get("Retry-After") == "" ||
		!bytes.Contains(got.Body, []byte(`"RATE_LIMITED"`)) {
		t.Fatalf("second download: status %d, Retry-After %q: %s", got.Status, got.Header.Get("Retry-After"), got.Body)
	}
}
