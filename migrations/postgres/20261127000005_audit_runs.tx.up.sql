-- Runs: one row of audit_events holds a run of events that share their context (the views of
-- one response), the first in the row's own columns and the others in `more`, their object
-- ids once more in more_object_ids for the object filter. internal/audit/rows.go explains the
-- layout; every event keeps its own seq and hash, so the chains are untouched. Rows written
-- before this migration are runs of one event: both columns NULL.
ALTER TABLE audit_events
    ADD COLUMN more            jsonb,
    ADD COLUMN more_object_ids jsonb,
    ADD CONSTRAINT audit_events_more_check CHECK ((more IS NULL) = (more_object_ids IS NULL));
CREATE INDEX audit_events_more_objects_idx ON audit_events USING gin (more_object_ids)
    WHERE more_object_ids IS NOT NULL;
-- A run of a dozen views is a few kilobytes, past the 2 kB at which PostgreSQL compresses a
-- row. Its default compressor (pglz) was the most expensive step of writing views in a
-- profile of the server; lz4 is several times cheaper. Builds without lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE audit_events ALTER COLUMN more SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: the audit log compresses with pglz';
END $$;
