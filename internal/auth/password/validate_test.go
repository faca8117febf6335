package password

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/laatu/laatu/internal/errs"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plain string
		ok    bool
	}{
		{"empty", "", false},
		{"7 chars", "kq7!zvb", false},
		{"8 chars", "kq7!zvbm", true},
		{"256 chars", strings.Repeat("kq7!", 64), true},
		{"257 chars", strings.Repeat("kq7!", 64) + "x", false},
		{"7 emoji count as 7", strings.Repeat("🔒", 7), false},
		{"8 emoji count as 8", strings.Repeat("🔒", 8), true},
		{"256 multibyte", strings.Repeat("ä", 256), true},
		{"257 multibyte", strings.Repeat("ä", 257), false},
		{"no composition rules", "allsmallletters", true},
		{"spaces allowed", "correct horse battery staple", true},
		{"invalid utf-8", "abcdefgh\xff", false},
		{"common", "password", false},
		{"common upper case", "PassWord123", false},
		{"common padded", "  iloveyou1\t", false},
		{"common non-ascii", "Salasana123", false},
		{"common digits", "12345678", false},
		{"common with more", "password-for-laatu", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.plain)
			if tc.ok {
				if err != nil {
					t.Fatalf("Validate(%q) = %v, want nil", tc.plain, err)
				}
				return
			}
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.BadUserInput || e.Field != "password" || e.Message == "" {
				t.Fatalf("Validate(%q) = %#v, want BAD_USER_INPUT on password", tc.plain, err)
			}
		})
	}
}

// TestCommonList keeps the embedded list useful: every entry could pass the length rules
// (shorter ones are refused anyway) and is stored in the form Validate compares.
func TestCommonList(t *testing.T) {
	seen := map[string]bool{}
	for line := range strings.Lines(commonTxt) {
		w := strings.TrimSuffix(line, "\n")
		if n := utf8.RuneCountInString(w); n < MinLength || n > MaxLength {
			t.Errorf("%q: %d characters, outside %d..%d", w, n, MinLength, MaxLength)
		}
		if w != strings.ToLower(strings.TrimSpace(w)) {
			t.Errorf("%q is not trimmed lower case", w)
		}
		if seen[w] {
			t.Errorf("%q listed twice", w)
		}
		seen[w] = true
	}
	if len(seen) < 200 || len(common()) != len(seen) {
		t.Fatalf("%d entries listed, %d loaded", len(seen), len(common()))
	}
}
