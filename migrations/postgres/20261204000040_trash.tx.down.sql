DROP POLICY documents_trash_scan ON documents;
DROP POLICY folders_trash_scan ON folders;
DROP FUNCTION app_maintenance();
DROP INDEX documents_trash_idx;
DROP INDEX folders_trash_idx;
