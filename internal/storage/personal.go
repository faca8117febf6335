package storage

// Personal data (GDPR): what storage holds about one person, for an export (Art. 15 and 20),
// and the erasure of it (Art. 17). The audit log's share of both is the audit package's.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
)

// PersonalData is everything storage holds about one person, in the form it is handed to them:
// no password hash, no token hashes.
type PersonalData struct {
	Profile        PersonalProfile      `json:"profile"`
	Memberships    []PersonalMembership `json:"memberships"`
	Invitations    []PersonalInvitation `json:"invitations"`
	Sessions       []PersonalSession    `json:"sessions"`
	GrantsReceived []PersonalGrant      `json:"grantsReceived"`
	GrantsGiven    []PersonalGrant      `json:"grantsGiven"`
	Documents      []PersonalDocument   `json:"documents"`
	Comments       []PersonalComment    `json:"comments"`
	Signatures     []PersonalSignature  `json:"signatures"`
	// Companies are the companies whose data the export covers.
	Companies []string `json:"companies"`
	// Self is true when the person asked for their own data; false for an ADMIN's export,
	// which covers the ADMIN's company only and leaves out sessions (they are no company's).
	Self bool `json:"self"`
}

// PersonalProfile is the user's own record.
type PersonalProfile struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	Language    string     `json:"language"`
	HasPassword bool       `json:"hasPassword"`
	Signature   *string    `json:"signature,omitempty"`
	DisabledAt  *time.Time `json:"disabledAt,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

// PersonalMembership is one of the user's memberships.
type PersonalMembership struct {
	CompanyID string       `json:"companyId"`
	Level     access.Level `json:"level"`
	CreatedAt time.Time    `json:"createdAt"`
}

// PersonalInvitation is an invitation of the user to a company.
type PersonalInvitation struct {
	CompanyID  string       `json:"companyId"`
	ID         string       `json:"id"`
	Level      access.Level `json:"level"`
	InvitedBy  *string      `json:"invitedBy,omitempty"`
	CreatedAt  time.Time    `json:"createdAt"`
	AcceptedAt *time.Time   `json:"acceptedAt,omitempty"`
}

// PersonalSession is one of the user's sessions, without its token hash.
type PersonalSession struct {
	ID         string     `json:"id"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastSeenAt time.Time  `json:"lastSeenAt"`
	ExpiresAt  time.Time  `json:"expiresAt"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
	ClientIP   string     `json:"clientIp"`
	UserAgent  string     `json:"userAgent"`
}

// PersonalGrant is a grant the user received or gave.
type PersonalGrant struct {
	CompanyID  string       `json:"companyId"`
	ID         string       `json:"id"`
	FolderID   *string      `json:"folderId,omitempty"`
	DocumentID *string      `json:"documentId,omitempty"`
	GranteeID  string       `json:"granteeId"`
	Level      access.Right `json:"level"`
	ExpiresAt  *time.Time   `json:"expiresAt,omitempty"`
	GrantedBy  *string      `json:"grantedBy,omitempty"`
	CreatedAt  time.Time    `json:"createdAt"`
}

// PersonalDocument is a document the user owns (deleted ones included, while they are kept).
type PersonalDocument struct {
	CompanyID  string         `json:"companyId"`
	ID         string         `json:"id"`
	FolderID   string         `json:"folderId"`
	TemplateID string         `json:"templateId"`
	Title      string         `json:"title"`
	Status     Status         `json:"status"`
	Values     map[string]any `json:"values"`
	Version    int            `json:"version"`
	CreatedAt  time.Time      `json:"createdAt"`
	UpdatedAt  time.Time      `json:"updatedAt"`
	DeletedAt  *time.Time     `json:"deletedAt,omitempty"`
}

// PersonalComment is a comment the user wrote.
type PersonalComment struct {
	CompanyID  string    `json:"companyId"`
	ID         string    `json:"id"`
	DocumentID string    `json:"documentId"`
	Body       string    `json:"body"`
	CreatedAt  time.Time `json:"createdAt"`
}

// PersonalSignature is a signature the user gave, with the client address it came from.
type PersonalSignature struct {
	CompanyID   string     `json:"companyId"`
	ID          string     `json:"id"`
	DocumentID  string     `json:"documentId"`
	Version     int        `json:"version"`
	ContentHash string     `json:"contentHash"`
	ClientIP    string     `json:"clientIp"`
	SignedAt    time.Time  `json:"signedAt"`
	VoidedAt    *time.Time `json:"voidedAt,omitempty"`
}

// PersonalScope decides whose data the caller may export or erase, and from which companies:
//
//   - the caller itself (userID empty or the caller's own id): every company it is a member
//     of or holds grants in; self is true;
//   - for an ADMIN of the active company, a member of that company: that company only.
//
// Anyone else, and an id that names no such member, is NOT_FOUND alike.
func (s *Store) PersonalScope(ctx context.Context, userID string) (subject string, companies []string, self bool, err error) {
	p := access.FromContext(ctx)
	if p == nil {
		return "", nil, false, ErrNoScope
	}
	if !p.Authenticated() {
		return "", nil, false, errs.New(errs.Unauthenticated, "log in first")
	}
	if userID == "" || userID == p.UserID {
		err := s.read(ctx, func(c *conn) error {
			var err error
			companies, err = c.companiesOf(ctx, p.UserID)
			return err
		})
		if err != nil {
			return "", nil, false, fmt.Errorf("personal scope: %w", err)
		}
		return p.UserID, companies, true, nil
	}
	if !validID(userID) || p.CompanyID == "" || p.Level != access.Admin {
		return "", nil, false, errs.NotFoundf("user")
	}
	var member bool
	err = s.read(ctx, func(c *conn) error {
		var err error
		member, err = c.from(membershipsTable, (*Membership)(nil)).
			Where("membership.company_id = ? AND membership.user_id = ?", p.CompanyID, userID).Exists(ctx)
		return err
	})
	if err != nil {
		return "", nil, false, fmt.Errorf("personal scope: %w", err)
	}
	if !member {
		return "", nil, false, errs.NotFoundf("user")
	}
	return userID, []string{p.CompanyID}, false, nil
}

// companiesOf returns the companies that hold something of userID: its memberships, its
// grants and its invitations, read as that user, whom row-level security lets see its own rows
// in every company.
func (c *conn) companiesOf(ctx context.Context, userID string) ([]string, error) {
	var companies []string
	err := c.actingAs(ctx, &access.Principal{UserID: userID}, func(c *conn) error {
		for _, t := range []struct{ table, col string }{{"memberships", "user_id"}, {"grants", "grantee_id"}, {"invitations", "user_id"}} {
			var ids []string
			if err := c.db.NewSelect().Table(t.table).ColumnExpr("DISTINCT company_id").Where(t.col+" = ?", userID).Scan(ctx, &ids); err != nil {
				return fmt.Errorf("%s: %w", t.table, err)
			}
			companies = append(companies, ids...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(companies)
	return slices.Compact(companies), nil
}

// PersonalData collects what storage holds about userID in companies, and, when self, the
// user's sessions. The caller decides the scope first (PersonalScope); the rows are read as the
// system, one company at a time, so that row-level security admits exactly that company.
func (s *Store) PersonalData(ctx context.Context, userID string, companies []string, self bool) (*PersonalData, error) {
	out := &PersonalData{Companies: companies, Self: self, Memberships: []PersonalMembership{}, Invitations: []PersonalInvitation{},
		Sessions: []PersonalSession{}, GrantsReceived: []PersonalGrant{}, GrantsGiven: []PersonalGrant{},
		Documents: []PersonalDocument{}, Comments: []PersonalComment{}, Signatures: []PersonalSignature{}}
	if out.Companies == nil {
		out.Companies = []string{}
	}
	u := new(User)
	err := s.read(access.AsSystem(ctx, ""), func(c *conn) error {
		if err := c.db.NewSelect().Model(u).Where("usr.id = ?", userID).Scan(ctx); err != nil {
			return notFound(err, "user")
		}
		if !self {
			return nil
		}
		var sessions []*Session
		if err := c.db.NewSelect().Model(&sessions).Where("sess.user_id = ?", userID).OrderExpr("sess.created_at, sess.id").Scan(ctx); err != nil {
			return err
		}
		for _, x := range sessions {
			out.Sessions = append(out.Sessions, PersonalSession{ID: x.ID, CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt,
				ExpiresAt: x.ExpiresAt, RevokedAt: x.RevokedAt, ClientIP: x.ClientIP, UserAgent: x.UserAgent})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("personal data: %w", err)
	}
	out.Profile = PersonalProfile{ID: u.ID, Email: u.Email, Name: u.Name, Language: u.Language, HasPassword: u.PasswordHash != nil,
		Signature: u.Signature, DisabledAt: u.DisabledAt, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
	for _, co := range companies {
		if err := s.read(access.AsSystem(ctx, co), func(c *conn) error { return c.personalIn(ctx, co, userID, out) }); err != nil {
			return nil, fmt.Errorf("personal data in company %s: %w", co, err)
		}
	}
	return out, nil
}

// personalIn adds to out what company co holds about userID. It runs as the system in co.
func (c *conn) personalIn(ctx context.Context, co, userID string, out *PersonalData) error {
	var ms []*Membership
	if err := c.from(membershipsTable, &ms).Where("membership.company_id = ? AND membership.user_id = ?", co, userID).Scan(ctx); err != nil {
		return err
	}
	for _, m := range ms {
		out.Memberships = append(out.Memberships, PersonalMembership{CompanyID: m.CompanyID, Level: m.Level, CreatedAt: m.CreatedAt})
	}
	var invs []*Invitation
	if err := c.from(invitationsTable, &invs).Where("invitation.company_id = ? AND invitation.user_id = ?", co, userID).
		OrderExpr("invitation.created_at, invitation.id").Scan(ctx); err != nil {
		return err
	}
	for _, i := range invs {
		out.Invitations = append(out.Invitations, PersonalInvitation{CompanyID: i.CompanyID, ID: i.ID, Level: i.Level,
			InvitedBy: i.InvitedBy, CreatedAt: i.CreatedAt, AcceptedAt: i.AcceptedAt})
	}
	var grants []*Grant
	if err := c.from(grantsTable, &grants).Where("grnt.company_id = ? AND (grnt.grantee_id = ? OR grnt.granted_by = ?)", co, userID, userID).
		OrderExpr("grnt.created_at, grnt.id").Scan(ctx); err != nil {
		return err
	}
	for _, g := range grants {
		pg := PersonalGrant{CompanyID: g.CompanyID, ID: g.ID, FolderID: g.FolderID, DocumentID: g.DocumentID, GranteeID: g.GranteeID,
			Level: g.Level, ExpiresAt: g.ExpiresAt, GrantedBy: g.GrantedBy, CreatedAt: g.CreatedAt}
		if g.GranteeID == userID {
			out.GrantsReceived = append(out.GrantsReceived, pg)
		}
		if g.GrantedBy != nil && *g.GrantedBy == userID {
			out.GrantsGiven = append(out.GrantsGiven, pg)
		}
	}
	var docs []*Document
	if err := c.from(deletedDocumentsTable, &docs).Where("document.company_id = ? AND document.owner_id = ?", co, userID).
		OrderExpr("document.created_at, document.id").Scan(ctx); err != nil {
		return err
	}
	for _, d := range docs {
		out.Documents = append(out.Documents, PersonalDocument{CompanyID: d.CompanyID, ID: d.ID, FolderID: d.FolderID, TemplateID: d.TemplateID,
			Title: d.Title, Status: d.Status, Values: d.Values, Version: d.Version, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, DeletedAt: d.DeletedAt})
	}
	var comments []*Comment
	if err := c.db.NewSelect().Model(&comments).Where("comment.company_id = ? AND comment.author_id = ?", co, userID).
		OrderExpr("comment.created_at, comment.id").Scan(ctx); err != nil {
		return err
	}
	for _, x := range comments {
		out.Comments = append(out.Comments, PersonalComment{CompanyID: x.CompanyID, ID: x.ID, DocumentID: x.DocumentID, Body: x.Body, CreatedAt: x.CreatedAt})
	}
	var sigs []*Signature
	if err := c.db.NewSelect().Model(&sigs).Where("signature.company_id = ? AND signature.signer_id = ?", co, userID).
		OrderExpr("signature.signed_at, signature.id").Scan(ctx); err != nil {
		return err
	}
	for _, x := range sigs {
		out.Signatures = append(out.Signatures, PersonalSignature{CompanyID: x.CompanyID, ID: x.ID, DocumentID: x.DocumentID, Version: x.Version,
			ContentHash: x.ContentHash, ClientIP: x.ClientIP, SignedAt: x.SignedAt, VoidedAt: x.VoidedAt})
	}
	return nil
}

// ErasedName is the name an erased user is shown with.
const ErasedName = "Erased user"

// ErasedEmail returns the address an erased user is left with: unique, and in the .invalid
// top-level domain, which never routes (RFC 2606).
func ErasedEmail() string { return "erased-" + NewID() + "@invalid" }

// Erasure tells what EraseUser removed.
type Erasure struct {
	Companies   []string
	Memberships int
	Grants      int
	Invitations int
	Sessions    int
	Tokens      int
	Mails       int
	Signatures  int
}

// EraseUser erases a person's personal data (GDPR Art. 17), in one transaction, by the person
// (userID is the caller) or by the ADMIN of the person's only company (FORBIDDEN when another
// company holds a membership, grant or invitation of the person). The user row stays,
// pseudonymized, so that what the company keeps (documents, comments, versions, signatures,
// audit events) still names its author, now shown as ErasedName: the name and the address
// are replaced, the password and the signature removed, the account disabled; sessions,
// mailed tokens, queued and sent mail to the address, pending invitations, memberships and
// grants received are deleted, and the client address of each signature given is cleared.
// A user who is the last ADMIN of a company is refused (CONFLICT) until another ADMIN exists.
// Audit events are untouched: they name the actor by id only (see the audit package for what
// else they keep). Each company concerned gets an ERASE event (the chain of no company, for someone in none).
func (s *Store) EraseUser(ctx context.Context, userID string) (*Erasure, error) {
	subject, companies, self, err := s.PersonalScope(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := &Erasure{Companies: companies}
	err = s.write(ctx, func(c *conn) error {
		if !self {
			// An ADMIN erases only someone its company alone knows: no membership, grant or
			// invitation elsewhere, whose removal would be another company's to record.
			held, err := c.companiesOf(ctx, subject)
			if err != nil {
				return fmt.Errorf("erase user: %w", err)
			}
			if slices.ContainsFunc(held, func(co string) bool { return co != c.p.CompanyID }) {
				return errs.New(errs.Forbidden, "that user is also known to other companies; only they can erase their account")
			}
		}
		u := new(User)
		if err := c.db.NewSelect().Model(u).Where("usr.id = ?", subject).Scan(ctx); err != nil {
			return notFound(err, "user")
		}
		// The last ADMIN of a company keeps it governable: refused before anything changes.
		for _, co := range companies {
			err := c.actingAs(ctx, systemIn(co), func(c *conn) error {
				var levels []string
				if err := c.db.NewSelect().Table("memberships").Column("level").
					Where("company_id = ? AND user_id = ?", co, subject).Scan(ctx, &levels); err != nil {
					return err
				}
				if len(levels) == 0 || levels[0] != string(access.Admin) {
					return nil
				}
				n, err := c.db.NewSelect().Table("memberships").
					Where("company_id = ? AND level = ? AND user_id <> ?", co, access.Admin, subject).Count(ctx)
				if err != nil {
					return err
				}
				if n == 0 {
					return errs.New(errs.Conflict, "the last admin of a company cannot be erased: make another member ADMIN first")
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		// What only the company holds: the client address of signatures given.
		for _, co := range companies {
			err := c.actingAs(ctx, systemIn(co), func(c *conn) error {
				res, err := c.db.NewUpdate().Table("signatures").Set("client_ip = ''").
					Where("company_id = ? AND signer_id = ? AND client_ip <> ''", co, subject).Exec(ctx)
				if err != nil {
					return err
				}
				out.Signatures += affected(res)
				return nil
			})
			if err != nil {
				return fmt.Errorf("erase user: signatures: %w", err)
			}
		}
		// What ties the person to companies, as the person, whom row-level security lets reach
		// its own rows in every company.
		err := c.actingAs(ctx, &access.Principal{UserID: subject}, func(c *conn) error {
			for _, t := range []struct {
				table, col string
				n          *int
			}{{"invitations", "user_id", &out.Invitations}, {"grants", "grantee_id", &out.Grants}, {"memberships", "user_id", &out.Memberships}} {
				res, err := c.db.NewDelete().Table(t.table).Where(t.col+" = ?", subject).Exec(ctx)
				if err != nil {
					return fmt.Errorf("%s: %w", t.table, err)
				}
				*t.n = affected(res)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("erase user: %w", err)
		}
		// Global rows.
		for _, t := range []struct {
			table, where string
			arg          any
			n            *int
		}{{"sessions", "user_id = ?", subject, &out.Sessions}, {"user_tokens", "user_id = ?", subject, &out.Tokens},
			{"outbox_emails", "recipient = ?", u.Email, &out.Mails}} {
			res, err := c.db.NewDelete().Table(t.table).Where(t.where, t.arg).Exec(ctx)
			if err != nil {
				return fmt.Errorf("erase user: %s: %w", t.table, err)
			}
			*t.n = affected(res)
		}
		disabled := c.now
		if u.DisabledAt != nil {
			disabled = *u.DisabledAt
		}
		if _, err := c.db.NewUpdate().Table("users").
			Set("name = ?, email = ?, password_hash = NULL, signature = NULL, disabled_at = ?, updated_at = ?", ErasedName, ErasedEmail(), disabled, c.now).
			Where("id = ?", subject).Exec(ctx); err != nil {
			return fmt.Errorf("erase user: %w", err)
		}
		// Counts only: the event must not copy what was erased.
		fields := []FieldChange{{Field: "memberships", After: out.Memberships}, {Field: "grants", After: out.Grants},
			{Field: "invitations", After: out.Invitations}, {Field: "sessions", After: out.Sessions},
			{Field: "mails", After: out.Mails}, {Field: "signatures", After: out.Signatures},
			{Field: "name", Personal: true}, {Field: "email", Personal: true}}
		// Each event locks its chain until the transaction ends: the companies' chains are
		// taken in one order (sorted, as exports take them), and the chain of no company, which
		// every login appends to, only for someone who belongs to none.
		chains := slices.Sorted(slices.Values(companies))
		if len(chains) == 0 {
			chains = []string{noCompany}
		}
		for _, co := range chains {
			if err := c.emit(ctx, Change{Kind: ChangeErased, CompanyID: co, ObjectType: "USER", ObjectID: subject,
				Fields: fields, UserIDs: []string{subject}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// noCompany is the company id of the audit chain of events outside any company (audit.NoCompany).
const noCompany = "00000000-0000-0000-0000-000000000000"

// ChangeErased is the change kind, and audit action, of an erasure.
const ChangeErased ChangeKind = "ERASE"

func systemIn(companyID string) *access.Principal {
	return access.FromContext(access.AsSystem(context.Background(), companyID))
}

func affected(res interface{ RowsAffected() (int64, error) }) int {
	n, _ := res.RowsAffected()
	return int(n)
}
