package pdf

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func sample(fields int) Input {
	in := Input{
		Company:    "Rakennus Äijälä Oy",
		FolderPath: []string{"Työmaa Pyhäjärvi", "Tarkastukset"},
		Title:      "Telinetarkastus — Größe Straße 5, Åbo",
		Status:     "SUBMITTED",
		Version:    3,
		Template:   "Site inspection",
		PrintedAt:  time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC),
		PrintedBy:  "Päivi Größ",
		Signatures: []Signature{{Signer: "Jörg Müller", SignedAt: time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC),
			Version: 3, ContentHash: strings.Repeat("ab", 32), State: "valid"}},
	}
	types := []string{"TEXT", "NUMBER", "DATE", "CHECKBOX", "CHOICE", "PHOTO", "SIGNATURE"}
	for i := range fields {
		t := types[i%len(types)]
		v := fmt.Sprintf("Kenttä %d: sää on kylmä, tuuli ärtyisä, Übergabe geprüft é", i)
		if i%5 == 0 {
			v = strings.Repeat("Pitkä huomautus rivitettäväksi. ", 12) + "\nToinen rivi."
		}
		in.Fields = append(in.Fields, Field{Label: fmt.Sprintf("Kohta %d (%s) äöå", i, t), Type: t, Value: v})
	}
	return in
}

func TestRender(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, sample(20)); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	if !bytes.HasPrefix(out, []byte("%PDF-")) {
		t.Fatalf("output starts with %q, want %%PDF-", out[:min(len(out), 16)])
	}
	if len(out) < 2000 {
		t.Fatalf("output is %d bytes: too small for 20 fields", len(out))
	}
	if !bytes.Contains(out, []byte("%%EOF")) {
		t.Fatal("output has no EOF trailer")
	}
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Log("pdftotext not installed: the text itself is not checked")
		return
	}
	cmd := exec.Command("pdftotext", "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(out)
	text, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Telinetarkastus", "Größe Straße", "Rakennus Äijälä Oy", "Page 1 of"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

// TestRenderOddInput: empty input, control characters, characters outside cp1252 and an
// over-long value render without error.
func TestRenderOddInput(t *testing.T) {
	for name, in := range map[string]Input{
		"empty": {},
		"odd": {Title: "a\x00b\x1b[31mc 漢字 🙂", Fields: []Field{{Label: "\r\n", Type: "PHOTO"},
			{Label: "long", Type: "TEXT", Value: strings.Repeat("ä", 3*maxText)}}},
	} {
		var buf bytes.Buffer
		if err := Render(&buf, in); err != nil {
			t.Errorf("%s: %v", name, err)
		} else if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
			t.Errorf("%s: not a PDF", name)
		}
	}
	if err := Render(&bytes.Buffer{}, Input{Fields: make([]Field, maxFields+1)}); err != ErrTooLarge {
		t.Errorf("too many fields: %v, want ErrTooLarge", err)
	}
}

// BenchmarkRender renders a 20-field document with one signature.
func BenchmarkRender(b *testing.B) {
	in := sample(20)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := Render(&buf, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/pdf")
}
