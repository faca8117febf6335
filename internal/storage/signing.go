package storage

// Signing. A document lists its signers; a signer signs the document's canonical content at one
// version (ContentHash), and the signature keeps that hash, so that it can be verified later by
// hashing the document again.
//
// The rules, which the README repeats for users:
//   - Only SUBMITTED or APPROVED documents are signed (access.MaySign), by listed signers who may
//     still VIEW them. Signing does not change the document or its version.
//   - While any signature is in force, the document is frozen: its title and values cannot be
//     changed (CONFLICT). Status changes that keep the content (approving, archiving) keep the
//     signatures.
//   - Sending the document back to DRAFT (from SUBMITTED or ARCHIVED) voids every signature in
//     force: they stay listed, with voidedAt, and the next round of signing starts on the new
//     content. A signature is in force while it is not voided and its hash is that of the
//     document's current content; anything else (a restore to an older content) shows as invalid.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
)

// ChangeSigned is the change kind, and audit action, of a signature.
const ChangeSigned ChangeKind = "SIGN"

// MaxSigners bounds the signers of one document.
const MaxSigners = 50

// Signer is a user asked to sign a document.
type Signer struct {
	bun.BaseModel `bun:"table:document_signers,alias:signer"`

	CompanyID  string    `bun:"company_id,pk"`
	DocumentID string    `bun:"document_id,pk"`
	UserID     string    `bun:"user_id,pk"`
	AddedBy    *string   `bun:"added_by"`
	CreatedAt  time.Time `bun:"created_at"`
}

// Signature is one signer's signature of one version of a document.
type Signature struct {
	bun.BaseModel `bun:"table:signatures,alias:signature"`

	CompanyID  string `bun:"company_id,pk"`
	ID         string `bun:"id,pk"`
	DocumentID string `bun:"document_id"`
	SignerID   string `bun:"signer_id"`
	// Version is the document's version when it was signed.
	Version int `bun:"version"`
	// ContentHash is ContentHash of the document as signed, in lowercase hex.
	ContentHash string `bun:"content_hash"`
	// ClientIP is where the signature came from. It is personal data, kept for evidence and not
	// served by the API (the SIGN audit event carries it too).
	ClientIP string     `bun:"client_ip"`
	SignedAt time.Time  `bun:"signed_at"`
	VoidedAt *time.Time `bun:"voided_at"`
}

// viaDocument admits the rows of t whose document (t.document_id) the principal may view.
func viaDocument(c *conn, t string) (string, []any) {
	doc, args := c.objectVisible("d", "d.folder_path", "d.id")
	return "EXISTS (SELECT 1 FROM documents AS d WHERE d.company_id = " + t + ".company_id AND d.id = " + t +
		".document_id AND d.deleted_at IS NULL AND " + doc + ")", args
}

var (
	signersTable    = tenantTable{"document_signers", "signer", "", "user_id", viaDocument, nil}
	signaturesTable = tenantTable{"signatures", "signature", "", "", viaDocument, nil}
)

// canonicalContent is what a signature covers: the document's identity, its template and its
// content, not its status or version (approving a signed document keeps the signatures).
type canonicalContent struct {
	Format     string         `json:"format"`
	CompanyID  string         `json:"companyId"`
	DocumentID string         `json:"documentId"`
	TemplateID string         `json:"templateId"`
	Title      string         `json:"title"`
	Values     map[string]any `json:"values"`
}

