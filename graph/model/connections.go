// Package model holds the GraphQL types that are not storage models: connections, edges,
// inputs and payloads. gqlgen generates most of them (models_gen.go); the connections are
// written here so that totalCount is computed only when a client asks for it.
package model

import (
	"time"

	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/storage"
)

// Counter counts a whole list; it runs only when totalCount is selected.
type Counter func() (int, error)

// DocumentConnection is a page of documents.
type DocumentConnection struct {
	Edges    []*DocumentEdge
	Nodes    []*storage.Document
	PageInfo *PageInfo
	Count    Counter
}

// TotalCount counts the whole list.
func (c *DocumentConnection) TotalCount() (int, error) { return c.Count() }

// FolderConnection is a page of folders.
type FolderConnection struct {
	Edges    []*FolderEdge
	Nodes    []*storage.Folder
	PageInfo *PageInfo
	Count    Counter
}

// TotalCount counts the whole list.
func (c *FolderConnection) TotalCount() (int, error) { return c.Count() }

// CommentConnection is a page of comments.
type CommentConnection struct {
	Edges    []*CommentEdge
	Nodes    []*storage.Comment
	PageInfo *PageInfo
	Count    Counter
}

// TotalCount counts the whole list.
func (c *CommentConnection) TotalCount() (int, error) { return c.Count() }

// DocumentTemplateConnection is a page of templates.
type DocumentTemplateConnection struct {
	Edges    []*DocumentTemplateEdge
	Nodes    []*storage.DocumentTemplate
	PageInfo *PageInfo
	Count    Counter
}

// TotalCount counts the whole list.
func (c *DocumentTemplateConnection) TotalCount() (int, error) { return c.Count() }

// MembershipConnection is a page of memberships.
type MembershipConnection struct {
	Edges    []*MembershipEdge
	Nodes    []*storage.Membership
	PageInfo *PageInfo
	Count    Counter
}

// TotalCount counts the whole list.
func (c *MembershipConnection) TotalCount() (int, error) { return c.Count() }

// DocumentVersion is an earlier state of a document.
type DocumentVersion struct {
	Version    int
	Title      *string
	Status     *storage.Status
	ActorID    *string
	ReplacedAt time.Time
}

// FolderVersion is a saved state of a folder; its actor is resolved from ActorID.
type FolderVersion struct {
	Version     int
	Name        *string
	Description *string
	Restricted  *bool
	ActorID     *string
	ReplacedAt  time.Time
}

// AuditEventConnection is a page of audit events, newest first.
type AuditEventConnection struct {
	Edges    []*AuditEventEdge
	Nodes    []*audit.Event
	PageInfo *PageInfo
	Count    Counter
}

// TotalCount counts the whole (filtered) list.
func (c *AuditEventConnection) TotalCount() (int, error) { return c.Count() }
