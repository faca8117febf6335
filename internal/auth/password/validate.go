package password

import (
	_ "embed"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/laatu/laatu/internal/errs"
)

// Length limits, in Unicode code points. The upper limit only bounds the work of hashing;
// long passphrases are welcome and nothing is ever truncated.
const (
	MinLength = 8
	MaxLength = 256
)

//go:embed common.txt
var commonTxt string

// common is the set of refused passwords, lower-cased; built once, read-only afterwards.
var common = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{})
	for line := range strings.Lines(commonTxt) {
		if w := strings.ToLower(strings.TrimSpace(line)); w != "" {
			set[w] = struct{}{}
		}
	}
	return set
})

// Validate checks a new password as NIST SP 800-63B asks: a length of MinLength to MaxLength
// code points, any characters, no composition rules, and not one of the most common passwords.
// Its errors are BAD_USER_INPUT on the field "password".
func Validate(plain string) error {
	if !utf8.ValidString(plain) {
		return errs.Invalid("password", "password must be valid UTF-8 text")
	}
	n := utf8.RuneCountInString(plain)
	if n < MinLength {
		return errs.Invalid("password", "password must be at least %d characters long", MinLength)
	}
	if n > MaxLength {
		return errs.Invalid("password", "password must be at most %d characters long", MaxLength)
	}
	if _, ok := common()[strings.ToLower(strings.TrimSpace(plain))]; ok {
		return errs.Invalid("password", "this password is too common; choose a less guessable one, such as a phrase of several words")
	}
	return nil
}
