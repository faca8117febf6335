DROP INDEX grants_source_idx;
ALTER TABLE grants DROP COLUMN source_grant_id;
