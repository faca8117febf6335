-- SQLite twin of the PostgreSQL migration of the same name (no row-level security on SQLite).
DROP TABLE comments;
DROP TABLE documents;
DROP TABLE folder_templates;
DROP TABLE document_templates;
DROP TABLE folders;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE companies;
