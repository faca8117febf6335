-- SQLite twin of the PostgreSQL migration of the same name (no row-level security here).

CREATE TABLE document_signers (
    company_id   TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    document_id  TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id),
    added_by     TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (company_id, document_id, user_id),
    FOREIGN KEY (company_id, document_id) REFERENCES documents (company_id, id) ON DELETE CASCADE
);

CREATE TABLE signatures (
    company_id    TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    document_id   TEXT NOT NULL,
    signer_id     TEXT NOT NULL REFERENCES users (id),
    version       INTEGER NOT NULL,
    content_hash  TEXT NOT NULL CHECK (length(content_hash) = 64),
    client_ip     TEXT NOT NULL DEFAULT '',
    signed_at     TIMESTAMP NOT NULL,
    voided_at     TIMESTAMP,
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, document_id) REFERENCES documents (company_id, id) ON DELETE CASCADE
);
CREATE INDEX signatures_document_idx ON signatures (company_id, document_id, signed_at, id);
