package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/laatu/laatu/internal/testserver"
)

// TestGraphQLOverHTTPShoulds: request errors answer as the GraphQL-over-HTTP spec asks for
// each response type (bench/conformance runs graphql-http's whole audit), and a malformed
// Authorization header is refused with a message instead of being served as anonymous.
func TestGraphQLOverHTTPShoulds(t *testing.T) {
	s := testserver.New(t)
	post := func(accept, body string, headers ...string) (int, map[string]json.RawMessage, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", accept)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var out map[string]json.RawMessage
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return res.StatusCode, out, res.Header.Get("WWW-Authenticate")
	}
	const jsonType, gqlType = "application/json", "application/graphql-response+json"
	for _, c := range []struct{ name, body string }{
		{"parse failure", `{"query":"{"}`},
		{"validation failure", `{"query":"{ noSuchField }"}`},
		{"variable coercion failure", `{"query":"query ($n: Int) { __typename }","variables":{"n":"x"}}`},
	} {
		if status, out, _ := post(jsonType, c.body); status != http.StatusOK || out["errors"] == nil {
			t.Errorf("%s for application/json: %d %v, want 200 with errors", c.name, status, out)
		}
		status, out, _ := post(gqlType, c.body)
		if _, has := out["data"]; status != http.StatusBadRequest || has || out["errors"] == nil {
			t.Errorf("%s for graphql-response+json: %d %v, want 400 with errors and no data", c.name, status, out)
		}
	}
	if status, _, _ := post(jsonType, `{"qeury":"{ __typename }"}`); status != http.StatusBadRequest {
		t.Errorf("a body without a query: %d, want 400", status)
	}
	if status, out, _ := post(gqlType, `{"query":"{ __typename }"}`); status != http.StatusOK || string(out["data"]) != `{"__typename":"Query"}` {
		t.Errorf("a valid query: %d %v", status, out)
	}

	for _, header := range []string{"lts_abc", "Token lts_abc", "Bearer", "Bearer   ", "Basic dXNlcjpwdw=="} {
		status, out, challenge := post(jsonType, `{"query":"{ __typename }"}`, "Authorization", header)
		if status != http.StatusUnauthorized || !strings.Contains(string(out["errors"]), "malformed Authorization header") ||
			!strings.Contains(string(out["errors"]), "UNAUTHENTICATED") || !strings.Contains(challenge, "invalid_request") {
			t.Errorf("Authorization %q: %d %s %q", header, status, out["errors"], challenge)
		}
	}
}
