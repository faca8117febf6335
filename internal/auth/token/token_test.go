package token

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	const n = 10_000
	seen := make(map[string]bool, n)
	for range n {
		plain, hash, err := New(SessionPrefix)
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := strings.CutPrefix(plain, SessionPrefix)
		if !ok {
			t.Fatalf("%q lacks the prefix %q", plain, SessionPrefix)
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(rest)
		if err != nil {
			t.Fatalf("%q is not unpadded base64url: %v", rest, err)
		}
		if len(raw) < 16 { // 128 bits at least
			t.Fatalf("%d random bytes, want at least 16", len(raw))
		}
		if !bytes.Equal(hash, Hash(plain)) {
			t.Fatal("New's hash differs from Hash(plain)")
		}
		if seen[plain] {
			t.Fatalf("token %q drawn twice", plain)
		}
		seen[plain] = true
	}
}

func TestNewUsesAllBits(t *testing.T) {
	// Every bit of the secret should be set in some draw and clear in another; a constant
	// or truncated source would leave some bit fixed.
	var or, and [secretLen]byte
	for i := range and {
		and[i] = 0xff
	}
	for range 64 {
		plain, _, err := New("")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(plain)
		if err != nil || len(raw) != secretLen {
			t.Fatalf("decoded %d bytes, err %v", len(raw), err)
		}
		for i, b := range raw {
			or[i] |= b
			and[i] &= b
		}
	}
	for i := range or {
		if or[i] != 0xff || and[i] != 0 {
			t.Fatalf("byte %d: some bit never changed (or %08b, and %08b)", i, or[i], and[i])
		}
	}
}

func TestHash(t *testing.T) {
	// SHA-256("abc"), from FIPS 180-2.
	want, _ := hex.DecodeString("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
	if got := Hash("abc"); !bytes.Equal(got, want) {
		t.Fatalf("Hash(abc) = %x", got)
	}
	if !bytes.Equal(Hash("lts_x"), Hash("lts_x")) {
		t.Fatal("Hash is not deterministic")
	}
	if bytes.Equal(Hash("lts_x"), Hash("lti_x")) {
		t.Fatal("the prefix is not part of the hash")
	}
}
