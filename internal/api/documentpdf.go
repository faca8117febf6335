package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/rs/zerolog"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/auth"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/httpx"
	"github.com/laatu/laatu/internal/pdf"
	"github.com/laatu/laatu/internal/storage"
)

// PDFOptions wire the PDF download route.
type PDFOptions struct {
	Store *storage.Store
	Auth  *auth.Authenticator
	// Timeout bounds one rendering, like a query (--request-timeout); 0: none.
	Timeout time.Duration
	// Budget, when set, charges each download PDFCost to the caller's rate limits (the
	// budgets of /graphql: a refusal is 429 RATE_LIMITED with Retry-After).
	Budget func(ctx context.Context, cost int) error
	// Probed, when set, records a request for an id the caller may not see (ACCESS_DENIED),
	// as the directives do for GraphQL.
	Probed func(ctx context.Context, id string)
}

// PDFCost is what one PDF download costs against the rate limits: a rendering takes a few
// milliseconds of CPU, several times a typical nested read.
const PDFCost = 10

// DocumentPDF serves GET /documents/{id}/pdf: the document printed as a PDF, for a caller
// with a bearer token who may VIEW it. The right is checked again by the store as the document
// is read: a document the caller may not view answers 404, exactly as one that does not exist.
// The rendering is audited as EXPORT on the document, durably, before any byte is sent; if
// that fails, so does the download.
func DocumentPDF(o PDFOptions) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p := access.FromContext(ctx)
		if !p.Authenticated() {
			w.Header().Set("WWW-Authenticate", `Bearer`)
			httpx.WriteJSONError(w, http.StatusUnauthorized, errs.Unauthenticated,
				`a PDF needs a session: send "Authorization: Bearer <token>"`)
			return
		}
		if o.Budget != nil {
			if err := o.Budget(ctx, PDFCost); err != nil {
				rateLimited(w, err)
				return
			}
		}
		id := r.PathValue("id")
		in, doc, err := loadPrint(ctx, o.Store, id)
		if err != nil {
			if errs.KindOf(err) == errs.NotFound && o.Probed != nil {
				o.Probed(ctx, id)
			}
			pdfError(ctx, w, err)
			return
		}
		var buf bytes.Buffer
		if err := pdf.Render(&buf, in); err != nil {
			pdfError(ctx, w, err)
			return
		}
		err = o.Store.Emit(ctx, storage.Change{Kind: audit.ActionExport, CompanyID: doc.CompanyID,
			ObjectType: storage.TypeDocument, ObjectID: doc.ID, Path: doc.FolderPath,
			Fields: []storage.FieldChange{{Field: "format", After: "pdf"}, {Field: "version", After: doc.Version}}})
		if err != nil {
			pdfError(ctx, w, fmt.Errorf("pdf: audit: %w", err))
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/pdf")
		h.Set("Content-Disposition", ContentDisposition(in.Title))
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = buf.WriteTo(w)
	})
	return authenticate(Options{Auth: o.Auth}, withTimeout(o.Timeout, h))
}

