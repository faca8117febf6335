DROP TABLE comments;
DROP TABLE documents;
DROP TABLE folder_templates;
DROP TABLE document_templates;
DROP TABLE folders;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE companies;
