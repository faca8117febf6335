-- The trash: soft-deleted folders and documents, listed by deletion time and purged after the
-- retention period.
CREATE INDEX folders_trash_idx ON folders (company_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
CREATE INDEX documents_trash_idx ON documents (company_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
