// Package access holds the access policy: who the caller is (the Principal in the context),
// the membership levels, the rights on objects, and Can, the one function that decides a
// principal's effective right on a folder or document.
//
// Can is evaluated the same way everywhere: by the directives, by viewerCan, by the mutations
// and, as SQL, by the storage layer's read filter (internal/storage/scope.go), whose tests check
// that the two agree.
package access

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Level is a membership level in a company, lowest to highest: LIMITED < MEMBER < MANAGER < ADMIN.
type Level string

// The levels. The zero Level means "no membership".
const (
	Limited Level = "LIMITED"
	Member  Level = "MEMBER"
	Manager Level = "MANAGER"
	Admin   Level = "ADMIN"
)

var levelRank = map[Level]int{Limited: 1, Member: 2, Manager: 3, Admin: 4}

// AtLeast reports whether l is at least min. No membership is below every level.
func (l Level) AtLeast(min Level) bool { return levelRank[l] > 0 && levelRank[l] >= levelRank[min] }

// Valid reports whether l is one of the four levels.
func (l Level) Valid() bool { return levelRank[l] > 0 }

// Right is a principal's effective right on one object: NONE < VIEW < EDIT < MANAGE.
type Right string

// The rights. Grants carry VIEW, EDIT or MANAGE.
const (
	None   Right = "NONE"
	View   Right = "VIEW"
	Edit   Right = "EDIT"
	Manage Right = "MANAGE"
)

var rightRank = map[Right]int{None: 0, View: 1, Edit: 2, Manage: 3}

// AtLeast reports whether r is at least min.
func (r Right) AtLeast(min Right) bool { return rightRank[r] >= rightRank[min] && rightRank[min] > 0 }

// Max returns the higher of two rights.
func (r Right) Max(o Right) Right {
	if rightRank[o] > rightRank[r] {
		return o
	}
	return r
}

// Valid reports whether r is a grantable right (VIEW, EDIT or MANAGE).
func (r Right) Valid() bool { return rightRank[r] > 0 }

// Kind tells how a principal relates to the company of the object at hand.
type Kind string

// The kinds recorded with every audit event.
const (
	KindAnonymous Kind = "ANONYMOUS"
	KindMember    Kind = "MEMBER"
	KindGuest     Kind = "GUEST"
	KindSystem    Kind = "SYSTEM"
)

// Principal is the caller of one request: an authenticated user with an optional active
// company, or the system. It is immutable once in the context.
type Principal struct {
	UserID    string
	SessionID string
	// CompanyID is the active company, empty when the user acts only as a guest.
	CompanyID string
	// Level is the user's level in CompanyID, empty when CompanyID is.
	Level Level
	// Memberships maps every company the user belongs to to its level there.
	Memberships map[string]Level
	system      bool
}

// Authenticated reports whether the principal is a logged-in user.
func (p *Principal) Authenticated() bool { return p != nil && p.UserID != "" }

// System reports whether the principal is the server itself (migrations, seeding, background
// jobs), which the storage layer does not scope. Only AsSystem makes one.
func (p *Principal) System() bool { return p != nil && p.system }

// LevelIn returns the principal's membership level in a company, or "" if it is not a member.
func (p *Principal) LevelIn(companyID string) Level {
	if p == nil {
		return ""
	}
	return p.Memberships[companyID]
}

// KindIn tells whether the principal acts as a member or a guest in a company.
func (p *Principal) KindIn(companyID string) Kind {
	switch {
	case p.System():
		return KindSystem
	case !p.Authenticated():
		return KindAnonymous
	case p.LevelIn(companyID) != "":
		return KindMember
	default:
		return KindGuest
	}
}

type ctxKey struct{}

// NewContext returns a context carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx, or nil when there is none (anonymous).
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}

// AsSystem returns a context in which storage runs unscoped, acting for the server itself in
// companyID (empty for global tables). It is the one bypass of the storage wall: grep for it.
// PostgreSQL's row-level security still applies, to companyID.
func AsSystem(ctx context.Context, companyID string) context.Context {
	return NewContext(ctx, &Principal{CompanyID: companyID, Level: Admin, system: true})
}

