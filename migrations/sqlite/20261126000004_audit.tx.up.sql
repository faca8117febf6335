-- SQLite twin of the PostgreSQL migration of the same name. SQLite has no roles and no
-- row-level security: triggers keep both tables append-only against mistakes in the server
-- (laatu audit prune lifts the delete guard within its own transaction).

CREATE TABLE audit_events (
    company_id       TEXT NOT NULL,
    seq              INTEGER NOT NULL CHECK (seq > 0),
    id               TEXT NOT NULL,
    occurred_at      TIMESTAMP NOT NULL,
    request_id       TEXT NOT NULL DEFAULT '',
    operation_type   TEXT NOT NULL DEFAULT '',
    operation_name   TEXT NOT NULL DEFAULT '',
    operation_hash   TEXT NOT NULL DEFAULT '',
    root_fields      TEXT NOT NULL DEFAULT '[]',
    actor_id         TEXT,
    principal_kind   TEXT NOT NULL,
    principal_level  TEXT NOT NULL DEFAULT '',
    grant_id         TEXT NOT NULL DEFAULT '',
    session_id       TEXT NOT NULL DEFAULT '',
    client_ip        TEXT NOT NULL DEFAULT '',
    user_agent       TEXT NOT NULL DEFAULT '',
    action           TEXT NOT NULL,
    object_type      TEXT NOT NULL DEFAULT '',
    object_id        TEXT NOT NULL DEFAULT '',
    fields           TEXT NOT NULL DEFAULT '[]',
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL,
    PRIMARY KEY (company_id, seq)
);
CREATE INDEX audit_events_time_idx ON audit_events (company_id, occurred_at);
CREATE INDEX audit_events_object_idx ON audit_events (company_id, object_id, seq);
CREATE INDEX audit_events_actor_idx ON audit_events (company_id, actor_id, seq);

CREATE TABLE audit_checkpoints (
    company_id       TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    hash             TEXT NOT NULL,
    pruned_before    TIMESTAMP NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    prev_checkpoint  TEXT NOT NULL,
    checkpoint_hash  TEXT NOT NULL,
    PRIMARY KEY (company_id, seq)
);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
