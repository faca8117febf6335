package e2e

// Bad input answers with a clear error and a stable code, never a 500 or a panic text: malformed requests, unknown fields, wrong types, oversized bodies, deep, costly
// and aliased queries, page sizes, invalid ids, the HTTP edge, the error cap, the request
// timeout, introspection, the playground and the health probes.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/database"
	"github.com/laatu/laatu/internal/testserver"
)

// fPost sends body to /graphql as JSON; with chunked, without a Content-Length.
func fPost(t *testing.T, s *testserver.Server, token, body string, chunked bool) *testserver.Response {
	t.Helper()
	var r io.Reader = strings.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // hides the length, so the client streams the body chunked
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if chunked && len(res.TransferEncoding) == 0 && req.ContentLength > 0 {
		t.Fatal("the request was not sent chunked")
	}
	raw, _ := io.ReadAll(res.Body)
	out := &testserver.Response{Status: res.StatusCode}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("status %d, body is not JSON: %q", res.StatusCode, raw)
	}
	return out
}

func TestBadRequestsAnswerStableCodes(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	token := s.Login(t, "admin@acme.test")
	auth := map[string]string{"Authorization": "Bearer " + token}

	t.Run("malformed bodies", func(t *testing.T) {
		for name, body := range map[string]string{
			"truncated JSON":   `{"query": `,
			"not JSON":         `query { viewer { level } }`,
			"a JSON array":     `[{"query": "{ viewer { level } }"}]`,
			"a JSON string":    `"{ viewer { level } }"`,
			"variables a list": `{"query": "{ viewer { level } }", "variables": [1]}`,
			"query a number":   `{"query": 42}`,
		} {
			t.Run(name, func(t *testing.T) {
				res := s.Raw(t, http.MethodPost, "/graphql", "application/json", body, auth)
				fOne(t, res, "BAD_USER_INPUT")
				if res.Status != http.StatusBadRequest {
					t.Errorf("status %d, want 400", res.Status)
				}
			})
		}
		for name, body := range map[string]string{
			"empty object": `{}`,
			"empty query":  `{"query": ""}`,
			"empty body":   ``,
		} {
			t.Run(name, func(t *testing.T) {
				res := s.Raw(t, http.MethodPost, "/graphql", "application/json", body, auth)
				fOne(t, res, "BAD_USER_INPUT")
			})
		}
	})

	t.Run("invalid operations", func(t *testing.T) {
		for _, tc := range []struct {
			name, query string
			vars        map[string]any
		}{
			{"syntax error", `{ folders { `, nil},
			{"unknown field", `{ folders { nodes { bogus } } }`, nil},
			{"unknown argument", `{ folders(last: 3) { totalCount } }`, nil},
			{"unknown input field in a literal", `mutation { createFolder(input: {name: "x", bogus: 1}) { id } }`, nil},
			{"unknown input field in a variable", `mutation($in: CreateFolderInput!) { createFolder(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"name": "x", "bogus": 1}}},
			{"unknown nested input field", `query($f: DocumentFilter) { documents(filter: $f) { totalCount } }`,
				map[string]any{"f": map[string]any{"status": []string{"DRAFT"}, "owner": "me"}}},
			{"string for Int", `query($n: Int) { folders(first: $n) { totalCount } }`, map[string]any{"n": "ten"}},
			{"float for Int", `query($n: Int) { folders(first: $n) { totalCount } }`, map[string]any{"n": 2.5}},
			{"Int out of range", `query($n: Int) { folders(first: $n) { totalCount } }`, map[string]any{"n": int64(1) << 40}},
			{"string for Boolean", `query($b: Boolean) { documents(filter: {includeSubfolders: $b}) { totalCount } }`, map[string]any{"b": "yes"}},
			{"unknown enum value", `query($s: DocumentSort) { documents(sort: $s) { totalCount } }`, map[string]any{"s": "SIDEWAYS"}},
			{"unknown enum in a list", `query($f: DocumentFilter) { documents(filter: $f) { totalCount } }`,
				map[string]any{"f": map[string]any{"status": []string{"DRAFT", "LOST"}}}},
			{"bad Time", `query($f: DocumentFilter) { documents(filter: $f) { totalCount } }`,
				map[string]any{"f": map[string]any{"updatedAfter": "yesterday"}}},
			{"Time without a zone", `query($f: DocumentFilter) { documents(filter: $f) { totalCount } }`,
				map[string]any{"f": map[string]any{"updatedAfter": "2026-03-01T10:00:00"}}},
			{"object for ID", `query($id: ID!) { document(id: $id) { id } }`, map[string]any{"id": map[string]any{"a": 1}}},
			{"missing required variable", `query($id: ID!) { document(id: $id) { id } }`, nil},
			{"null for a required input field", `mutation($in: UpdateDocumentInput!) { updateDocument(id: "x", input: $in) { id } }`,
				map[string]any{"in": map[string]any{"expectedVersion": nil}}},
			{"list for an object", `query($f: DocumentFilter) { documents(filter: $f) { totalCount } }`, map[string]any{"f": []any{1}}},
			{"two operations, no name", `query A { viewer { level } } query B { viewer { level } }`, nil},
			{"unknown operation name", `query A { viewer { level } }`, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				body := map[string]any{"query": tc.query, "variables": tc.vars}
				if tc.name == "unknown operation name" {
					body["operationName"] = "B"
				}
				raw, _ := json.Marshal(body)
				res := s.Raw(t, http.MethodPost, "/graphql", "application/json", string(raw), auth)
				fOne(t, res, "BAD_USER_INPUT")
				if string(res.Data) != "" && string(res.Data) != "null" {
					t.Errorf("data %s from an invalid operation", res.Data)
				}
			})
		}
	})

	t.Run("page sizes", func(t *testing.T) {
		for _, q := range []string{
			`{ folders(first: 101) { totalCount } }`,
			`{ documents(first: -1) { totalCount } }`,
			`{ templates(first: 1000) { totalCount } }`,
			`{ folders(first: 1) { nodes { documents(first: 101) { totalCount } } } }`,
			`{ folders(first: 1) { nodes { children(first: -5) { totalCount } } } }`,
			`{ documents(first: 1) { nodes { comments(first: 101) { totalCount } } } }`,
		} {
			res := s.Do(t, testserver.Request{Query: q, Token: token}, nil)
			if e := fOne(t, res, "BAD_USER_INPUT"); e.Extensions["field"] != "first" {
				t.Errorf("%s: field %v", q, e.Extensions["field"])
			}
		}
		var data struct {
			Documents struct {
				TotalCount int
				Edges      []struct{ Cursor string }
				PageInfo   struct{ HasNextPage bool }
			}
		}
		fOK(t, s, token, `{ documents(first: 0) { totalCount edges { cursor } pageInfo { hasNextPage } } }`, nil, &data)
		if d := data.Documents; len(d.Edges) != 0 || d.TotalCount == 0 || !d.PageInfo.HasNextPage {
			t.Errorf("first: 0 gave %s", fJSON(d))
		}
		var full struct {
			Documents struct{ Edges []struct{ Cursor string } }
		}
		fOK(t, s, token, `{ documents(first: 100) { edges { cursor } } }`, nil, &full)
		if len(full.Documents.Edges) != 34 {
			t.Errorf("first: 100 gave %d of 34 documents", len(full.Documents.Edges))
		}
		fOK(t, s, token, `{ documents { edges { cursor } } }`, nil, &full)
		if len(full.Documents.Edges) != 20 {
			t.Errorf("the default page holds %d documents, want 20", len(full.Documents.Edges))
		}
	})

	t.Run("bad cursors", func(t *testing.T) {
		// A cursor is base64 of {"k": key, "i": id}; forged ones are refused, never run.
		forge := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for name, after := range map[string]string{
			"not base64":        "!!!",
			"not JSON":          forge("nope"),
			"malformed id":      forge(`{"k":"2026-01-01T00:00:00Z","i":"1' OR '1'='1"}`),
			"key of wrong type": forge(`{"k":42,"i":"` + uuid.Must(uuid.NewV7()).String() + `"}`),
			"key not a time":    forge(`{"k":"yesterday","i":"` + uuid.Must(uuid.NewV7()).String() + `"}`),
			"huge":              strings.Repeat("A", 4000),
		} {
			res := s.Do(t, testserver.Request{Query: `query($a: String) { documents(after: $a) { totalCount } }`,
				Variables: map[string]any{"a": after}, Token: token}, nil)
			if e := fOne(t, res, "BAD_USER_INPUT"); e.Extensions["field"] != "after" {
				t.Errorf("%s: field %v", name, e.Extensions["field"])
			}
		}
	})

	t.Run("query limits", func(t *testing.T) {
		deep := `{ folders { nodes { ` + strings.Repeat("parent { ", 11) + "id" + strings.Repeat(" }", 11) + ` } } }`
		deepFragments := `{ folders { nodes { ...A } } }
			fragment A on Folder { parent { parent { parent { ...B } } } }
			fragment B on Folder { parent { parent { parent { ...C } } } }
			fragment C on Folder { parent { parent { parent { parent { parent { id } } } } } }`
		var aliases strings.Builder
		aliases.WriteString("{")
		for i := range 31 {
			fmt.Fprintf(&aliases, " a%d: viewer { level }", i)
		}
		aliases.WriteString(" }")
		costly := `{ folders(first: 100) { nodes { documents(first: 100) { nodes { comments(first: 100) { nodes { id } } } } } } }`
		defaultPages := `{ folders { nodes { children { nodes { children { nodes { documents { nodes { comments { nodes { id body } } } } } } } } } } }`
		for _, tc := range []struct {
			name, query string
			vars        map[string]any
		}{
			{"deeper than max-depth", deep, nil},
			{"deep through fragments", deepFragments, nil},
			{"more aliases than max-aliases", aliases.String(), nil},
			{"costlier than max-complexity", costly, nil},
			{"costly through variables", `query($n: Int) { folders(first: $n) { nodes { documents(first: $n) { nodes { comments(first: $n) { nodes { id } } } } } } }`,
				map[string]any{"n": 50}},
			{"costly with default page sizes", defaultPages, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.Do(t, testserver.Request{Query: tc.query, Variables: tc.vars, Token: token}, nil)
				if e := fOne(t, res, "BAD_USER_INPUT"); e.Extensions["reason"] != "QUERY_LIMIT" {
					t.Errorf("reason %v: %s", e.Extensions["reason"], e.Message)
				}
				if string(res.Data) != "" && string(res.Data) != "null" {
					t.Errorf("data %s from a refused query", res.Data)
				}
			})
		}
		// Just under the limits passes.
		fOK(t, s, token, `{ folders { nodes { `+strings.Repeat("parent { ", 9)+"id"+strings.Repeat(" }", 9)+` } } }`, nil, nil)
		fOK(t, s, token, strings.Replace(aliases.String(), " a30: viewer { level }", "", 1), nil, nil)
		fOK(t, s, token, `{ folders(first: 10) { nodes { documents(first: 10) { nodes { comments(first: 10) { nodes { id } } } } } } }`, nil, nil)
	})

	t.Run("invalid ids", func(t *testing.T) {
		// Every root field that takes an id answers a malformed id like an unknown one:
		// NOT_FOUND (or BAD_USER_INPUT), never INTERNAL.
		for _, tc := range []struct{ name, query, code string }{
			{"node", `query($id: ID!) { node(id: $id) { id } }`, "NOT_FOUND"},
			{"document", `query($id: ID!) { document(id: $id) { id } }`, "NOT_FOUND"},
			{"folder", `query($id: ID!) { folder(id: $id) { id } }`, "NOT_FOUND"},
			{"grants", `query($id: ID!) { grants(objectId: $id) { id } }`, "NOT_FOUND"},
			{"updateDocument", `mutation($id: ID!) { updateDocument(id: $id, input: {expectedVersion: 1, title: "x"}) { id } }`, "NOT_FOUND"},
			{"deleteDocument", `mutation($id: ID!) { deleteDocument(id: $id) { id } }`, "NOT_FOUND"},
			{"addComment", `mutation($id: ID!) { addComment(documentId: $id, body: "x") { id } }`, "NOT_FOUND"},
			{"updateFolder", `mutation($id: ID!) { updateFolder(id: $id, input: {name: "x"}) { id } }`, "NOT_FOUND"},
			{"deleteFolder", `mutation($id: ID!) { deleteFolder(id: $id) { id } }`, "NOT_FOUND"},
			{"createFolder parent", `mutation($id: ID!) { createFolder(input: {name: "x", parentId: $id}) { id } }`, "NOT_FOUND"},
			{"createDocument folder", `mutation($id: ID!) { createDocument(input: {folderId: $id, templateId: $id, title: "x"}) { id } }`, "NOT_FOUND"},
			{"share", `mutation($id: ID!) { share(input: {objectId: $id, email: "x@y.test", level: VIEW}) { id } }`, ""},
			{"unshare", `mutation($id: ID!) { unshare(grantId: $id) }`, ""},
			{"revokeSession", `mutation($id: ID!) { revokeSession(id: $id) }`, ""},
			{"disableUser", `mutation($id: ID!) { disableUser(userId: $id) }`, ""},
			{"setMemberLevel", `mutation($id: ID!) { setMemberLevel(userId: $id, level: MEMBER) { level } }`, ""},
			{"removeMember", `mutation($id: ID!) { removeMember(userId: $id) }`, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var codes []string
				for _, id := range []string{uuid.Must(uuid.NewV7()).String(), "not-an-id", "", "00000000-0000-0000-0000-00000000000", "'; DROP TABLE folders; --", strings.Repeat("f", 300)} {
					res := s.Do(t, testserver.Request{Query: tc.query, Variables: map[string]any{"id": id}, Token: token}, nil)
					if len(res.Errors) != 1 {
						t.Fatalf("id %.40q: want one error, got %+v", id, res.Errors)
					}
					fSafe(t, res)
					codes = append(codes, res.Errors[0].Code())
				}
				for i, c := range codes {
					if c != codes[0] || (c != "NOT_FOUND" && c != "BAD_USER_INPUT") || (tc.code != "" && c != tc.code) {
						t.Errorf("codes %v (id %d); want one of NOT_FOUND or BAD_USER_INPUT for every id%s", codes, i, map[bool]string{true: ", " + tc.code}[tc.code != ""])
						break
					}
				}
			})
		}
		// The list filters take ids too: malformed ones match nothing.
		var data struct {
			Documents struct{ TotalCount int }
			Folders   struct{ TotalCount int }
		}
		fOK(t, s, token, `{ documents(filter: {folderId: "x", templateId: "y"}) { totalCount } folders(filter: {parentId: "z"}) { totalCount } }`, nil, &data)
		if data.Documents.TotalCount != 0 || data.Folders.TotalCount != 0 {
			t.Errorf("malformed ids in filters matched %s", fJSON(data))
		}
	})

	t.Run("too many errors are capped", func(t *testing.T) {
		var q strings.Builder
		q.WriteString("{")
		for i := range 30 {
			fmt.Fprintf(&q, " d%d: document(id: %q) { id }", i, uuid.Must(uuid.NewV7()).String())
		}
		q.WriteString(" }")
		res := s.Do(t, testserver.Request{Query: q.String(), Token: token}, nil)
		max := s.Config.MaxErrors
		if len(res.Errors) != max+1 {
			t.Fatalf("%d errors, want %d and a note", len(res.Errors), max+1)
		}
		for _, e := range res.Errors[:max] {
			if e.Code() != "NOT_FOUND" {
				t.Errorf("error %+v", e)
			}
		}
		note := res.Errors[max]
		if note.Code() != "BAD_USER_INPUT" || note.Extensions["omitted"] != float64(30-max) || !strings.Contains(note.Message, "left out") {
			t.Errorf("last error %+v, want a note of %d omitted", note, 30-max)
		}
		fSafe(t, res)
	})
}

func TestHTTPEdge(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	token := s.Login(t, "admin@acme.test")
	auth := map[string]string{"Authorization": "Bearer " + token}

	t.Run("oversized bodies", func(t *testing.T) {
		huge := `{"query": "{ viewer { level } }", "variables": {"x": "` + strings.Repeat("a", int(s.Config.MaxBodyBytes)) + `"}}`
		for _, chunked := range []bool{false, true} {
			res := fPost(t, s, token, huge, chunked)
			fOne(t, res, "BAD_USER_INPUT")
			if res.Status != http.StatusRequestEntityTooLarge {
				t.Errorf("chunked %v: status %d, want 413", chunked, res.Status)
			}
		}
		// Just under the limit is served, chunked or not.
		pad := int(s.Config.MaxBodyBytes) - 200
		fits := `{"query": "{ viewer { level } }", "variables": {"x": "` + strings.Repeat("a", pad) + `"}}`
		for _, chunked := range []bool{false, true} {
			res := fPost(t, s, token, fits, chunked)
			if res.Status != 200 || len(res.Errors) > 0 || !strings.Contains(string(res.Data), "ADMIN") {
				t.Errorf("chunked %v: a body under the limit got %d %+v", chunked, res.Status, res.Errors)
			}
		}
	})

	t.Run("methods and content types", func(t *testing.T) {
		query := url.QueryEscape(`{ viewer { level } }`)
		for _, tc := range []struct {
			name, method, path, contentType, body string
			headers                               map[string]string
			status                                int
			code                                  string
		}{
			{"query over GET", "GET", "/graphql?query=" + query, "", "", nil, 200, ""},
			{"mutation over GET", "GET", "/graphql?query=" + url.QueryEscape(`mutation { createFolder(input: {name: "By link"}) { id } }`), "", "", nil, 405, "BAD_USER_INPUT"},
			{"named mutation over GET", "GET", "/graphql?operationName=M&query=" + url.QueryEscape(`query Q { viewer { level } } mutation M { ping }`), "", "", nil, 405, "BAD_USER_INPUT"},
			{"bad variables over GET", "GET", "/graphql?variables=%7Bnope&query=" + query, "", "", nil, 400, "BAD_USER_INPUT"},
			{"bad URL query", "GET", "/graphql?query=%zz", "", "", nil, 400, "BAD_USER_INPUT"},
			{"form POST", "POST", "/graphql", "application/x-www-form-urlencoded", "query=" + query, nil, 415, "BAD_USER_INPUT"},
			{"multipart POST", "POST", "/graphql", "multipart/form-data; boundary=xyz", "--xyz\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n--xyz--\r\n", nil, 415, "BAD_USER_INPUT"},
			{"text/plain POST", "POST", "/graphql", "text/plain", `{"query": "{ viewer { level } }"}`, nil, 415, "BAD_USER_INPUT"},
			{"POST without a content type", "POST", "/graphql", "", `{"query": "{ viewer { level } }"}`, nil, 415, "BAD_USER_INPUT"},
			{"JSON with a charset", "POST", "/graphql", "application/json; charset=utf-8", `{"query": "{ viewer { level } }"}`, nil, 200, ""},
			{"cross-site POST", "POST", "/graphql", "application/json", `{"query": "mutation { ping }"}`, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "FORBIDDEN"},
			{"foreign Origin", "POST", "/graphql", "application/json", `{"query": "mutation { ping }"}`, map[string]string{"Origin": "https://evil.example"}, 403, "FORBIDDEN"},
			{"same-origin POST", "POST", "/graphql", "application/json", `{"query": "mutation { ping }"}`, map[string]string{"Sec-Fetch-Site": "same-origin"}, 200, ""},
			{"PUT", "PUT", "/graphql", "application/json", `{"query": "{ viewer { level } }"}`, nil, 405, "BAD_USER_INPUT"},
			{"unknown path", "GET", "/nope", "", "", nil, 404, "NOT_FOUND"},
			{"bad token", "POST", "/graphql", "application/json", `{"query": "{ viewer { level } }"}`, map[string]string{"Authorization": "Bearer nope"}, 401, "UNAUTHENTICATED"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				headers := map[string]string{"Authorization": auth["Authorization"]}
				for k, v := range tc.headers {
					headers[k] = v
				}
				res := s.Raw(t, tc.method, tc.path, tc.contentType, tc.body, headers)
				if res.Status != tc.status {
					t.Errorf("status %d, want %d (%+v)", res.Status, tc.status, res.Errors)
				}
				if tc.code == "" {
					if len(res.Errors) > 0 {
						t.Errorf("errors %+v", res.Errors)
					}
					return
				}
				fOne(t, res, tc.code)
			})
		}
		var top struct {
			Folders struct{ Nodes []struct{ Name string } }
		}
		fOK(t, s, token, `{ folders(first: 100) { nodes { name } } }`, nil, &top)
		for _, f := range top.Folders.Nodes {
			if f.Name == "By link" {
				t.Error("a mutation sent over GET created a folder")
			}
		}
	})

	t.Run("anonymous", func(t *testing.T) {
		res := s.Do(t, testserver.Request{Query: `{ folders { totalCount } }`}, nil)
		fOne(t, res, "UNAUTHENTICATED")
	})

	t.Run("health", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			res, err := http.Get(s.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
				t.Errorf("%s: %d %s", path, res.StatusCode, body)
			}
		}
	})
}

func TestDevAndProductionModes(t *testing.T) {
	t.Parallel()
	dev := testserver.New(t)
	prod := testserver.NewOn(t, dev.DB, func(c *config.Config) { c.Mode = config.Prod; c.Playground = false })
	token := dev.Login(t, "admin@acme.test")

	get := func(url string) (int, string) {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if status, body := get(dev.URL + "/"); status != 200 || !strings.Contains(strings.ToLower(body), "graphiql") {
		t.Errorf("dev playground: %d", status)
	}
	if status, body := get(prod.URL + "/"); status != 404 || !strings.Contains(body, "NOT_FOUND") {
		t.Errorf("prod playground: %d %s", status, body)
	}

	for _, q := range []string{`{ __schema { queryType { name } } }`, `{ __type(name: "Document") { name } }`} {
		var data map[string]any
		fOK(t, dev, token, q, nil, &data)
		if len(data) != 1 {
			t.Errorf("dev %s: %v", q, data)
		}
		res := prod.Do(t, testserver.Request{Query: q, Token: token}, nil)
		if e := fOne(t, res, "BAD_USER_INPUT"); !strings.Contains(e.Message, "introspection") {
			t.Errorf("prod %s: %q", q, e.Message)
		}
	}
	// __typename is not introspection: clients rely on it everywhere.
	var data struct {
		Viewer struct {
			Typename string `json:"__typename"`
		}
	}
	fOK(t, prod, token, `{ viewer { __typename } }`, nil, &data)
	if data.Viewer.Typename != "Viewer" {
		t.Errorf("__typename in prod: %q", data.Viewer.Typename)
	}
	// Prod does not suggest field names to someone probing the schema.
	res := prod.Do(t, testserver.Request{Query: `{ folderz { totalCount } }`, Token: token}, nil)
	if e := fOne(t, res, "BAD_USER_INPUT"); strings.Contains(e.Message, "Did you mean") {
		t.Errorf("prod suggests: %q", e.Message)
	}

	// Without its database the process is alive but not ready.
	if err := dev.DB.App.Close(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503} {
		if status, body := get(prod.URL + path); status != want {
			t.Errorf("%s with the database gone: %d %s, want %d", path, status, body, want)
		}
	}
	res = prod.Do(t, testserver.Request{Query: `{ folders { totalCount } }`, Token: token}, nil)
	fSafe(t, res)
	if len(res.Errors) == 0 || res.Errors[0].Code() != "UNAVAILABLE" || res.Status != 503 || res.Header.Get("Retry-After") == "" {
		t.Errorf("a query without the database: %d %+v (Retry-After %q), want 503 UNAVAILABLE with Retry-After",
			res.Status, res.Errors, res.Header.Get("Retry-After"))
	}
}

func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	token := s.Login(t, "admin@acme.test")
	folderCount := func() int {
		var data struct{ Folders struct{ TotalCount int } }
		fOK(t, s, token, `{ folders { totalCount } }`, nil, &data)
		return data.Folders.TotalCount
	}
	before := folderCount()
	const create = `mutation { createFolder(input: {name: "Too late"}) { id } }`
	wantStopped := func(t *testing.T, res *testserver.Response) {
		t.Helper()
		if e := fOne(t, res, "UNAVAILABLE"); !strings.Contains(e.Message, "too long") {
			t.Errorf("message %q", e.Message)
		}
		if res.Status != 503 || res.Header.Get("Retry-After") == "" {
			t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", res.Status, res.Header.Get("Retry-After"))
		}
	}

	// A deadline that has passed before the operation runs: answered, never "null".
	expired := testserver.NewOn(t, s.DB, func(c *config.Config) { c.RequestTimeout = time.Nanosecond })
	wantStopped(t, expired.Do(t, testserver.Request{Query: `{ folders { totalCount } }`, Token: token}, nil))
	wantStopped(t, expired.Do(t, testserver.Request{Query: create, Token: token}, nil))

	// A mutation stuck behind a lock is stopped at the deadline, and its work undone.
	slow := testserver.NewOn(t, s.DB, func(c *config.Config) { c.RequestTimeout = 300 * time.Millisecond })
	ctx := context.Background()
	tx, err := s.DB.Owner.BeginTx(ctx, nil) // on SQLite BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if s.DB.Dialect == database.Postgres {
		if _, err := tx.ExecContext(ctx, "LOCK TABLE folders IN EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	res := slow.Do(t, testserver.Request{Query: create, Token: token}, nil)
	took := time.Since(start)
	_ = tx.Rollback()
	wantStopped(t, res)
	if took > 5*time.Second {
		t.Errorf("the request ran %v past a 300ms timeout", took)
	}
	if n := folderCount(); n != before {
		t.Errorf("%d folders after stopped mutations, want %d", n, before)
	}
}