// Facts are what Can needs to know about one object, loaded by storage.
type Facts struct {
	CompanyID string
	OwnerID   string
	// Restricted is true when the object or a folder above it is restricted.
	Restricted bool
	// Grant is the highest unexpired grant the principal holds on the object or a folder above it.
	Grant Right
}

// Can returns the principal's effective right on an object, following DESIGN.md:
//  1. ADMIN of the object's company, or its owner: MANAGE. Membership and ownership count in
//     the active company only (p.CompanyID); in any other company the principal is a guest.
//  2. Otherwise the highest unexpired grant on the object or on a folder above it.
//  3. Otherwise, for a MANAGER or MEMBER when nothing on the way down is restricted:
//     MANAGER gets EDIT, MEMBER gets VIEW. (What they own is covered by rule 1.)
//  4. Otherwise NONE.
//
// A grant never lowers what membership gives: the result is the highest rule that applies.
func Can(p *Principal, f Facts) Right {
	if p.System() {
		return Manage
	}
	if !p.Authenticated() {
		return None
	}
	// Membership (and with it ownership) counts in the active company only, as in the storage
	// filter and row-level security; elsewhere, a foreign X-Company-ID included, the principal
	// is a guest and reaches the company through its grants alone.
	var level Level
	if f.CompanyID == p.CompanyID {
		level = p.Level
	}
	if level == Admin || level != "" && f.OwnerID == p.UserID {
		return Manage
	}
	right := None
	if f.Grant.Valid() {
		right = f.Grant
	}
	if !f.Restricted {
		switch level {
		case Manager:
			right = right.Max(Edit)
		case Member:
			right = right.Max(View)
		}
	}
	return right
}

// SignFacts are what MaySign needs to know about one document and one principal.
type SignFacts struct {
	// Right is the principal's effective right on the document (Can).
	Right Right
	// Signer is true when the principal is listed among the document's signers.
	Signer bool
	// Open is true when the document's state admits signatures (SUBMITTED or APPROVED).
	Open bool
	// Signed is true when the principal's signature on the current content is in force.
	Signed bool
}

// MaySign decides whether a principal may sign a document now: it is listed as a signer, it
// may still VIEW the document (DESIGN.md: "VIEW reads, prints and signs when set as signer"),
// the document is handed over (SUBMITTED or APPROVED), and it has not signed this content yet.
// signDocument and viewerCan.sign both answer from it.
func MaySign(f SignFacts) bool {
	return f.Signer && f.Right.AtLeast(View) && f.Open && !f.Signed
}

// CanShare reports whether a principal whose effective right (Can) on an object of companyID is
// right may share that object with someone else at level. It is the one sharing rule, used by
// the share and unshare mutations (storage) and by viewerCan.share:
//   - nobody shares what it cannot view;
//   - a holder of MANAGE (an ADMIN, the owner while a member, or a grantee of MANAGE) shares up
//     to its own right;
//   - a MANAGER of the object's company, acting in it, shares what it may edit, up to MANAGE
//     (managers share outside: DESIGN.md).
//
// Membership counts in the active company only, as in Can.
func CanShare(p *Principal, companyID string, right, level Right) bool {
	switch {
	case !level.Valid() || !right.AtLeast(View):
		return false
	case p.System(), right.AtLeast(Manage) && right.AtLeast(level):
		return true
	}
	return companyID != "" && companyID == p.CompanyID && p.Level.AtLeast(Manager) && right.AtLeast(Edit)
}

// Expired reports whether a grant with this expiry no longer counts at now.
func Expired(expiresAt *time.Time, now time.Time) bool {
	return expiresAt != nil && !expiresAt.After(now)
}

// MarshalGQL writes the level as a GraphQL enum value.
func (l Level) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(l))) }

// UnmarshalGQL reads a GraphQL enum value.
func (l *Level) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok || !Level(s).Valid() {
		return fmt.Errorf("%v is not a valid AccessLevel", v)
	}
	*l = Level(s)
	return nil
}

// MarshalGQL writes the right as a GraphQL enum value.
func (r Right) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(r))) }

// UnmarshalGQL reads a GraphQL enum value; NONE is not accepted as input.
func (r *Right) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok || !Right(s).Valid() {
		return fmt.Errorf("%v is not a valid ShareLevel", v)
	}
	*r = Right(s)
	return nil
}
