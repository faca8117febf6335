-- Sessions, single-use tokens, invitations, grants, the mail outbox and object versions.

CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the bearer token; the token itself is never stored.
    token_hash    bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    client_ip     text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX sessions_token_key ON sessions (token_hash);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Single-use secrets sent by mail: invitations to set a password and password resets.
CREATE TABLE user_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('INVITE', 'RESET')),
    token_hash  bytea NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX user_tokens_hash_key ON user_tokens (token_hash);

-- A pending membership: becomes a membership when the invitee accepts.
CREATE TABLE invitations (
    company_id   uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level        text NOT NULL CHECK (level IN ('LIMITED', 'MEMBER', 'MANAGER', 'ADMIN')),
    invited_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    PRIMARY KEY (company_id, id)
);
CREATE INDEX invitations_user_idx ON invitations (user_id);

-- A right on one folder (and everything below it) or one document, for one user.
CREATE TABLE grants (
    company_id   uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    folder_id    uuid,
    document_id  uuid,
    -- Path of the granted folder (/a/b/), or of the document's folder followed by the document id.
    path         text NOT NULL,
    grantee_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level        text NOT NULL CHECK (level IN ('VIEW', 'EDIT', 'MANAGE')),
    expires_at   timestamptz,
    granted_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL,
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
    id          uuid PRIMARY KEY,
    recipient   text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL,
    send_after  timestamptz NOT NULL,
    sent_at     timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending_idx ON outbox_emails (send_after) WHERE sent_at IS NULL;

-- Earlier states of folders and documents, for restoring a single object.
CREATE TABLE object_versions (
    company_id   uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    object_type  text NOT NULL CHECK (object_type IN ('FOLDER', 'DOCUMENT')),
    object_id    uuid NOT NULL,
    version      integer NOT NULL,
    data         jsonb NOT NULL,
    actor_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (company_id, id)
);
CREATE INDEX object_versions_object_idx ON object_versions (company_id, object_id, version);
