// Package password hashes and checks user passwords with argon2id.
//
// Hashes are stored as PHC strings that carry their own parameters
// ($argon2id$v=19$m=19456,t=2,p=1$salt$hash), so the parameters can be raised later and old
// hashes upgraded on the next successful login (see Verify's needsRehash).
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/laatu/laatu/internal/errs"
)

// Params are the argon2id cost parameters. Memory is in KiB.
type Params struct {
	Memory  uint32
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams returns the OWASP-recommended argon2id minimum: 19 MiB, 2 passes, 1 lane,
// a 16-byte salt and a 32-byte key.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds on parameters. The upper bounds keep a corrupt or hostile stored hash from making
// Verify allocate gigabytes or spin for minutes.
const (
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
	maxMemory  = 1 << 20 // KiB, 1 GiB
	maxTime    = 64
)

func (p Params) validate() error {
	switch {
	case p.Threads < 1:
		return errors.New("threads must be at least 1")
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time must be in 1..%d", maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("memory must be in 8*threads..%d KiB", maxMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length must be in %d..%d bytes", minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length must be in %d..%d bytes", minKeyLen, maxKeyLen)
	}
	return nil
}

// weakerThan reports whether a hash made with p is cheaper to attack than one made with q.
// Threads are not compared: they change the result but not the attacker's cost.
func (p Params) weakerThan(q Params) bool {
	return p.Memory < q.Memory || p.Time < q.Time || p.SaltLen < q.SaltLen || p.KeyLen < q.KeyLen
}

// DefaultQueueWait is how long Hash and Verify wait for a free hashing slot by default.
const DefaultQueueWait = 2 * time.Second

// busyRetryAfter is the hint given to clients turned away because every slot was taken.
const busyRetryAfter = time.Second

// Hasher hashes and verifies passwords, running at most a fixed number of argon2 computations
// at once: each takes Params.Memory of RAM and a core for tens of milliseconds, so a login
// flood must queue briefly and then be turned away rather than exhaust the server.
// A Hasher is safe for concurrent use.
type Hasher struct {
	params Params
	slots  chan struct{}
	wait   time.Duration
	dummy  string

	// after starts the queue-wait timer; tests replace it to control when the wait ends.
	after func(time.Duration) <-chan time.Time
}

// Option adjusts a Hasher built by NewHasher.
type Option func(*Hasher)

// WithQueueWait sets how long a caller waits for a free hashing slot before it is told to
// retry (DefaultQueueWait when not set).
func WithQueueWait(d time.Duration) Option {
	return func(h *Hasher) { h.wait = d }
}

// NewHasher returns a Hasher using p for new hashes and running at most maxConcurrent hashes
// at once; maxConcurrent < 1 means one per CPU. It fails when p is out of range.
func NewHasher(p Params, maxConcurrent int, opts ...Option) (*Hasher, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("password: invalid params: %w", err)
	}
	if maxConcurrent < 1 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{
		params: p,
		slots:  make(chan struct{}, maxConcurrent),
		wait:   DefaultQueueWait,
		after:  time.After,
	}
	for _, o := range opts {
		o(h)
	}
	// The dummy hash is of a random secret nobody knows, with the hasher's own params, so
	// VerifyDummy costs exactly what a real Verify costs.
	h.dummy = h.hash(rand.Text())
	return h, nil
}

// Params returns the parameters used for new hashes.
func (h *Hasher) Params() Params { return h.params }

// acquire takes a hashing slot, or returns a RATE_LIMITED error when none frees in time.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	var cause error
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-h.after(h.wait):
		cause = errors.New("password: no hashing slot free")
	case <-ctx.Done():
		cause = ctx.Err()
	}
	e := errs.Wrap(errs.RateLimited, cause, "too many login attempts in progress, retry shortly")
	e.RetryAfter = busyRetryAfter
	return e
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC-encoded argon2id hash of plain with a fresh random salt.
// It returns a RATE_LIMITED error when the hasher is saturated.
func (h *Hasher) Hash(ctx context.Context, plain string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash(plain), nil
}

func (h *Hasher) hash(plain string) string {
	salt := make([]byte, h.params.SaltLen)
	rand.Read(salt) // never fails since Go 1.24
	key := argon2.IDKey([]byte(plain), salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	return encode(h.params, salt, key)
}

// Verify reports whether plain matches the encoded hash, and whether the hash was made with
// weaker parameters than the hasher's and should be replaced by a fresh Hash of plain.
// A malformed encoding is an error (INTERNAL: the stored hash is at fault, not the client).
// It returns a RATE_LIMITED error when the hasher is saturated.
func (h *Hasher) Verify(ctx context.Context, plain, encoded string) (ok, needsRehash bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(plain), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, false, nil
	}
	return true, p.weakerThan(h.params), nil
}

// VerifyDummy spends the same time as Verify without any stored hash, for logins with an
// unknown email, so that response times do not reveal which emails have accounts.
// It only returns an error when the hasher is saturated.
func (h *Hasher) VerifyDummy(ctx context.Context, plain string) error {
	_, _, err := h.Verify(ctx, plain, h.dummy)
	return err
}

var b64 = base64.RawStdEncoding.Strict()

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses a PHC argon2id string strictly; every field must be present and in range.
func decode(encoded string) (p Params, salt, key []byte, err error) {
	fail := func(what string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("password: malformed hash: %s", what)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("wrong number of fields")
	}
	if parts[1] != "argon2id" {
		return fail("not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("unsupported version")
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return fail("parameters")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return fail("parameter " + name)
		}
		bits := 32
		if name == "p" {
			bits = 8
		}
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil {
			return fail("parameter " + name)
		}
		vals[i] = n
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return fail("salt encoding")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil {
		return fail("hash encoding")
	}
	p = Params{
		Memory:  uint32(vals[0]),
		Time:    uint32(vals[1]),
		Threads: uint8(vals[2]),
		SaltLen: uint32(len(salt)),
		KeyLen:  uint32(len(key)),
	}
	if err := p.validate(); err != nil {
		return fail(err.Error())
	}
	return p, salt, key, nil
}
