package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/database"
)

// Verify checks an archive that Read accepted (so every checksum matched) without the live
// database: it restores the archive into a scratch SQLite database in a temporary directory
// and verifies every audit chain there, which also proves that the rows restore. It returns
// one report per chain.
func Verify(ctx context.Context, a *Archive) ([]audit.Report, error) {
	dir, err := os.MkdirTemp("", "laatu-verify-")
	if err != nil {
		return nil, fmt.Errorf("backup: verify: %w", err)
	}
	defer os.RemoveAll(dir)
	db, err := database.Open(ctx, "", filepath.Join(dir, "verify.db"))
	if err != nil {
		return nil, fmt.Errorf("backup: verify: %w", err)
	}
	defer db.Close()
	if _, err := db.MigrateUp(ctx); err != nil {
		return nil, fmt.Errorf("backup: verify: %w", err)
	}
	if err := restore(ctx, db, a, RestoreOptions{}); err != nil {
		return nil, fmt.Errorf("backup: verify: the archive does not restore: %w", err)
	}
	reports, err := audit.VerifyAll(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("backup: verify: %w", err)
	}
	return reports, nil
}
