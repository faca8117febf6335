package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
)

var commentSort = sortSpec[*Comment]{"comment.created_at", false, func(c *Comment) any { return c.CreatedAt }, cursor.timeAny}

// CommentsByDocument returns one page of comments, oldest first, for each document.
func (s *Store) CommentsByDocument(ctx context.Context, docs []Parent, page PageArgs) (map[string]*Page[*Comment], error) {
	return pagesByParent(ctx, s, commentsTable, "document_id", docs, commentSort, page, nil,
		func(c *Comment) string { return c.DocumentID })
}

// CountCommentsByDocument counts each document's comments.
func (s *Store) CountCommentsByDocument(ctx context.Context, docIDs []string) (map[string]int, error) {
	docIDs = validIDs(docIDs)
	out := make(map[string]int, len(docIDs))
	if len(docIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		DocumentID string `bun:"document_id"`
		N          int    `bun:"n"`
	}
	err := s.read(ctx, func(c *conn) error {
		return c.from(commentsTable, (*Comment)(nil)).ColumnExpr("comment.document_id, count(*) AS n").
			Where("comment.document_id IN (?)", bun.List(docIDs)).GroupExpr("comment.document_id").Scan(ctx, &rows)
	})
	if err != nil {
		return nil, fmt.Errorf("count comments: %w", err)
	}
	for _, id := range docIDs {
		out[id] = 0
	}
	for _, r := range rows {
		out[r.DocumentID] = r.N
	}
	return out, nil
}

// AddComment comments on a document the caller may view.
func (s *Store) AddComment(ctx context.Context, documentID, body string) (*Comment, error) {
	body = strings.TrimSpace(body)
	if body == "" || len(body) > 10000 {
		return nil, errs.Invalid("body", "a comment holds 1 to 10000 characters")
	}
	var out *Comment
	err := s.write(ctx, func(c *conn) error {
		d, err := c.document(ctx, documentID)
		if err != nil {
			return err
		}
		if err := c.require(ctx, d, access.View); err != nil {
			return err
		}
		return c.actingIn(ctx, d.CompanyID, func(c *conn) error {
			cm := &Comment{CompanyID: d.CompanyID, ID: NewID(), DocumentID: d.ID, AuthorID: c.p.UserID, Body: body, CreatedAt: c.now}
			if _, err := c.db.NewInsert().Model(cm).Exec(ctx); err != nil {
				return fmt.Errorf("insert comment: %w", err)
			}
			out = cm
			return c.emit(ctx, Change{Kind: ChangeCreated, CompanyID: d.CompanyID, ObjectType: "COMMENT", ObjectID: cm.ID,
				Path: d.FolderPath, Fields: []FieldChange{{Field: "documentId", After: d.ID}}})
		})
	})
	return out, err
}

// CommentsByID returns the comments among ids that the caller may view: those on documents
// it may view.
func (s *Store) CommentsByID(ctx context.Context, ids []string) (map[string]*Comment, error) {
	return visibleByID(ctx, s, commentsTable, ids, func(cm *Comment) string { return cm.ID })
}
