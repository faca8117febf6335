package ratelimit

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/access"
)

// testRedis connects to the Redis of TEST_REDIS_URL (redis://127.0.0.1:6379/0 by default). It
// skips the test when none answers, except in CI (LAATU_CI set), where Redis must be there.
func testRedis(t *testing.T) string {
	t.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	c, err := OpenRedis(context.Background(), url)
	if err != nil {
		if os.Getenv("LAATU_CI") != "" {
			t.Fatalf("Redis is needed in CI: %v", err)
		}
		t.Skipf("no Redis: %v", err)
	}
	_ = c.Close()
	return url
}

// instance is one server's limiter over the shared Redis; every test has keys of its own.
func instance(t *testing.T, url, prefix string, c Config) *Limiter {
	t.Helper()
	r, err := OpenRedis(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	c.Redis, c.Prefix = r, prefix
	return New(c)
}

func testPrefix() string { return "laatu-test:" + rand.Text() + ":" }

// TestRedisSharedBuckets: two instances over one Redis share each bucket: what one spends the
// other cannot, a refused charge takes nothing from the caller's other buckets, and another
// caller's budget is untouched.
func TestRedisSharedBuckets(t *testing.T) {
	url := testRedis(t)
	prefix := testPrefix()
	cfg := Config{User: limit(1, 100), Company: limit(1, 150)}
	a, b := instance(t, url, prefix, cfg), instance(t, url, prefix, cfg)
	ctx := context.Background()
	u := Keys{User: "u", Company: "co"}

	if _, _, ok, err := a.chargeRedis(ctx, u, 60); err != nil || !ok {
		t.Fatalf("first charge on a: ok %v, %v", ok, err)
	}
	scope, retry, ok, err := b.chargeRedis(ctx, u, 60)
	if err != nil || ok || scope != ScopeUser || retry < 15*time.Second || retry > 21*time.Second {
		t.Fatalf("second charge on b: scope %q retry %v ok %v err %v; want user, about 20s", scope, retry, ok, err)
	}
	// The refused charge took nothing from the company's bucket: 90 are left there.
	if _, _, ok, err := b.chargeRedis(ctx, Keys{User: "v", Company: "co"}, 90); err != nil || !ok {
		t.Errorf("the company's bucket was charged for a refused operation: ok %v, %v", ok, err)
	}
	if scope, _, ok, _ := a.chargeRedis(ctx, Keys{User: "w", Company: "co"}, 10); ok || scope != ScopeCompany {
		t.Errorf("the company's spent bucket: scope %q ok %v", scope, ok)
	}
	if _, _, ok, err := a.chargeRedis(ctx, Keys{User: "x", Company: "other"}, 100); err != nil || !ok {
		t.Errorf("another company: ok %v, %v", ok, err)
	}
}

// TestRedisDownFallsBack: when Redis does not answer, each instance's own buckets decide, and
// the failure is reported.
func TestRedisDownFallsBack(t *testing.T) {
	url := testRedis(t)
	l := instance(t, url, testPrefix(), Config{User: limit(1, 10)})
	_ = l.redis.Close() // as good as down
	var failures []error
	l.RedisFailed = func(err error) { failures = append(failures, err) }
	ctx := access.NewContext(context.Background(), &access.Principal{UserID: "u"})
	if err := l.Budget(ctx, 10); err != nil {
		t.Fatalf("the first charge, in memory: %v", err)
	}
	if err := l.Budget(ctx, 10); err == nil {
		t.Error("the memory buckets do not limit while Redis is down")
	}
	if len(failures) != 2 || errors.Is(failures[0], context.Canceled) {
		t.Errorf("failures reported: %v", failures)
	}
}
