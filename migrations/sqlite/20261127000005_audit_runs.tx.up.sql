-- SQLite twin of the PostgreSQL migration of the same name: runs of events in one row. The
-- object filter reads more_object_ids with json_each; there is no index on it.
ALTER TABLE audit_events ADD COLUMN more TEXT;
ALTER TABLE audit_events ADD COLUMN more_object_ids TEXT;
