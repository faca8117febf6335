// Package pdf renders one document as a PDF for printing: a header with the company, folder
// path, title, status and version, every field in the template's order, the signatures with
// their time and content hash, and a footer with page numbers and the print time.
//
// It knows nothing of storage or rights: the caller loads what the reader may see and passes
// it in as an Input. Text is set in fpdf's core fonts (Helvetica) through the cp1252 code page,
// which covers Finnish, Swedish and German letters (ä ö å ü ß é); a character outside it prints
// as a dot rather than failing the rendering.
package pdf

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"codeberg.org/go-pdf/fpdf"
)

// Input is what one printed document shows, already read and formatted by the caller.
type Input struct {
	Company string
	// FolderPath names the folders from the root down to the document's folder.
	FolderPath []string
	Title      string
	Status     string
	Version    int
	// Template names the document template the fields come from.
	Template   string
	Fields     []Field
	Signatures []Signature
	// PrintedAt is the print time shown in the footer (and the PDF's creation date).
	PrintedAt time.Time
	// PrintedBy names who printed it, shown in the footer when set.
	PrintedBy string
}

// Field is one field of the document, in the template's order.
type Field struct {
	Label string
	// Type is the template's field type (TEXT, NUMBER, DATE, CHECKBOX, CHOICE, PHOTO, SIGNATURE).
	Type string
	// Value is the value as text; empty prints as a dash.
	Value string
}

// Signature is one signature of the document.
type Signature struct {
	Signer      string
	SignedAt    time.Time
	Version     int
	ContentHash string
	// State says whether it is in force ("valid", "voided", "invalid").
	State string
}

// maxInput bounds what one rendering takes, so that a huge value cannot make a huge PDF.
const (
	maxText   = 20000
	maxFields = 2000
)

// ErrTooLarge is returned for an Input beyond what a printed document holds.
var ErrTooLarge = errors.New("pdf: document too large to print")

// Render writes doc as a PDF to w. The PDF is built in memory and written at the end, so
// that an error leaves nothing half-written behind.
func Render(w io.Writer, doc Input) error {
	if len(doc.Fields) > maxFields || len(doc.Signatures) > maxFields {
		return ErrTooLarge
	}
	if doc.PrintedAt.IsZero() {
		doc.PrintedAt = time.Now()
	}
	p := fpdf.New("P", "mm", "A4", "")
	p.SetCreationDate(doc.PrintedAt)
	p.SetModificationDate(doc.PrintedAt)
	p.SetCreator("Laatu", false)
	tr := p.UnicodeTranslatorFromDescriptor("")
	text := func(s string) string { return tr(clean(s, false)) }
	block := func(s string) string { return tr(clean(s, true)) }
	p.SetTitle(clean(doc.Title, false), true)
	p.SetAutoPageBreak(true, 18)
	p.SetMargins(18, 18, 18)
	p.AliasNbPages("{nb}")
	printed := "Printed " + doc.PrintedAt.UTC().Format("2006-01-02 15:04 UTC")
	if doc.PrintedBy != "" {
		printed += " by " + doc.PrintedBy
	}
	p.SetFooterFunc(func() {
		p.SetY(-13)
		p.SetFont("Helvetica", "", 8)
		p.SetTextColor(110, 110, 110)
		p.CellFormat(0, 5, text(printed), "T", 0, "L", false, 0, "")
		p.SetX(18)
		p.CellFormat(0, 5, fmt.Sprintf("Page %d of {nb}", p.PageNo()), "", 0, "R", false, 0, "")
	})
	p.AddPage()
	width, _ := p.GetPageSize()
	left, _, right, _ := p.GetMargins()
	body := width - left - right

	// Header: company and folder path small, title large, then status and version.
	p.SetFont("Helvetica", "", 9)
	p.SetTextColor(90, 90, 90)
	p.MultiCell(body, 4.5, text(strings.Join(append([]string{doc.Company}, doc.FolderPath...), " / ")), "", "L", false)
	p.Ln(1)
	p.SetFont("Helvetica", "B", 16)
	p.SetTextColor(0, 0, 0)
	p.MultiCell(body, 7.5, text(orDash(doc.Title)), "", "L", false)
	p.SetFont("Helvetica", "", 10)
	meta := fmt.Sprintf("Status: %s    Version: %d", orDash(doc.Status), doc.Version)
	if doc.Template != "" {
		meta += "    Template: " + doc.Template
	}
	p.MultiCell(body, 5.5, text(meta), "B", "L", false)
	p.Ln(4)

	// Fields: label (and type) on the left, value on the right.
	labelW := body * 0.36
	for _, f := range doc.Fields {
		value := orDash(f.Value)
		switch f.Type {
		case "PHOTO":
			if f.Value != "" {
				value = "[photo: " + f.Value + "]"
			} else {
				value = "[no photo]"
			}
		case "SIGNATURE":
			if f.Value != "" {
				value = "[signature: " + f.Value + "]"
			} else {
				value = "[not signed]"
			}
		}
		y := p.GetY()
		p.SetFont("Helvetica", "B", 10)
		p.MultiCell(labelW, 5.5, text(orDash(f.Label)), "", "L", false)
		yLabel := p.GetY()
		page := p.PageNo()
		p.SetXY(left+labelW, y)
		p.SetFont("Helvetica", "", 10)
		p.MultiCell(body-labelW, 5.5, block(value), "", "L", false)
		if p.PageNo() == page && yLabel > p.GetY() {
			p.SetY(yLabel)
		}
		p.SetDrawColor(220, 220, 220)
		p.Line(left, p.GetY()+1, left+body, p.GetY()+1)
		p.Ln(2.5)
	}

	// Signatures.
	p.Ln(4)
	p.SetFont("Helvetica", "B", 12)
	p.CellFormat(body, 7, "Signatures", "", 1, "L", false, 0, "")
	p.SetFont("Helvetica", "", 9.5)
	if len(doc.Signatures) == 0 {
		p.CellFormat(body, 5.5, "Not signed.", "", 1, "L", false, 0, "")
	}
	for _, s := range doc.Signatures {
		line := fmt.Sprintf("%s, %s, version %d", orDash(s.Signer), s.SignedAt.UTC().Format("2006-01-02 15:04:05 UTC"), s.Version)
		if s.State != "" {
			line += " (" + s.State + ")"
		}
		p.SetFont("Helvetica", "B", 9.5)
		p.MultiCell(body, 5, text(line), "", "L", false)
		p.SetFont("Courier", "", 8)
		p.MultiCell(body, 4.5, text("SHA-256 "+s.ContentHash), "", "L", false)
		p.Ln(1.5)
	}
	if err := p.Error(); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	if err := p.Output(w); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	return nil
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// clean drops control characters (keeping line breaks where multiline is set) and cuts
// over-long text, so that stored data cannot steer the layout or blow up the output.
func clean(s string, multiline bool) string {
	if len(s) > maxText {
		n := maxText
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r == '\n' && multiline {
			return r
		}
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}
