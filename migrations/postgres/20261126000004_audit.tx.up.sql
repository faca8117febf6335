-- The audit log: one hash chain of events per company (internal/audit explains the chain and
-- its canonical encoding). Events outside any company (logins) form the chain of the nil UUID.
-- There are no foreign keys: erasing a user or a company must not break a chain, and the log
-- outlives what it describes.
--
-- The server's role may insert and read, never update or delete (GrantServerRole revokes those
-- privileges on the tables that migrations.AppendOnly names). Row-level security lets it read
-- only its active company's events, and insert only into that company's chain or the nil
-- UUID's. The role that runs this migration (the tables' owner) gets policies of its own to
-- verify every chain and to prune with a checkpoint.

CREATE TABLE audit_events (
    company_id       uuid NOT NULL,
    -- Position in the company's chain: 1, 2, 3, ... without gaps.
    seq              bigint NOT NULL CHECK (seq > 0),
    id               uuid NOT NULL,
    occurred_at      timestamptz NOT NULL,
    request_id       text NOT NULL DEFAULT '',
    operation_type   text NOT NULL DEFAULT '',
    operation_name   text NOT NULL DEFAULT '',
    -- SHA-256 of the GraphQL document text.
    operation_hash   text NOT NULL DEFAULT '',
    root_fields      jsonb NOT NULL DEFAULT '[]',
    actor_id         uuid,
    principal_kind   text NOT NULL,
    principal_level  text NOT NULL DEFAULT '',
    grant_id         text NOT NULL DEFAULT '',
    session_id       text NOT NULL DEFAULT '',
    client_ip        text NOT NULL DEFAULT '',
    user_agent       text NOT NULL DEFAULT '',
    action           text NOT NULL,
    object_type      text NOT NULL DEFAULT '',
    object_id        text NOT NULL DEFAULT '',
    -- VIEW: [{"field": path}]; changes: [{"field", "before", "after", "personal"}].
    fields           jsonb NOT NULL DEFAULT '[]',
    prev_hash        text NOT NULL,
    hash             text NOT NULL,
    PRIMARY KEY (company_id, seq)
);
CREATE INDEX audit_events_time_idx ON audit_events (company_id, occurred_at);
CREATE INDEX audit_events_object_idx ON audit_events (company_id, object_id, seq);
CREATE INDEX audit_events_actor_idx ON audit_events (company_id, actor_id, seq);

-- Where pruning cut a chain: the seq and hash of the last pruned event, so the rest still
-- verifies. Checkpoints are chained too (prev_checkpoint) and hashed (checkpoint_hash).
CREATE TABLE audit_checkpoints (
    company_id       uuid NOT NULL,
    seq              bigint NOT NULL,
    hash             text NOT NULL,
    pruned_before    timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    prev_checkpoint  text NOT NULL,
    checkpoint_hash  text NOT NULL,
    PRIMARY KEY (company_id, seq)
);

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_events_read ON audit_events FOR SELECT
    USING (company_id = (SELECT app_company_id()));
CREATE POLICY audit_events_append ON audit_events FOR INSERT
    WITH CHECK (company_id = (SELECT app_company_id())
             OR company_id = '00000000-0000-0000-0000-000000000000'::uuid);

ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_checkpoints_read ON audit_checkpoints FOR SELECT
    USING (company_id = (SELECT app_company_id()));

-- Maintenance by the owner (laatu audit verify|prune through DATABASE_ADMIN_URL): FORCE binds
-- the owner too, so it gets its own policies, for reading every chain, deleting pruned events
-- and writing checkpoints. Never UPDATE. The server's role is another role and gets none.
DO $$
BEGIN
    EXECUTE format('CREATE POLICY audit_events_owner_read ON audit_events FOR SELECT TO %I USING (true)', current_user);
    EXECUTE format('CREATE POLICY audit_events_owner_prune ON audit_events FOR DELETE TO %I USING (true)', current_user);
    EXECUTE format('CREATE POLICY audit_checkpoints_owner_read ON audit_checkpoints FOR SELECT TO %I USING (true)', current_user);
    EXECUTE format('CREATE POLICY audit_checkpoints_owner_write ON audit_checkpoints FOR INSERT TO %I WITH CHECK (true)', current_user);
END $$;
