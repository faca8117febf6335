package auth_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/auth"
	"github.com/laatu/laatu/internal/auth/password"
	"github.com/laatu/laatu/internal/auth/throttle"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/storage"
	"github.com/laatu/laatu/internal/testdb"
)

// TestLoginTimingDoesNotRevealAccounts compares the time of logins with an unknown address and
// with a wrong password, with the production argon2id parameters: the median of each must be
// within a factor of two of the other. An unknown address is hashed against a dummy for this.
func TestLoginTimingDoesNotRevealAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes with the production parameters")
	}
	db := testdb.New(t)
	store := storage.New(db.App)
	ctx := context.Background()
	hasher, err := password.NewHasher(password.DefaultParams(), 2)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, "the right passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateUser(ctx, storage.NewUser{Email: "known@timing.test", Name: "Known", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	// Throttling would answer the later attempts early, and be what is measured.
	limiter := throttle.New(throttle.Config{FreeAttempts: 1000})
	svc := auth.NewService(store, hasher, limiter, auth.SessionPolicy{Idle: time.Hour, Absolute: time.Hour}, "http://localhost")

	attempt := func(email string) (time.Duration, *errs.Error) {
		start := time.Now()
		_, err := svc.Login(ctx, email, "a wrong passphrase")
		d := time.Since(start)
		e, ok := errs.As(err)
		if !ok {
			t.Fatalf("login %s: %v", email, err)
		}
		return d, e
	}
	attempt("known@timing.test") // warm up: first queries, first hash
	const n = 10
	var unknown, wrong []time.Duration
	for i := range n {
		// Interleaved, so that a slow moment of the machine weighs on both alike.
		du, eu := attempt("unknown@timing.test")
		dw, ew := attempt("known@timing.test")
		unknown, wrong = append(unknown, du), append(wrong, dw)
		if i == 0 && (eu.Kind != ew.Kind || eu.Message != ew.Message) {
			t.Errorf("unknown address: %s %q; wrong password: %s %q", eu.Kind, eu.Message, ew.Kind, ew.Message)
		}
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	mu, mw := median(unknown), median(wrong)
	ratio := float64(mu) / float64(mw)
	t.Logf("median login time: unknown address %v, wrong password %v (ratio %.2f)", mu, mw, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Errorf("unknown address %v vs wrong password %v: ratio %.2f, want 0.5..2", mu, mw, ratio)
	}
	if mw < time.Millisecond {
		t.Errorf("a wrong password took %v: the real parameters are not in use", mw)
	}
}