// loadPrint reads, in one read-only transaction, what the printed document shows: the
// document (NOT_FOUND unless the caller may view it), its template, the folders above it that
// the caller may see, its company and its signatures with their signers' names.
func loadPrint(ctx context.Context, store *storage.Store, id string) (pdf.Input, *storage.Document, error) {
	ctx, op, err := store.Begin(ctx, true)
	if err != nil {
		return pdf.Input{}, nil, err
	}
	defer op.Rollback()
	doc, err := store.Document(ctx, id)
	if err != nil {
		return pdf.Input{}, nil, err
	}
	templates, err := store.TemplatesByID(ctx, []string{doc.TemplateID})
	if err != nil {
		return pdf.Input{}, nil, err
	}
	folderIDs := strings.FieldsFunc(doc.FolderPath, func(r rune) bool { return r == '/' })
	folders, err := store.FoldersByID(ctx, folderIDs)
	if err != nil {
		return pdf.Input{}, nil, err
	}
	companies, err := store.CompaniesByID(ctx, []string{doc.CompanyID})
	if err != nil {
		return pdf.Input{}, nil, err
	}
	sigs, err := store.SignaturesByDocument(ctx, []string{doc.ID})
	if err != nil {
		return pdf.Input{}, nil, err
	}
	var signerIDs []string
	for _, s := range sigs[doc.ID] {
		signerIDs = append(signerIDs, s.SignerID)
	}
	users, err := store.UsersByID(ctx, signerIDs)
	if err != nil {
		return pdf.Input{}, nil, err
	}
	if err := op.Commit(); err != nil {
		return pdf.Input{}, nil, err
	}

	in := pdf.Input{Title: doc.Title, Status: string(doc.Status), Version: doc.Version, PrintedAt: store.Now()}
	if co := companies[doc.CompanyID]; co != nil {
		in.Company = co.Name
	}
	// A folder above the document that the caller may not see (a guest holding a grant on
	// the document alone) is not named.
	for _, fid := range folderIDs {
		if f := folders[fid]; f != nil {
			in.FolderPath = append(in.FolderPath, f.Name)
		} else {
			in.FolderPath = append(in.FolderPath, "…")
		}
	}
	if t := templates[doc.TemplateID]; t != nil {
		in.Template = t.Name
		for _, f := range t.Fields {
			in.Fields = append(in.Fields, pdf.Field{Label: f.Label, Type: string(f.Type), Value: fieldText(doc.Values[f.Key])})
		}
	}
	for _, s := range sigs[doc.ID] {
		ps := pdf.Signature{SignedAt: s.SignedAt, Version: s.Version, ContentHash: s.ContentHash, State: "valid"}
		if u := users[s.SignerID]; u != nil {
			ps.Signer = u.Name
		}
		switch {
		case s.VoidedAt != nil:
			ps.State = "voided"
		case !storage.InForce(s, doc):
			ps.State = "invalid"
		}
		in.Signatures = append(in.Signatures, ps)
	}
	return in, doc, nil
}

// fieldText is a stored value as printed.
func fieldText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "Yes"
		}
		return "No"
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		return v.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// pdfError answers a failed download with the JSON error body of the other routes: 404 for a
// document that is not there for the caller, 503 when the database is unavailable, and a
// masked 500, logged, for anything else.
func pdfError(ctx context.Context, w http.ResponseWriter, err error) {
	switch {
	case errs.KindOf(err) == errs.NotFound:
		httpx.WriteJSONError(w, http.StatusNotFound, errs.NotFound, "document not found")
	case errors.Is(err, pdf.ErrTooLarge):
		httpx.WriteJSONError(w, http.StatusUnprocessableEntity, errs.BadUserInput, "the document is too large to print")
	case ctx.Err() != nil || errs.IsUnavailable(err):
		zerolog.Ctx(ctx).Warn().Err(err).Msg("document pdf: unavailable")
		writeUnavailable(w, "the database is unavailable; try again")
	default:
		zerolog.Ctx(ctx).Error().Err(err).Msg("document pdf")
		httpx.WriteJSONError(w, http.StatusInternalServerError, errs.Internal, "internal error")
	}
}

// ContentDisposition names the download after the document's title: quotes, slashes,
// backslashes and control characters are replaced, the name is cut to 100 characters, and
// filename carries an ASCII form while filename* (RFC 6266) carries the title's own letters.
func ContentDisposition(title string) string {
	name := SafeFilename(title)
	ascii := strings.Map(func(r rune) rune {
		if r > unicode.MaxASCII {
			return '_'
		}
		return r
	}, name)
	return `attachment; filename="` + ascii + `.pdf"; filename*=UTF-8''` + extValue(name+".pdf")
}

// SafeFilename is title as a file name with no path, quote or control character in it.
func SafeFilename(title string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r == '"' || r == '/' || r == '\\' || r == ';' || r == '%':
			return '_'
		case unicode.IsControl(r) || r == unicode.ReplacementChar || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, title)
	name = strings.Trim(strings.TrimSpace(name), ".")
	if r := []rune(name); len(r) > 100 {
		name = strings.TrimSpace(string(r[:100]))
	}
	if name == "" {
		name = "document"
	}
	return name
}

// extValue percent-encodes s as the value of an RFC 8187 ext-value, keeping only attr-char.
func extValue(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// rateLimited answers a download refused for the caller's budget: 429 with Retry-After in
// whole seconds, at least 1, and the limiter's message.
func rateLimited(w http.ResponseWriter, err error) {
	after, msg := time.Second, "rate limit exceeded; retry later"
	if e, ok := errs.As(err); ok {
		if e.RetryAfter > after {
			after = e.RetryAfter
		}
		if e.Message != "" {
			msg = e.Message
		}
	}
	w.Header().Set("Retry-After", strconv.Itoa(int((after+time.Second-1)/time.Second)))
	httpx.WriteJSONError(w, http.StatusTooManyRequests, errs.RateLimited, msg)
}
