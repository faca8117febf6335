-- Companies, users, memberships and the documentation domain.
-- Every tenant table carries company_id and has (company_id, id) as its key, and every foreign
-- key between tenant tables includes company_id, so no row can point into another company.

CREATE TABLE companies (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL CHECK (email = lower(email)),
    name           text NOT NULL,
    language       text NOT NULL DEFAULT 'en',
    password_hash  text,
    signature      text,
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE memberships (
    company_id  uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level       text NOT NULL CHECK (level IN ('LIMITED', 'MEMBER', 'MANAGER', 'ADMIN')),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (company_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE folders (
    company_id  uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    parent_id   uuid,
    -- Materialized path of ids from the root down to and including this folder: /a/b/c/
    path        text NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    restricted  boolean NOT NULL DEFAULT false,
    owner_id    uuid NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz,
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, parent_id) REFERENCES folders (company_id, id)
);
CREATE INDEX folders_parent_idx ON folders (company_id, parent_id);
CREATE INDEX folders_path_idx ON folders (company_id, path text_pattern_ops);

CREATE TABLE document_templates (
    company_id  uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    version     integer NOT NULL DEFAULT 1,
    fields      jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (company_id, id)
);

CREATE TABLE folder_templates (
    company_id  uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    -- The folder structure to create: nested {name, restricted, documents: [{title, templateId}], children: [...]}
    structure   jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (company_id, id)
);

CREATE TABLE documents (
    company_id   uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    folder_id    uuid NOT NULL,
    -- Copy of the containing folder's path, so permission checks need no join.
    folder_path  text NOT NULL,
    template_id  uuid NOT NULL,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    status       text NOT NULL CHECK (status IN ('DRAFT', 'SUBMITTED', 'APPROVED', 'ARCHIVED')),
    "values"     jsonb NOT NULL,
    owner_id     uuid NOT NULL REFERENCES users (id),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    deleted_at   timestamptz,
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, folder_id) REFERENCES folders (company_id, id),
    FOREIGN KEY (company_id, template_id) REFERENCES document_templates (company_id, id)
);
CREATE INDEX documents_folder_idx ON documents (company_id, folder_id, updated_at, id);
CREATE INDEX documents_path_idx ON documents (company_id, folder_path text_pattern_ops);
CREATE INDEX documents_updated_idx ON documents (company_id, updated_at, id);

CREATE TABLE comments (
    company_id   uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    document_id  uuid NOT NULL,
    author_id    uuid NOT NULL REFERENCES users (id),
    body         text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, document_id) REFERENCES documents (company_id, id)
);
CREATE INDEX comments_document_idx ON comments (company_id, document_id, created_at, id);
