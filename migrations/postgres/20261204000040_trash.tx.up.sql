-- The trash: soft-deleted folders and documents, listed by deletion time and purged after the
-- retention period.
CREATE INDEX folders_trash_idx ON folders (company_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
CREATE INDEX documents_trash_idx ON documents (company_id, deleted_at, id) WHERE deleted_at IS NOT NULL;

-- The retention purge runs for the whole system and must first learn which companies hold
-- deleted rows. These policies let a transaction that says so (app.maintenance = 'purge') see
-- soft-deleted rows' companies; deleting them still happens per company, under the tenant
-- policies above.
CREATE FUNCTION app_maintenance() RETURNS text LANGUAGE sql STABLE AS
$$ SELECT current_setting('app.maintenance', true) $$;

CREATE POLICY folders_trash_scan ON folders FOR SELECT
    USING (deleted_at IS NOT NULL AND (SELECT app_maintenance()) = 'purge');
CREATE POLICY documents_trash_scan ON documents FOR SELECT
    USING (deleted_at IS NOT NULL AND (SELECT app_maintenance()) = 'purge');
