-- A re-share (a share made by a guest through a MANAGE grant) names the grant it came from: it
-- can neither outlast nor outrank it, and ends with it. SQLite cannot add a composite foreign
-- key to an existing table; storage deletes the re-shares of a revoked grant itself (as it
-- does on PostgreSQL too, to record each).
ALTER TABLE grants ADD COLUMN source_grant_id TEXT;
CREATE INDEX grants_source_idx ON grants (company_id, source_grant_id) WHERE source_grant_id IS NOT NULL;
