package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/testserver"
)

const hammer = `query Hammer { viewer { level } folders(first: 10) { nodes { name } } }`

// hammerUntil429 sends req until it is answered 429 (at most max times) and checks the
// answer's contract: Retry-After in whole seconds, at least 1, and RATE_LIMITED in the body.
// Between two of its requests, other (when set) must keep answering 200 without errors.
func hammerUntil429(t *testing.T, s *testserver.Server, req testserver.Request, other *testserver.Request, max int) *testserver.Response {
	t.Helper()
	for i := range max {
		res := s.Do(t, req, nil)
		if other != nil {
			if o := s.Do(t, *other, nil); o.Status != http.StatusOK || len(o.Errors) > 0 {
				t.Fatalf("request %d: the other caller got %d %v", i, o.Status, o.Codes())
			}
		}
		if res.Status == http.StatusOK {
			testserver.MustOK(t, res)
			continue
		}
		if res.Status != http.StatusTooManyRequests {
			t.Fatalf("request %d: status %d %v, want 200 or 429", i, res.Status, res.Codes())
		}
		if n, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || n < 1 {
			t.Errorf("Retry-After %q, want whole seconds ≥ 1", res.Header.Get("Retry-After"))
		}
		if got := res.Codes(); len(got) != 1 || got[0] != "RATE_LIMITED" {
			t.Errorf("codes %v, want [RATE_LIMITED]", got)
		} else if s, _ := res.Errors[0].Extensions["retryAfterSeconds"].(float64); s < 1 {
			t.Errorf("retryAfterSeconds %v, want ≥ 1", res.Errors[0].Extensions["retryAfterSeconds"])
		}
		if len(res.Data) > 0 && string(res.Data) != "null" {
			t.Errorf("a refused operation has data: %s", res.Data)
		}
		return res
	}
	t.Fatalf("no 429 after %d requests", max)
	return nil
}

// TestRateLimitPerUser: one token hammering a query is answered 429 with Retry-After once its
// budget is spent, while a user of another company keeps being answered; the refusals show in
// the metrics.
func TestRateLimitPerUser(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, func(c *config.Config) {
		c.RateLimitUser, c.RateLimitUserBurst = 1, 300
		c.RateLimitCompany, c.RateLimitIP = 0, 0
	})
	noisy := testserver.Request{Token: s.Login(t, "manager@acme.test"), Query: hammer}
	quiet := testserver.Request{Token: s.Login(t, "member@beta.test"), Query: `query Quiet { viewer { level } }`}
	hammerUntil429(t, s, noisy, &quiet, 200)
	// A subscription is charged too: over SSE it gets the error and ends. The budget is first
	// spent down to less than 2 (a query of cost 2 is refused); the subscription costs 26, which
	// the bucket (1 a second) earns back only after 24 s.
	hammerUntil429(t, s, testserver.Request{Token: noisy.Token, Query: `{ viewer { level } }`}, nil, 200)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	aliases := ""
	for i := range 24 {
		aliases += fmt.Sprintf(" k%d: kind", i)
	}
	sse := openSSEBody(ctx, t, s, noisy.Token, `{"query":"subscription { sharedWithMeChanged { kind`+aliases+` } }"}`)
	defer sse.Body.Close()
	if got := readUntil(t, sse, "complete"); !strings.Contains(got, "RATE_LIMITED") {
		t.Errorf("a subscription over budget was not refused with RATE_LIMITED:\n%s", got)
	}
	// Another user of the same company has a budget of its own.
	testserver.MustOK(t, s.Do(t, testserver.Request{Token: s.Login(t, "admin@acme.test"), Query: hammer}, nil))

	_, body := get(t, s.AdminURL+"/metrics")
	for _, want := range []string{
		`laatu_graphql_errors_total{code="RATE_LIMITED",operation="Hammer",type="query"} 1`,
		`laatu_rate_limit_rejections_total{scope="user"} 3`, // two queries and the subscription
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grep(body, "laatu_rate_limit"))
		}
	}
}

// TestRateLimitPerCompany: the users of one company share its budget; another company's is
// untouched.
func TestRateLimitPerCompany(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, func(c *config.Config) {
		c.RateLimitCompany, c.RateLimitCompanyBurst = 1, 300
		c.RateLimitUser, c.RateLimitIP = 0, 0
	})
	manager, admin := s.Login(t, "manager@acme.test"), s.Login(t, "admin@acme.test")
	// Cheaper than the hammer: at the same pace, its company spends less than it earns back.
	quiet := testserver.Request{Token: s.Login(t, "admin@beta.test"), Query: `{ viewer { level } }`}
	hammerUntil429(t, s, testserver.Request{Token: manager, Query: hammer}, &quiet, 200)
	if res := s.Do(t, testserver.Request{Token: admin, Query: hammer}, nil); res.Status != http.StatusTooManyRequests {
		t.Errorf("a fellow member of the spent company: %d %v, want 429", res.Status, res.Codes())
	}
}

// TestRateLimitPerIP: anonymous callers are charged by client address.
func TestRateLimitPerIP(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, func(c *config.Config) {
		c.RateLimitIP, c.RateLimitIPBurst = 1, 20
		c.RateLimitUser, c.RateLimitCompany = 0, 0
	})
	hammerUntil429(t, s, testserver.Request{Query: `{ __typename }`}, nil, 100)
	// The same answer to a client of the GraphQL-over-HTTP media type, and over GET.
	spec := s.Do(t, testserver.Request{Query: `{ __typename }`, Headers: map[string]string{"Accept": "application/graphql-response+json"}}, nil)
	overGET := s.Raw(t, http.MethodGet, "/graphql?query=%7B__typename%7D", "", "", nil)
	for name, res := range map[string]*testserver.Response{"graphql-response+json": spec, "GET": overGET} {
		if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || len(res.Codes()) != 1 || res.Codes()[0] != "RATE_LIMITED" {
			t.Errorf("%s: %d, Retry-After %q, %v; want 429 RATE_LIMITED", name, res.Status, res.Header.Get("Retry-After"), res.Codes())
		}
	}
}

// grep returns the lines of text that contain s.
func grep(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
