-- Signing (issue 14): who is asked to sign a document, and the signatures given.
-- A signature records the SHA-256 of the document's canonical content (storage.ContentHash) at
-- the version signed; it is voided, never deleted, when the document goes back to DRAFT.

CREATE TABLE document_signers (
    company_id   uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    document_id  uuid NOT NULL,
    user_id      uuid NOT NULL REFERENCES users (id),
    added_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (company_id, document_id, user_id),
    FOREIGN KEY (company_id, document_id) REFERENCES documents (company_id, id) ON DELETE CASCADE
);

CREATE TABLE signatures (
    company_id    uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    document_id   uuid NOT NULL,
    signer_id     uuid NOT NULL REFERENCES users (id),
    version       integer NOT NULL,
    content_hash  text NOT NULL CHECK (length(content_hash) = 64),
    client_ip     text NOT NULL DEFAULT '',
    signed_at     timestamptz NOT NULL,
    voided_at     timestamptz,
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, document_id) REFERENCES documents (company_id, id) ON DELETE CASCADE
);
CREATE INDEX signatures_document_idx ON signatures (company_id, document_id, signed_at, id);

-- Reachable beyond the company only through a document that is (as comments).
ALTER TABLE document_signers ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_signers FORCE ROW LEVEL SECURITY;
CREATE POLICY document_signers_tenant ON document_signers
    USING (company_id = (SELECT app_company_id()) OR EXISTS (
        SELECT 1 FROM documents d WHERE d.company_id = document_signers.company_id AND d.id = document_signers.document_id))
    WITH CHECK (company_id = (SELECT app_company_id()));

ALTER TABLE signatures ENABLE ROW LEVEL SECURITY;
ALTER TABLE signatures FORCE ROW LEVEL SECURITY;
CREATE POLICY signatures_tenant ON signatures
    USING (company_id = (SELECT app_company_id()) OR EXISTS (
        SELECT 1 FROM documents d WHERE d.company_id = signatures.company_id AND d.id = signatures.document_id))
    WITH CHECK (company_id = (SELECT app_company_id()));
