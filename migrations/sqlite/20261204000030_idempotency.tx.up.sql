-- SQLite twin of the PostgreSQL migration of the same name.
CREATE TABLE idempotency_keys (
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    response      TEXT,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);
