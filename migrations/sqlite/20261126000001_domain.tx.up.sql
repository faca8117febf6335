-- SQLite twin of the PostgreSQL migration of the same name (no row-level security on SQLite).
-- Companies, users, memberships and the documentation domain.
-- Every tenant table carries company_id and has (company_id, id) as its key, and every foreign
-- key between tenant tables includes company_id, so no row can point into another company.

CREATE TABLE companies (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL CHECK (email = lower(email)),
    name           TEXT NOT NULL,
    language       TEXT NOT NULL DEFAULT 'en',
    password_hash  TEXT,
    signature      TEXT,
    disabled_at    TIMESTAMP,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE memberships (
    company_id  TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level       TEXT NOT NULL CHECK (level IN ('LIMITED', 'MEMBER', 'MANAGER', 'ADMIN')),
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (company_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE folders (
    company_id  TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    parent_id   TEXT,
    -- Materialized path of ids from the root down to and including this folder: /a/b/c/
    path        TEXT NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description TEXT NOT NULL DEFAULT '',
    restricted  BOOLEAN NOT NULL DEFAULT false,
    owner_id    TEXT NOT NULL REFERENCES users (id),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    deleted_at  TIMESTAMP,
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, parent_id) REFERENCES folders (company_id, id)
);
CREATE INDEX folders_parent_idx ON folders (company_id, parent_id);
CREATE INDEX folders_path_idx ON folders (company_id, path);

CREATE TABLE document_templates (
    company_id  TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description TEXT NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 1,
    fields      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (company_id, id)
);

CREATE TABLE folder_templates (
    company_id  TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description TEXT NOT NULL DEFAULT '',
    -- The folder structure to create: nested {name, restricted, documents: [{title, templateId}], children: [...]}
    structure   TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (company_id, id)
);

CREATE TABLE documents (
    company_id   TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    folder_id    TEXT NOT NULL,
    -- Copy of the containing folder's path, so permission checks need no join.
    folder_path  TEXT NOT NULL,
    template_id  TEXT NOT NULL,
    title        TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    status       TEXT NOT NULL CHECK (status IN ('DRAFT', 'SUBMITTED', 'APPROVED', 'ARCHIVED')),
    "values"     TEXT NOT NULL,
    owner_id     TEXT NOT NULL REFERENCES users (id),
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    deleted_at   TIMESTAMP,
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, folder_id) REFERENCES folders (company_id, id),
    FOREIGN KEY (company_id, template_id) REFERENCES document_templates (company_id, id)
);
CREATE INDEX documents_folder_idx ON documents (company_id, folder_id, updated_at, id);
CREATE INDEX documents_path_idx ON documents (company_id, folder_path);
CREATE INDEX documents_updated_idx ON documents (company_id, updated_at, id);

CREATE TABLE comments (
    company_id   TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    author_id    TEXT NOT NULL REFERENCES users (id),
    body         TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, document_id) REFERENCES documents (company_id, id)
);
CREATE INDEX comments_document_idx ON comments (company_id, document_id, created_at, id);
