package storage

import (
	"time"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
)

// Company is a tenant: an operating environment with its own walls.
type Company struct {
	bun.BaseModel `bun:"table:companies,alias:company"`

	ID        string    `bun:"id,pk"`
	Name      string    `bun:"name"`
	CreatedAt time.Time `bun:"created_at"`
	UpdatedAt time.Time `bun:"updated_at"`
}

// User is a person, global across companies.
type User struct {
	bun.BaseModel `bun:"table:users,alias:usr"`

	ID           string     `bun:"id,pk"`
	Email        string     `bun:"email"`
	Name         string     `bun:"name"`
	Language     string     `bun:"language"`
	PasswordHash *string    `bun:"password_hash"`
	Signature    *string    `bun:"signature"`
	DisabledAt   *time.Time `bun:"disabled_at"`
	CreatedAt    time.Time  `bun:"created_at"`
	UpdatedAt    time.Time  `bun:"updated_at"`

	// IsCaller marks the user object handed to that same user by login, before the request
	// knows who is calling, so that the user's own email address is shown.
	IsCaller bool `bun:"-"`
}

// Membership is a user's level in a company.
type Membership struct {
	bun.BaseModel `bun:"table:memberships,alias:membership"`

	CompanyID string       `bun:"company_id,pk"`
	UserID    string       `bun:"user_id,pk"`
	Level     access.Level `bun:"level"`
	CreatedAt time.Time    `bun:"created_at"`

	// Preloaded is the company, when loaded together with the membership (login, where the
	// request does not yet know who is calling).
	Preloaded *Company `bun:"-"`
}

// Folder is a node of a company's folder tree.
type Folder struct {
	bun.BaseModel `bun:"table:folders,alias:folder"`

	CompanyID string  `bun:"company_id,pk"`
	ID        string  `bun:"id,pk"`
	ParentID  *string `bun:"parent_id"`
	// Path lists the ids from the root down to this folder: /root/child/this/.
	Path        string `bun:"path"`
	Name        string `bun:"name"`
	Description string `bun:"description"`
	Restricted  bool   `bun:"restricted"`
	OwnerID     string `bun:"owner_id"`
	// Version counts changes; each change keeps the state before it (ObjectVersion).
	Version   int        `bun:"version"`
	CreatedAt time.Time  `bun:"created_at"`
	UpdatedAt time.Time  `bun:"updated_at"`
	DeletedAt *time.Time `bun:"deleted_at"`
}

// FieldType is the type of one field of a document template.
type FieldType string

// The field types a template may define.
const (
	FieldText      FieldType = "TEXT"
	FieldNumber    FieldType = "NUMBER"
	FieldDate      FieldType = "DATE"
	FieldCheckbox  FieldType = "CHECKBOX"
	FieldChoice    FieldType = "CHOICE"
	FieldPhoto     FieldType = "PHOTO"
	FieldSignature FieldType = "SIGNATURE"
)

// FieldDef defines one field of a document template.
type FieldDef struct {
	Key      string    `json:"key"`
	Label    string    `json:"label"`
	Type     FieldType `json:"type"`
	Required bool      `json:"required"`
	// Options are the allowed values of a CHOICE field.
	Options []string `json:"options,omitempty"`
	// Personal marks a field holding personal data: audit names it but never copies its value.
	Personal bool `json:"personal,omitempty"`
}

// DocumentTemplate defines the typed fields of a kind of document.
type DocumentTemplate struct {
	bun.BaseModel `bun:"table:document_templates,alias:template"`

	CompanyID   string     `bun:"company_id,pk"`
	ID          string     `bun:"id,pk"`
	Name        string     `bun:"name"`
	Description string     `bun:"description"`
	Version     int        `bun:"version"`
	Fields      []FieldDef `bun:"fields,type:jsonb"`
	CreatedAt   time.Time  `bun:"created_at"`
	UpdatedAt   time.Time  `bun:"updated_at"`
}

// FolderTemplate ("super folder") describes a folder structure with documents to create at once.
type FolderTemplate struct {
	bun.BaseModel `bun:"table:folder_templates,alias:folder_template"`

	CompanyID   string             `bun:"company_id,pk"`
	ID          string             `bun:"id,pk"`
	Name        string             `bun:"name"`
	Description string             `bun:"description"`
	Structure   FolderTemplateNode `bun:"structure,type:jsonb"`
	CreatedAt   time.Time          `bun:"created_at"`
	UpdatedAt   time.Time          `bun:"updated_at"`
}

// FolderTemplateNode is one folder of a folder template.
type FolderTemplateNode struct {
	Name       string                   `json:"name"`
	Restricted bool                     `json:"restricted,omitempty"`
	Documents  []FolderTemplateDocument `json:"documents,omitempty"`
	Children   []FolderTemplateNode     `json:"children,omitempty"`
}

// FolderTemplateDocument is a document that a folder template creates.
type FolderTemplateDocument struct {
	Title      string `json:"title"`
	TemplateID string `json:"templateId"`
}

// Status is the life-cycle state of a document.
type Status string

// The statuses.
const (
	Draft     Status = "DRAFT"
	Submitted Status = "SUBMITTED"
	Approved  Status = "APPROVED"
	Archived  Status = "ARCHIVED"
)

