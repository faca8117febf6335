// Package token makes the opaque bearer secrets of sessions, invitations and password resets.
//
// A token is a readable prefix and 32 random bytes in unpadded base64url. Only its SHA-256
// hash is stored, so a copy of the database does not hold usable tokens; the prefix makes a
// leaked token recognisable (to people and to secret scanners) and tells the kinds apart.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// Prefixes of the token kinds.
const (
	SessionPrefix = "lts_"
	InvitePrefix  = "lti_"
	ResetPrefix   = "ltr_"
)

// secretLen is the number of random bytes in a token: 256 bits, beyond any guessing.
const secretLen = 32

// New returns a fresh token with the given prefix and the hash to store for it.
func New(prefix string) (plain string, hash []byte, err error) {
	b := make([]byte, secretLen)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("token: random: %w", err)
	}
	plain = prefix + base64.RawURLEncoding.EncodeToString(b)
	return plain, Hash(plain), nil
}

// Hash returns the SHA-256 of the whole token, prefix included: the value to store and to
// look a presented token up by. A plain hash suffices because the token is high-entropy.
func Hash(plain string) []byte {
	sum := sha256.Sum256([]byte(plain))
	return sum[:]
}
