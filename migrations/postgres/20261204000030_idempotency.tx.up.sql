-- Idempotency keys: the first answer to a mutation sent with an Idempotency-Key header,
-- stored in the mutation's own transaction, so that a retry with the same key gets that
-- answer back instead of running again. Keys belong to the user who sent them; rows older
-- than the retention window (24 h) are removed by the user's next keyed mutation.
-- Not a tenant table: the active company is part of request_hash, so a key sent again for
-- another company is a CONFLICT, not a replay.
CREATE TABLE idempotency_keys (
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key           text NOT NULL,
    -- SHA-256 of the company, the operation name, the query and the variables.
    request_hash  bytea NOT NULL,
    -- The GraphQL response as sent; NULL until the mutation's transaction stores it.
    response      text,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);
