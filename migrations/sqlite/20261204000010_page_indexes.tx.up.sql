-- Indexes that let every page of a list be read in index order and stop after the page:
-- children of a folder and documents of a folder in each of their sort orders, and the few
-- restricted folders of a company, which every member's read checks (internal/storage/scope.go).
CREATE INDEX folders_parent_name_idx ON folders (company_id, parent_id, name, id);
CREATE INDEX folders_parent_created_idx ON folders (company_id, parent_id, created_at, id);
DROP INDEX folders_parent_idx;
CREATE INDEX folders_restricted_idx ON folders (company_id, path) WHERE restricted;
CREATE INDEX documents_folder_created_idx ON documents (company_id, folder_id, created_at, id);
CREATE INDEX documents_folder_title_idx ON documents (company_id, folder_id, title, id);
