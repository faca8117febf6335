DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['grants','folders','documents','comments','document_templates',
                             'folder_templates','memberships','invitations','object_versions','companies'] LOOP
        EXECUTE format('DROP POLICY IF EXISTS %I ON %I', t || '_tenant', t);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END $$;
DROP FUNCTION app_user_id();
DROP FUNCTION app_company_id();
