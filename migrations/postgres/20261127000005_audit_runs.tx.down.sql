-- Unpack every run into rows of one event each, then drop the columns. FORCE row-level
-- security binds the owner, whose policies do not cover inserting into every chain: it is
-- lifted for this transaction.
ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY;
INSERT INTO audit_events (company_id, seq, id, occurred_at, request_id, operation_type,
    operation_name, operation_hash, root_fields, actor_id, principal_kind, principal_level,
    grant_id, session_id, client_ip, user_agent, action, object_type, object_id, fields,
    prev_hash, hash)
SELECT r.company_id, (m->>'seq')::bigint, (m->>'id')::uuid, r.occurred_at, r.request_id,
    r.operation_type, r.operation_name, r.operation_hash, r.root_fields, r.actor_id,
    r.principal_kind, r.principal_level, r.grant_id, r.session_id, r.client_ip, r.user_agent,
    r.action, m->>'object_type', m->>'object_id', m->'fields', m->>'prev_hash', m->>'hash'
FROM audit_events AS r CROSS JOIN LATERAL jsonb_array_elements(r.more) AS m
WHERE r.more IS NOT NULL;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
DROP INDEX audit_events_more_objects_idx;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_more_check,
    DROP COLUMN more, DROP COLUMN more_object_ids;
