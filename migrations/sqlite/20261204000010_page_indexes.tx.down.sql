DROP INDEX documents_folder_title_idx;
DROP INDEX documents_folder_created_idx;
DROP INDEX folders_restricted_idx;
CREATE INDEX folders_parent_idx ON folders (company_id, parent_id);
DROP INDEX folders_parent_created_idx;
DROP INDEX folders_parent_name_idx;
