package password

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/laatu/laatu/internal/errs"
)

// cheap keeps most tests fast; the costs are irrelevant to what they check.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t *testing.T, p Params, maxConcurrent int, opts ...Option) *Hasher {
	t.Helper()
	h, err := NewHasher(p, maxConcurrent, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDefaultParamsRoundTrip(t *testing.T) {
	h := newHasher(t, DefaultParams(), 1)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoding %q does not carry the default params", enc)
	}
	parts := strings.Split(enc, "$")
	if len(parts[4]) != 22 || len(parts[5]) != 43 {
		t.Fatalf("salt/hash lengths %d/%d, want 22/43 base64 chars (16/32 bytes)", len(parts[4]), len(parts[5]))
	}
	ok, rehash, err := h.Verify(ctx, "correct horse battery staple", enc)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestVerify(t *testing.T) {
	h := newHasher(t, cheap, 2)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "pässwörd ✓ long enough")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := h.Hash(ctx, "pässwörd ✓ long enough")
	if enc == again {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	for _, tc := range []struct {
		plain string
		want  bool
	}{
		{"pässwörd ✓ long enough", true},
		{"pässwörd ✓ long enougH", false},
		{"pässwörd ✓ long enough ", false},
		{"", false},
	} {
		ok, rehash, err := h.Verify(ctx, tc.plain, enc)
		if err != nil || ok != tc.want || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v, false, nil", tc.plain, ok, rehash, err, tc.want)
		}
	}
}

