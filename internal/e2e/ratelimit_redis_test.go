package e2e

import (
	"context"
	"net/http"
	"os"
	"testing"

	"github.com/laatu/laatu/internal/config"
	"github.com/laatu/laatu/internal/ratelimit"
	"github.com/laatu/laatu/internal/testserver"
)

// TestRateLimitSharedThroughRedis: two instances over one database and one Redis
// (--redis-url) share a user's budget: spent through one, it is spent through the other.
// Skipped without a Redis, except in CI.
func TestRateLimitSharedThroughRedis(t *testing.T) {
	t.Parallel()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	r, err := ratelimit.OpenRedis(context.Background(), url)
	if err != nil {
		if os.Getenv("LAATU_CI") != "" {
			t.Fatalf("Redis is needed in CI: %v", err)
		}
		t.Skipf("no Redis: %v", err)
	}
	_ = r.Close()
	// The buckets are keyed by user id, fresh in every test database: no two runs share one.
	opts := func(c *config.Config) {
		c.RedisURL = url
		c.RateLimitUser, c.RateLimitUserBurst = 1, 300
		c.RateLimitCompany, c.RateLimitIP = 0, 0
	}
	one := testserver.New(t, opts)
	other := testserver.NewOn(t, one.DB, opts)
	tok := one.Login(t, "manager@acme.test")
	hammerUntil429(t, one, testserver.Request{Token: tok, Query: hammer}, nil, 200)
	if res := other.Do(t, testserver.Request{Token: tok, Query: hammer}, nil); res.Status != http.StatusTooManyRequests {
		t.Errorf("the other instance: %d %v, want 429 (the budget is shared)", res.Status, res.Codes())
	}
	testserver.MustOK(t, other.Do(t, testserver.Request{Token: other.Login(t, "admin@acme.test"), Query: hammer}, nil))
}
