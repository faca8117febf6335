package e2e

// Security follow-ups (issue 17): what production tells a prober, caps on arguments, and the
// small leaks found by black-box probes.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/testserver"
)

// TestSecurityProdSuggestsNothing: with introspection off, no validation error names a field,
// argument, type, input field or enum value that the query did not name.
func TestSecurityProdSuggestsNothing(t *testing.T) {
	t.Parallel()
	dev := testserver.New(t)
	prod := testserver.NewOn(t, dev.DB, func(c *config.Config) { c.Mode = config.Prod; c.Playground = false })
	token := dev.Login(t, "admin@acme.test")
	probes := map[string]string{
		"field":       `{ folderz { totalCount } }`,
		"argument":    `{ documents(firs: 1) { totalCount } }`,
		"type":        `query($f: DocumentFiltr) { documents(filter: $f) { totalCount } }`,
		"input field": `{ documents(filter: {statu: [DRAFT]}) { totalCount } }`,
		"enum value":  `{ documents(filter: {status: [DRAF]}) { totalCount } }`,
		"leaf":        `{ viewer }`,
	}
	for name, q := range probes {
		// Dev still helps: the probe is one that suggests where suggestions are on.
		res := dev.Do(t, testserver.Request{Query: q, Token: token}, nil)
		if len(res.Errors) == 0 {
			t.Fatalf("%s: dev accepted %s", name, q)
		}
		res = prod.Do(t, testserver.Request{Query: q, Token: token}, nil)
		if len(res.Errors) == 0 {
			t.Fatalf("%s: prod accepted %s", name, q)
		}
		for _, e := range res.Errors {
			if strings.Contains(e.Message, "Did you mean") {
				t.Errorf("prod suggests for a wrong %s: %q", name, e.Message)
			}
		}
	}
}

// TestSecurityListAndAliasCaps: a list argument holds at most 100 items, written in the query or
// sent as a variable, and aliases of __typename count toward the alias limit.
func TestSecurityListAndAliasCaps(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	token := s.Login(t, "admin@acme.test")
	list := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = "DRAFT"
		}
		return out
	}
	q := `query($s: [DocumentStatus!]) { documents(filter: {status: $s}) { totalCount } }`
	fOK(t, s, token, q, map[string]any{"s": list(100)}, nil)
	e := fFail(t, s, token, q, map[string]any{"s": list(101)}, "BAD_USER_INPUT")
	if !strings.Contains(e.Message, "limit is 100") {
		t.Errorf("101 items as a variable: %q", e.Message)
	}
	literal := `{ documents(filter: {status: [` + strings.Repeat("DRAFT ", 101) + `]}) { totalCount } }`
	fFail(t, s, token, literal, nil, "BAD_USER_INPUT")

	var b strings.Builder
	b.WriteString("{ viewer { ")
	for i := range 31 {
		fmt.Fprintf(&b, "t%d: __typename ", i)
	}
	b.WriteString("} }")
	e = fFail(t, s, token, b.String(), nil, "BAD_USER_INPUT")
	if !strings.Contains(e.Message, "aliases") {
		t.Errorf("31 aliases of __typename: %q", e.Message)
	}
}

// TestSecurityNULBytes: a NUL byte in a string answers BAD_USER_INPUT, as a variable or written
// in the query, and nothing reaches the database.
func TestSecurityNULBytes(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	token := s.Login(t, "admin@acme.test")
	fFail(t, s, token, `mutation($n: String!) { createFolder(input: {name: $n}) { id } }`,
		map[string]any{"n": "a\x00b"}, "BAD_USER_INPUT")
	fFail(t, s, token, `mutation { createFolder(input: {name: "a\u0000b"}) { id } }`, nil, "BAD_USER_INPUT")
	var n int
	aSQL(t, s, &n, `SELECT count(*) FROM folders WHERE name LIKE 'a%b'`)
	if n != 0 {
		t.Errorf("%d folders named with a NUL byte", n)
	}
}

// TestSecurityJSONCharset: every JSON answer names its charset, from gqlgen's transports and
// from the edge alike.
func TestSecurityJSONCharset(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	for name, req := range map[string]func() (*http.Response, error){
		"POST": func() (*http.Response, error) {
			return http.Post(s.URL+"/graphql", "application/json", strings.NewReader(`{"query":"{ viewer { level } }"}`))
		},
		"POST graphql-response": func() (*http.Response, error) {
			r, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(`{"query":"{ viewer { level } }"}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Accept", "application/graphql-response+json")
			return http.DefaultClient.Do(r)
		},
		"GET": func() (*http.Response, error) {
			return http.Get(s.URL + "/graphql?query=" + url.QueryEscape("{ viewer { level } }"))
		},
		"bad GET": func() (*http.Response, error) { return http.Get(s.URL + "/graphql?query=%zz") },
		"healthz": func() (*http.Response, error) { return http.Get(s.URL + "/healthz") },
	} {
		res, err := req()
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if ct := res.Header.Get("Content-Type"); !strings.HasSuffix(ct, "; charset=utf-8") || !strings.Contains(ct, "json") {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
	}
}

// TestSecurityDeniedWritesAudited: a denied write on an existing object of a company leaves an
// ACCESS_DENIED event that the company's ADMINs read, whoever tried: a guest writing to objects
// it cannot see (it has no active company), a member writing above its level.
func TestSecurityDeniedWritesAudited(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	admin := s.Login(t, "admin@acme.test")
	guest := s.Login(t, "guest@partner.test")
	member := s.Login(t, "member@acme.test")
	folders := fFolders(t, s, admin)
	hidden := folders["HR & Safety"]
	var docs struct {
		Documents struct{ Nodes []struct{ ID string } }
	}
	fOK(t, s, admin, `query($f: ID) { documents(filter: {folderId: $f}) { nodes { id } } }`, map[string]any{"f": hidden}, &docs)
	if hidden == "" || len(docs.Documents.Nodes) == 0 {
		t.Fatal("no document in the restricted demo folder")
	}
	doc := docs.Documents.Nodes[0].ID
	writes := []struct {
		who, query string
		vars       map[string]any
		object     string
	}{
		{guest, `mutation($id: ID!) { updateDocument(id: $id, input: {expectedVersion: 1, title: "x"}) { id } }`, map[string]any{"id": doc}, doc},
		{guest, `mutation($id: ID!) { deleteDocument(id: $id) { id } }`, map[string]any{"id": doc}, doc},
		{guest, `mutation($id: ID!) { updateFolder(id: $id, input: {name: "x"}) { id } }`, map[string]any{"id": hidden}, hidden},
		{member, `mutation($id: ID!) { restoreDocument(id: $id) { id } }`, map[string]any{"id": doc}, doc},
	}
	for _, w := range writes {
		res := s.Do(t, testserver.Request{Query: w.query, Variables: w.vars, Token: w.who}, nil)
		if len(res.Errors) == 0 {
			t.Fatalf("%s was allowed", w.query)
		}
	}
	for _, w := range writes[:3] {
		if n := len(aeEvents(t, s, admin, map[string]any{"action": "ACCESS_DENIED", "object": w.object, "actor": aeViewer(t, s, guest)})); n == 0 {
			t.Errorf("no ACCESS_DENIED event in Acme for the guest's %s", w.query)
		}
	}
	if n := len(aeEvents(t, s, admin, map[string]any{"action": "ACCESS_DENIED", "object": doc, "actor": aeViewer(t, s, member)})); n == 0 {
		t.Error("no ACCESS_DENIED event for a MEMBER's restoreDocument")
	}
}