func TestVerifyOtherParams(t *testing.T) {
	ctx := context.Background()
	current := Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
	h := newHasher(t, current, 1)
	for _, tc := range []struct {
		name   string
		old    Params
		rehash bool
	}{
		{"same", current, false},
		{"less memory", Params{Memory: 64, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"fewer passes", Params{Memory: 128, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"shorter salt", Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 8, KeyLen: 32}, true},
		{"shorter key", Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 16}, true},
		{"other threads", Params{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{"stronger", Params{Memory: 256, Time: 3, Threads: 4, SaltLen: 32, KeyLen: 64}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := newHasher(t, tc.old, 1)
			enc, err := old.Hash(ctx, "an old password")
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", tc.old.Memory, tc.old.Time, tc.old.Threads)
			if !strings.HasPrefix(enc, want) {
				t.Fatalf("encoding %q, want prefix %q", enc, want)
			}
			ok, rehash, err := h.Verify(ctx, "an old password", enc)
			if err != nil || !ok || rehash != tc.rehash {
				t.Fatalf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tc.rehash)
			}
			// A wrong password never asks for a rehash: there is nothing to rehash with.
			if ok, rehash, _ := h.Verify(ctx, "a wrong password", enc); ok || rehash {
				t.Fatalf("wrong password: Verify = %v, %v", ok, rehash)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := newHasher(t, cheap, 1)
	good, err := h.Hash(context.Background(), "some password")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	for _, enc := range []string{
		"",
		"$",
		"plain text",
		good + "$",
		strings.TrimPrefix(good, "$"),
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + key,
		"$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key,
		"$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1000000,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "=$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "==",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$!" + key[1:],
		"$argon2id$v=19$m=64,t=1,p=1$$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:10],
	} {
		ok, rehash, err := h.Verify(context.Background(), "some password", enc)
		if err == nil || ok || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want an error", enc, ok, rehash, err)
		}
		if k := errs.KindOf(err); k != errs.Internal {
			t.Errorf("Verify(%q) error kind %s, want INTERNAL (a bad stored hash is our fault)", enc, k)
		}
	}
}

func TestNewHasherRejectsBadParams(t *testing.T) {
	for _, p := range []Params{
		{},
		{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 7, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
	} {
		if _, err := NewHasher(p, 1); err == nil {
			t.Errorf("NewHasher(%+v) succeeded", p)
		}
	}
}

// holdSlot fills every slot of h, as concurrent hashes would, and frees them at cleanup.
func holdSlot(t *testing.T, h *Hasher) {
	t.Helper()
	for range cap(h.slots) {
		h.slots <- struct{}{}
	}
	t.Cleanup(func() {
		for range cap(h.slots) {
			<-h.slots
		}
	})
}

func assertBusy(t *testing.T, err error) *errs.Error {
	t.Helper()
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.RateLimited {
		t.Fatalf("err = %v, want RATE_LIMITED", err)
	}
	if e.RetryAfter <= 0 {
		t.Fatalf("RetryAfter = %v, want > 0", e.RetryAfter)
	}
	if e.Message != "too many login attempts in progress, retry shortly" {
		t.Fatalf("message %q", e.Message)
	}
	return e
}

func TestSaturatedHasherIsRateLimited(t *testing.T) {
	h := newHasher(t, cheap, 1)
	enc, err := h.Hash(context.Background(), "some password")
	if err != nil {
		t.Fatal(err)
	}
	var waited []time.Duration
	h.after = func(d time.Duration) <-chan time.Time {
		waited = append(waited, d)
		c := make(chan time.Time, 1)
		c <- time.Time{} // the wait runs out at once
		return c
	}
	holdSlot(t, h)
	ctx := context.Background()

	_, err = h.Hash(ctx, "some password")
	assertBusy(t, err)
	_, _, err = h.Verify(ctx, "some password", enc)
	assertBusy(t, err)
	assertBusy(t, h.VerifyDummy(ctx, "some password"))
	if want := []time.Duration{DefaultQueueWait, DefaultQueueWait, DefaultQueueWait}; !slices.Equal(waited, want) {
		t.Fatalf("waited %v, want %v", waited, want)
	}
	if !errors.Is(err, errs.ErrRateLimited) {
		t.Fatal("errors.Is(err, errs.ErrRateLimited) is false")
	}
}

func TestQueueWaitOption(t *testing.T) {
	h := newHasher(t, cheap, 1, WithQueueWait(10*time.Millisecond))
	holdSlot(t, h)
	start := time.Now()
	_, err := h.Hash(context.Background(), "some password")
	assertBusy(t, err)
	if d := time.Since(start); d < 10*time.Millisecond {
		t.Fatalf("gave up after %v, before the 10ms wait", d)
	}
}

func TestSaturatedHasherHonoursContext(t *testing.T) {
	h := newHasher(t, cheap, 1)
	h.after = func(time.Duration) <-chan time.Time { return nil } // never runs out
	holdSlot(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Hash(ctx, "some password")
	assertBusy(t, err)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want it to wrap context.Canceled", err)
	}
}

func TestWaiterGetsFreedSlot(t *testing.T) {
	h := newHasher(t, cheap, 1)
	waiting := make(chan struct{})
	h.after = func(time.Duration) <-chan time.Time {
		close(waiting)
		return nil // never runs out: only a freed slot can end the wait
	}
	h.slots <- struct{}{}
	done := make(chan error)
	go func() {
		_, err := h.Hash(context.Background(), "some password")
		done <- err
	}()
	<-waiting
	<-h.slots
	if err := <-done; err != nil {
		t.Fatalf("Hash after a slot freed: %v", err)
	}
	if n := len(h.slots); n != 0 {
		t.Fatalf("%d slots still taken after Hash returned", n)
	}
}

// TestVerifyDummyTiming checks that an unknown email costs about what a wrong password does.
// The bounds are loose: the point is catching a VerifyDummy that skips the work.
func TestVerifyDummyTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	p := Params{Memory: 4096, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := newHasher(t, p, 1)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "the real password")
	if err != nil {
		t.Fatal(err)
	}
	// The minimum of several interleaved runs is the least disturbed by other load.
	var real, dummy time.Duration = 1 << 62, 1 << 62
	for range 7 {
		start := time.Now()
		if _, _, err := h.Verify(ctx, "a wrong password", enc); err != nil {
			t.Fatal(err)
		}
		real = min(real, time.Since(start))
		start = time.Now()
		if err := h.VerifyDummy(ctx, "a wrong password"); err != nil {
			t.Fatal(err)
		}
		dummy = min(dummy, time.Since(start))
	}
	if r := float64(dummy) / float64(real); r < 0.5 || r > 2 {
		t.Fatalf("VerifyDummy took %v, Verify %v: ratio %.2f outside 0.5..2", dummy, real, r)
	}
}