// Document is a filled form in a folder, made from a template.
type Document struct {
	bun.BaseModel `bun:"table:documents,alias:document"`

	CompanyID  string         `bun:"company_id,pk"`
	ID         string         `bun:"id,pk"`
	FolderID   string         `bun:"folder_id"`
	FolderPath string         `bun:"folder_path"`
	TemplateID string         `bun:"template_id"`
	Title      string         `bun:"title"`
	Status     Status         `bun:"status"`
	Values     map[string]any `bun:"values,type:jsonb"`
	OwnerID    string         `bun:"owner_id"`
	// Version counts changes, for optimistic concurrency.
	Version   int        `bun:"version"`
	CreatedAt time.Time  `bun:"created_at"`
	UpdatedAt time.Time  `bun:"updated_at"`
	DeletedAt *time.Time `bun:"deleted_at"`
}

// Comment is a remark on a document.
type Comment struct {
	bun.BaseModel `bun:"table:comments,alias:comment"`

	CompanyID  string    `bun:"company_id,pk"`
	ID         string    `bun:"id,pk"`
	DocumentID string    `bun:"document_id"`
	AuthorID   string    `bun:"author_id"`
	Body       string    `bun:"body"`
	CreatedAt  time.Time `bun:"created_at"`
}

// Grant is a right on one folder (and all below it) or one document, for one user.
type Grant struct {
	bun.BaseModel `bun:"table:grants,alias:grnt"`

	CompanyID  string       `bun:"company_id,pk"`
	ID         string       `bun:"id,pk"`
	FolderID   *string      `bun:"folder_id"`
	DocumentID *string      `bun:"document_id"`
	Path       string       `bun:"path"`
	GranteeID  string       `bun:"grantee_id"`
	Level      access.Right `bun:"level"`
	ExpiresAt  *time.Time   `bun:"expires_at"`
	GrantedBy  *string      `bun:"granted_by"`
	CreatedAt  time.Time    `bun:"created_at"`
	// SourceGrantID is the grant a re-share came from (the guest's MANAGE grant it was made
	// through); nil for shares by members and the system.
	SourceGrantID *string `bun:"source_grant_id"`
}

// Session is a logged-in user's bearer token, stored as its hash.
type Session struct {
	bun.BaseModel `bun:"table:sessions,alias:sess"`

	ID         string     `bun:"id,pk"`
	UserID     string     `bun:"user_id"`
	TokenHash  []byte     `bun:"token_hash"`
	CreatedAt  time.Time  `bun:"created_at"`
	LastSeenAt time.Time  `bun:"last_seen_at"`
	ExpiresAt  time.Time  `bun:"expires_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
	ClientIP   string     `bun:"client_ip"`
	UserAgent  string     `bun:"user_agent"`
}

// UserToken is a single-use secret sent by mail.
type UserToken struct {
	bun.BaseModel `bun:"table:user_tokens,alias:utok"`

	ID        string     `bun:"id,pk"`
	UserID    string     `bun:"user_id"`
	Purpose   string     `bun:"purpose"`
	TokenHash []byte     `bun:"token_hash"`
	ExpiresAt time.Time  `bun:"expires_at"`
	UsedAt    *time.Time `bun:"used_at"`
	CreatedAt time.Time  `bun:"created_at"`
	// PasswordHash is the password chosen at sign-up, set on the account when the sign-up's
	// confirmation link is used; nil for other tokens.
	PasswordHash *string `bun:"password_hash"`
}

// Invitation is a pending membership.
type Invitation struct {
	bun.BaseModel `bun:"table:invitations,alias:invitation"`

	CompanyID  string       `bun:"company_id,pk"`
	ID         string       `bun:"id,pk"`
	UserID     string       `bun:"user_id"`
	Level      access.Level `bun:"level"`
	InvitedBy  *string      `bun:"invited_by"`
	CreatedAt  time.Time    `bun:"created_at"`
	AcceptedAt *time.Time   `bun:"accepted_at"`
}

// OutboxEmail is a mail waiting to be sent.
type OutboxEmail struct {
	bun.BaseModel `bun:"table:outbox_emails,alias:mail"`

	ID        string     `bun:"id,pk"`
	Recipient string     `bun:"recipient"`
	Subject   string     `bun:"subject"`
	Body      string     `bun:"body"`
	CreatedAt time.Time  `bun:"created_at"`
	SendAfter time.Time  `bun:"send_after"`
	SentAt    *time.Time `bun:"sent_at"`
	Attempts  int        `bun:"attempts"`
	LastError string     `bun:"last_error"`
}

// ObjectVersion is an earlier state of a folder or document.
type ObjectVersion struct {
	bun.BaseModel `bun:"table:object_versions,alias:objver"`

	CompanyID  string         `bun:"company_id,pk"`
	ID         string         `bun:"id,pk"`
	ObjectType string         `bun:"object_type"`
	ObjectID   string         `bun:"object_id"`
	Version    int            `bun:"version"`
	Data       map[string]any `bun:"data,type:jsonb"`
	ActorID    *string        `bun:"actor_id"`
	CreatedAt  time.Time      `bun:"created_at"`
}