// ContentHash returns the lowercase hex SHA-256 of a document's canonical content: JSON with
// sorted keys and numbers as float64 (what both stores give back), so that the same content
// hashes the same on SQLite and PostgreSQL, before and after a round trip through either.
func ContentHash(d *Document) string {
	values := map[string]any{}
	if len(d.Values) > 0 {
		// A round trip through encoding/json normalizes numbers (json.Number, ints) to float64.
		if b, err := json.Marshal(d.Values); err == nil {
			_ = json.Unmarshal(b, &values)
		}
	}
	b, _ := json.Marshal(canonicalContent{Format: "laatu.document.v1", CompanyID: d.CompanyID, DocumentID: d.ID,
		TemplateID: d.TemplateID, Title: d.Title, Values: values})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// InForce reports whether a signature still covers the document as it is: not voided, and made
// over the content the document has now (the hash is recomputed, not trusted).
func InForce(s *Signature, d *Document) bool {
	return s.VoidedAt == nil && s.DocumentID == d.ID && s.ContentHash == ContentHash(d)
}

// open reports whether a document's state admits signatures.
func open(st Status) bool { return st == Submitted || st == Approved }

// SignersByDocument returns each document's signers, oldest first, for the documents the caller
// may view (others get an empty list).
func (s *Store) SignersByDocument(ctx context.Context, docIDs []string) (map[string][]*Signer, error) {
	docIDs = validIDs(docIDs)
	out := make(map[string][]*Signer, len(docIDs))
	for _, id := range docIDs {
		out[id] = []*Signer{}
	}
	if len(docIDs) == 0 {
		return out, nil
	}
	var rows []*Signer
	err := s.read(ctx, func(c *conn) error {
		return c.from(signersTable, &rows).Where("signer.document_id IN (?)", bun.List(docIDs)).
			OrderExpr("signer.created_at, signer.user_id").Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("signers by document: %w", err)
	}
	for _, r := range rows {
		out[r.DocumentID] = append(out[r.DocumentID], r)
	}
	return out, nil
}

// SignaturesByDocument returns each document's signatures, oldest first, voided ones included,
// for the documents the caller may view (others get an empty list).
func (s *Store) SignaturesByDocument(ctx context.Context, docIDs []string) (map[string][]*Signature, error) {
	docIDs = validIDs(docIDs)
	out := make(map[string][]*Signature, len(docIDs))
	for _, id := range docIDs {
		out[id] = []*Signature{}
	}
	if len(docIDs) == 0 {
		return out, nil
	}
	var rows []*Signature
	err := s.read(ctx, func(c *conn) error {
		return c.from(signaturesTable, &rows).Where("signature.document_id IN (?)", bun.List(docIDs)).
			OrderExpr("signature.signed_at, signature.id").Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("signatures by document: %w", err)
	}
	for _, r := range rows {
		out[r.DocumentID] = append(out[r.DocumentID], r)
	}
	return out, nil
}

// SignFactsOf answers access.MaySign's questions for the caller and each document, in order.
func SignFactsOf(caller string, d *Document, right access.Right, signers []*Signer, sigs []*Signature) access.SignFacts {
	f := access.SignFacts{Right: right, Open: open(d.Status)}
	for _, s := range signers {
		if s.UserID == caller {
			f.Signer = true
		}
	}
	for _, s := range sigs {
		if s.SignerID == caller && InForce(s, d) {
			f.Signed = true
		}
	}
	return f
}

// SetSigners replaces the signers of a document (MANAGE). Each must be able to VIEW the
// document now, as a member or through a grant; a user who cannot, or who does not exist, is
// refused with the same answer, so that the call tells nothing about accounts.
func (s *Store) SetSigners(ctx context.Context, docID string, userIDs []string) (*Document, []string, error) {
	if len(userIDs) > MaxSigners {
		return nil, nil, errs.Invalid("userIds", "at most %d signers", MaxSigners)
	}
	want := make([]string, 0, len(userIDs))
	seen := map[string]bool{}
	for _, id := range userIDs {
		if !seen[id] {
			seen[id] = true
			want = append(want, id)
		}
	}
	var out *Document
	var added []string
	err := s.write(ctx, func(c *conn) error {
		d, err := c.document(ctx, docID)
		if err != nil {
			return err
		}
		if err := c.require(ctx, d, access.Manage); err != nil {
			return err
		}
		return c.actingIn(ctx, d.CompanyID, func(c *conn) error {
			for _, id := range want {
				r := access.None
				if validID(id) {
					if r, err = c.rightOf(ctx, id, d); err != nil {
						return err
					}
				}
				if !r.AtLeast(access.View) {
					return errs.Invalid("userIds", "user %s cannot view this document: share it with them first", id)
				}
			}
			var current []*Signer
			if err := c.from(signersTable, &current).Where("signer.document_id = ?", d.ID).Scan(ctx); err != nil {
				return fmt.Errorf("signers: %w", err)
			}
			var before []string
			for _, cur := range current {
				before = append(before, cur.UserID)
				if !seen[cur.UserID] {
					if _, err := c.db.NewDelete().Model((*Signer)(nil)).Where("company_id = ? AND document_id = ? AND user_id = ?",
						d.CompanyID, d.ID, cur.UserID).Exec(ctx); err != nil {
						return fmt.Errorf("remove signer: %w", err)
					}
				}
			}
			had := map[string]bool{}
			for _, id := range before {
				had[id] = true
			}
			for _, id := range want {
				if had[id] {
					continue
				}
				by := c.p.UserID
				if _, err := c.db.NewInsert().Model(&Signer{CompanyID: d.CompanyID, DocumentID: d.ID, UserID: id,
					AddedBy: &by, CreatedAt: c.now}).Exec(ctx); err != nil {
					return fmt.Errorf("add signer: %w", err)
				}
				added = append(added, id)
			}
			out = d
			if len(added) == 0 && len(before) == len(want) {
				return nil
			}
			if before == nil {
				before = []string{}
			}
			return c.changed(ctx, ChangeUpdated, d, FieldChange{Field: "signers", Before: before, After: want})
		})
	})
	return out, added, err
}

// rightOf computes access.Can for another user than the caller on d, in d's company: is that
// user a member there (and at which level), and which grants does it hold. The caller acts in
// d's company (actingIn), where row-level security lets it read both.
func (c *conn) rightOf(ctx context.Context, userID string, d *Document) (access.Right, error) {
	// The membership of someone else is not the caller's to list (guests see no member list):
	// this read is the system's, within d's company, and only its level is used.
	sys := *c
	sys.p = access.FromContext(access.AsSystem(ctx, d.CompanyID))
	var ms []*Membership
	if err := sys.from(membershipsTable, &ms).Where("membership.user_id = ?", userID).Scan(ctx); err != nil {
		return access.None, fmt.Errorf("membership: %w", err)
	}
	p := &access.Principal{UserID: userID, Memberships: map[string]access.Level{}}
	for _, m := range ms {
		if m.CompanyID == d.CompanyID {
			p.CompanyID, p.Level = m.CompanyID, m.Level
			p.Memberships[m.CompanyID] = m.Level
		}
	}
	other := *c
	other.p = p
	return other.right(ctx, d)
}

// SignDocument signs a document as the caller, at expectedVersion (else CONFLICT), recording
// the time, clientIP and the hash of the content signed. It is audited as SIGN.
func (s *Store) SignDocument(ctx context.Context, docID string, expectedVersion int, clientIP string) (*Document, *Signature, error) {
	var out *Document
	var sig *Signature
	err := s.write(ctx, func(c *conn) error {
		d, err := c.document(ctx, docID)
		if err != nil {
			return err
		}
		right, err := c.right(ctx, d)
		if err != nil {
			return err
		}
		if !right.AtLeast(access.View) {
			return errs.NotFoundf("document")
		}
		return c.actingIn(ctx, d.CompanyID, func(c *conn) error {
			var signers []*Signer
			if err := c.from(signersTable, &signers).Where("signer.document_id = ? AND signer.user_id = ?", d.ID, c.p.UserID).Scan(ctx); err != nil {
				return fmt.Errorf("signers: %w", err)
			}
			var sigs []*Signature
			if err := c.from(signaturesTable, &sigs).Where("signature.document_id = ? AND signature.signer_id = ?", d.ID, c.p.UserID).Scan(ctx); err != nil {
				return fmt.Errorf("signatures: %w", err)
			}
			f := SignFactsOf(c.p.UserID, d, right, signers, sigs)
			switch {
			case !f.Signer:
				return errs.New(errs.Forbidden, "you are not a signer of this document")
			case d.Version != expectedVersion:
				return errs.New(errs.Conflict, "the document was changed by someone else (now at version %d)", d.Version)
			case !f.Open:
				return errs.Invalid("id", "a %s document cannot be signed; it must be submitted first", d.Status)
			case f.Signed:
				return errs.New(errs.Conflict, "you have already signed this content")
			case !access.MaySign(f):
				return errs.New(errs.Forbidden, "you may not sign this document")
			}
			sig = &Signature{CompanyID: d.CompanyID, ID: NewID(), DocumentID: d.ID, SignerID: c.p.UserID, Version: d.Version,
				ContentHash: ContentHash(d), ClientIP: clientIP, SignedAt: c.now}
			if _, err := c.db.NewInsert().Model(sig).Exec(ctx); err != nil {
				return fmt.Errorf("insert signature: %w", err)
			}
			out = d
			return c.emit(ctx, Change{Kind: ChangeSigned, CompanyID: d.CompanyID, ObjectType: "DOCUMENT", ObjectID: d.ID,
				Path: d.FolderPath, Fields: []FieldChange{
					{Field: "signature", After: sig.ID}, {Field: "version", After: d.Version}, {Field: "contentHash", After: sig.ContentHash}}})
		})
	})
	return out, sig, err
}

// signaturesInForce counts the signatures of d that still cover its current content.
func (c *conn) signaturesInForce(ctx context.Context, d *Document) ([]*Signature, error) {
	var sigs []*Signature
	if err := c.from(signaturesTable, &sigs).Where("signature.document_id = ? AND signature.voided_at IS NULL", d.ID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("signatures: %w", err)
	}
	out := sigs[:0]
	for _, s := range sigs {
		if InForce(s, d) {
			out = append(out, s)
		}
	}
	return out, nil
}

// voidSignatures voids every signature of d not voided yet and returns how many it voided.
func (c *conn) voidSignatures(ctx context.Context, d *Document) (int, error) {
	res, err := c.db.NewUpdate().Model((*Signature)(nil)).Set("voided_at = ?", c.now).
		Where("company_id = ? AND document_id = ? AND voided_at IS NULL", d.CompanyID, d.ID).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("void signatures: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
