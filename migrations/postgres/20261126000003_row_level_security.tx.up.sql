-- Row-level security: the second wall between companies.
--
-- Each operation's transaction sets app.company_id (the active company, or empty) and app.user_id
-- (the caller, or empty) with set_config(..., true), so nothing outlives the transaction on a pooled
-- connection. A missing or empty setting compares as NULL: no rows, never all rows. The settings
-- are read through (SELECT ...) so that PostgreSQL evaluates them once per statement.
-- Beyond its own company a caller reaches only the objects granted to it by name (guests).
-- FORCE makes the policies bind the table owner too; only superusers and BYPASSRLS roles skip
-- them, and the server refuses to run as one.

CREATE FUNCTION app_company_id() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('app.company_id', true), '')::uuid $$;

CREATE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;

ALTER TABLE grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE grants FORCE ROW LEVEL SECURITY;
CREATE POLICY grants_tenant ON grants
    USING (company_id = (SELECT app_company_id()) OR grantee_id = (SELECT app_user_id()))
    WITH CHECK (company_id = (SELECT app_company_id()));

ALTER TABLE folders ENABLE ROW LEVEL SECURITY;
ALTER TABLE folders FORCE ROW LEVEL SECURITY;
CREATE POLICY folders_tenant ON folders
    USING (company_id = (SELECT app_company_id()) OR EXISTS (
        SELECT 1 FROM grants g
        WHERE g.grantee_id = (SELECT app_user_id()) AND g.company_id = folders.company_id
          AND g.folder_id IS NOT NULL AND (g.expires_at IS NULL OR g.expires_at > now())
          AND folders.path LIKE g.path || '%'))
    WITH CHECK (company_id = (SELECT app_company_id()));

ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY documents_tenant ON documents
    USING (company_id = (SELECT app_company_id()) OR EXISTS (
        SELECT 1 FROM grants g
        WHERE g.grantee_id = (SELECT app_user_id()) AND g.company_id = documents.company_id
          AND (g.expires_at IS NULL OR g.expires_at > now())
          AND (g.document_id = documents.id
               OR (g.folder_id IS NOT NULL AND documents.folder_path LIKE g.path || '%'))))
    WITH CHECK (company_id = (SELECT app_company_id()));

-- The subqueries below read documents under its own policy: a comment or template is reachable
-- beyond the company only through a document that is.
ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
ALTER TABLE comments FORCE ROW LEVEL SECURITY;
CREATE POLICY comments_tenant ON comments
    USING (company_id = (SELECT app_company_id()) OR EXISTS (
        SELECT 1 FROM documents d WHERE d.company_id = comments.company_id AND d.id = comments.document_id))
    WITH CHECK (company_id = (SELECT app_company_id()) OR EXISTS (
        SELECT 1 FROM documents d WHERE d.company_id = comments.company_id AND d.id = comments.document_id));

ALTER TABLE document_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY document_templates_tenant ON document_templates
    USING (company_id = (SELECT app_company_id()) OR EXISTS (
        SELECT 1 FROM documents d WHERE d.company_id = document_templates.company_id AND d.template_id = document_templates.id))
    WITH CHECK (company_id = (SELECT app_company_id()));

ALTER TABLE folder_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE folder_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY folder_templates_tenant ON folder_templates
    USING (company_id = (SELECT app_company_id()))
    WITH CHECK (company_id = (SELECT app_company_id()));

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY memberships_tenant ON memberships
    USING (company_id = (SELECT app_company_id()) OR user_id = (SELECT app_user_id()))
    WITH CHECK (company_id = (SELECT app_company_id()));

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY invitations_tenant ON invitations
    USING (company_id = (SELECT app_company_id()) OR user_id = (SELECT app_user_id()))
    WITH CHECK (company_id = (SELECT app_company_id()));

ALTER TABLE object_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE object_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY object_versions_tenant ON object_versions
    USING (company_id = (SELECT app_company_id()))
    WITH CHECK (company_id = (SELECT app_company_id()));

-- A company is visible to its members and to those it has shared something with.
ALTER TABLE companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE companies FORCE ROW LEVEL SECURITY;
CREATE POLICY companies_tenant ON companies
    USING (id = (SELECT app_company_id())
        OR EXISTS (SELECT 1 FROM memberships m WHERE m.company_id = companies.id)
        OR EXISTS (SELECT 1 FROM grants g WHERE g.company_id = companies.id))
    WITH CHECK (id = (SELECT app_company_id()));
