-- SQLite twin of the PostgreSQL migration of the same name (no row-level security on SQLite).
-- Sessions, single-use tokens, invitations, grants, the mail outbox and object versions.

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the bearer token; the token itself is never stored.
    token_hash    BLOB NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    last_seen_at  TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL,
    revoked_at    TIMESTAMP,
    client_ip     TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX sessions_token_key ON sessions (token_hash);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Single-use secrets sent by mail: invitations to set a password and password resets.
CREATE TABLE user_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('INVITE', 'RESET')),
    token_hash  BLOB NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP,
    created_at  TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX user_tokens_hash_key ON user_tokens (token_hash);

-- A pending membership: becomes a membership when the invitee accepts.
CREATE TABLE invitations (
    company_id   TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level        TEXT NOT NULL CHECK (level IN ('LIMITED', 'MEMBER', 'MANAGER', 'ADMIN')),
    invited_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMP NOT NULL,
    accepted_at  TIMESTAMP,
    PRIMARY KEY (company_id, id)
);
CREATE INDEX invitations_user_idx ON invitations (user_id);

-- A right on one folder (and everything below it) or one document, for one user.
CREATE TABLE grants (
    company_id   TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    folder_id    TEXT,
    document_id  TEXT,
    -- Path of the granted folder (/a/b/), or of the document's folder followed by the document id.
    path         TEXT NOT NULL,
    grantee_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level        TEXT NOT NULL CHECK (level IN ('VIEW', 'EDIT', 'MANAGE')),
    expires_at   TIMESTAMP,
    granted_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (company_id, id),
    CHECK ((folder_id IS NULL) <> (document_id IS NULL)),
    FOREIGN KEY (company_id, folder_id) REFERENCES folders (company_id, id) ON DELETE CASCADE,
    FOREIGN KEY (company_id, document_id) REFERENCES documents (company_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX grants_folder_key ON grants (company_id, folder_id, grantee_id) WHERE folder_id IS NOT NULL;
CREATE UNIQUE INDEX grants_document_key ON grants (company_id, document_id, grantee_id) WHERE document_id IS NOT NULL;
CREATE INDEX grants_grantee_idx ON grants (grantee_id, company_id);

-- Mail waits here until the sender has delivered it, so none is lost while SMTP is down.
CREATE TABLE outbox_emails (
    id          TEXT PRIMARY KEY,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    send_after  TIMESTAMP NOT NULL,
    sent_at     TIMESTAMP,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending_idx ON outbox_emails (send_after) WHERE sent_at IS NULL;

-- Earlier states of folders and documents, for restoring a single object.
CREATE TABLE object_versions (
    company_id   TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    object_type  TEXT NOT NULL CHECK (object_type IN ('FOLDER', 'DOCUMENT')),
    object_id    TEXT NOT NULL,
    version      INTEGER NOT NULL,
    data         TEXT NOT NULL,
    actor_id     TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (company_id, id)
);
CREATE INDEX object_versions_object_idx ON object_versions (company_id, object_id, version);
