package storage

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/laatu/laatu/internal/errs"
)

// IdempotencyRetention is how long the answer to a keyed mutation is kept for its retries.
const IdempotencyRetention = 24 * time.Hour

// ClaimIdempotencyKey takes key for the caller's mutation whose request hashes to hash, in
// the operation's transaction. It returns the stored answer when the key was used before for
// the same request (the caller sends it back and changes nothing), CONFLICT when it was used
// for another request, and nil when the mutation is to run; SaveIdempotentResponse then
// stores its answer in the same transaction. On PostgreSQL a concurrent retry waits on the
// key's row until the first attempt commits or rolls back, then replays or runs.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, key string, hash []byte) ([]byte, error) {
	var replay []byte
	err := s.write(ctx, func(c *conn) error {
		if c.p.UserID == "" {
			return errors.New("storage: idempotency key without a user")
		}
		if _, err := c.db.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE user_id = ? AND created_at < ?",
			c.p.UserID, c.now.Add(-IdempotencyRetention)); err != nil {
			return err
		}
		res, err := c.db.ExecContext(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, created_at)
			VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, c.p.UserID, key, hash, c.now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var row struct {
			RequestHash []byte         `bun:"request_hash"`
			Response    sql.NullString `bun:"response"`
		}
		if err := c.db.NewRaw("SELECT request_hash, response FROM idempotency_keys WHERE user_id = ? AND key = ?",
			c.p.UserID, key).Scan(ctx, &row); err != nil {
			return err
		}
		if !bytes.Equal(row.RequestHash, hash) {
			return errs.New(errs.Conflict, "this Idempotency-Key was sent before with a different request")
		}
		if !row.Response.Valid {
			return errs.New(errs.Conflict, "a request with this Idempotency-Key is still running")
		}
		replay = []byte(row.Response.String)
		return nil
	})
	if err != nil {
		if _, known := errs.As(err); known {
			return nil, err
		}
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	return replay, nil
}

// SaveIdempotentResponse stores the answer of the caller's mutation under key, claimed
// before in the same transaction by ClaimIdempotencyKey.
func (s *Store) SaveIdempotentResponse(ctx context.Context, key string, response []byte) error {
	err := s.write(ctx, func(c *conn) error {
		_, err := c.db.ExecContext(ctx, "UPDATE idempotency_keys SET response = ? WHERE user_id = ? AND key = ?",
			string(response), c.p.UserID, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("save idempotent response: %w", err)
	}
	return nil
}
