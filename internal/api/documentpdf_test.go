package api

import (
	"strings"
	"testing"
)

func TestContentDisposition(t *testing.T) {
	for title, want := range map[string]string{
		"Site inspection":     `attachment; filename="Site inspection.pdf"; filename*=UTF-8''Site%20inspection.pdf`,
		`Pyhäjärvi "A"/B\C`:   `attachment; filename="Pyh_j_rvi _A__B_C.pdf"; filename*=UTF-8''Pyh%C3%A4j%C3%A4rvi%20_A__B_C.pdf`,
		"../../etc/passwd":    `attachment; filename="_.._etc_passwd.pdf"; filename*=UTF-8''_.._etc_passwd.pdf`,
		"a\r\nX-Evil: 1\x00b": `attachment; filename="aX-Evil: 1b.pdf"; filename*=UTF-8''aX-Evil%3A%201b.pdf`,
		"  ...  ":             `attachment; filename="document.pdf"; filename*=UTF-8''document.pdf`,
		"it's; 100%":          `attachment; filename="it's_ 100_.pdf"; filename*=UTF-8''it%27s_%20100_.pdf`,
		"\u202eevil\u200b":    `attachment; filename="evil.pdf"; filename*=UTF-8''evil.pdf`,
	} {
		if got := ContentDisposition(title); got != want {
			t.Errorf("ContentDisposition(%q)\n got %s\nwant %s", title, got, want)
		}
	}
	if got := SafeFilename(strings.Repeat("ä", 300)); len([]rune(got)) != 100 {
		t.Errorf("long title: %d runes, want 100", len([]rune(got)))
	}
}
