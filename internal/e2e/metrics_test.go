package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/laatu/laatu/internal/testserver"
)

// TestMetricsOnAdminListener: a named query, a failed login and a refused query show up in
// /metrics on the admin listener, with the pool's statistics; the public port serves neither
// /metrics nor the profiles.
func TestMetricsOnAdminListener(t *testing.T) {
	t.Parallel()
	s := testserver.New(t)
	tok := s.Login(t, "manager@acme.test")
	testserver.MustOK(t, s.Do(t, testserver.Request{Token: tok,
		Query: `query FolderList { viewer { level } folders(first: 5) { totalCount } }`}, nil))
	testserver.MustOK(t, s.Do(t, testserver.Request{Token: tok, Query: `{ viewer { level } }`}, nil))
	res := s.Do(t, testserver.Request{Query: `mutation { login(email: "manager@acme.test", password: "wrong password") { token } }`}, nil)
	if got := res.Codes(); len(got) != 1 || got[0] != "UNAUTHENTICATED" {
		t.Fatalf("wrong password: codes %v", got)
	}
	if res := s.Do(t, testserver.Request{Token: tok, Query: `query Broken { nope }`}, nil); len(res.Errors) == 0 {
		t.Fatal("an unknown field must be refused")
	}
	twice := `mutation Twice { a: login(email: "x@acme.test", password: "p") { token } b: login(email: "x@acme.test", password: "p") { token } }`
	if got := s.Do(t, testserver.Request{Query: twice}, nil).Codes(); len(got) != 1 || got[0] != "BAD_USER_INPUT" {
		t.Fatalf("two logins in one request: codes %v", got)
	}

	status, body := get(t, s.AdminURL+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("admin /metrics: status %d", status)
	}
	for _, want := range []string{
		`laatu_graphql_operations_total{operation="FolderList",type="query"} 1`,
		`laatu_graphql_operations_total{operation="anonymous",type="query"} 1`,
		`laatu_graphql_operation_duration_seconds_count{operation="FolderList",type="query"} 1`,
		`laatu_graphql_errors_total{code="UNAUTHENTICATED",operation="anonymous",type="mutation"} 1`,
		`laatu_graphql_errors_total{code="BAD_USER_INPUT",operation="invalid",type="invalid"} 1`,
		`laatu_graphql_errors_total{code="BAD_USER_INPUT",operation="Twice",type="mutation"} 1`,
		`laatu_login_failures_total 1`,
		`go_sql_open_connections{db_name="laatu"}`,
		`go_sql_wait_count_total{db_name="laatu"}`,
		`laatu_subscriptions_open 0`,
		`laatu_rate_limit_rejections_total{scope="user"} 0`,
	} {
		if !strings.Contains(body, want) && !strings.Contains(body, "# HELP "+want) {
			t.Errorf("admin /metrics lacks %s", want)
		}
	}
	if status, _ := get(t, s.AdminURL+"/debug/pprof/"); status != http.StatusOK {
		t.Errorf("admin /debug/pprof/: status %d", status)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap"} {
		if status, _ := get(t, s.URL+path); status != http.StatusNotFound {
			t.Errorf("public %s: status %d, want 404", path, status)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}
