-- Unpack every run into rows of one event each (the guards forbid only updates and deletes),
-- then drop the columns.
INSERT INTO audit_events (company_id, seq, id, occurred_at, request_id, operation_type,
    operation_name, operation_hash, root_fields, actor_id, principal_kind, principal_level,
    grant_id, session_id, client_ip, user_agent, action, object_type, object_id, fields,
    prev_hash, hash)
SELECT r.company_id, json_extract(m.value, '$.seq'), json_extract(m.value, '$.id'),
    r.occurred_at, r.request_id, r.operation_type, r.operation_name, r.operation_hash,
    r.root_fields, r.actor_id, r.principal_kind, r.principal_level, r.grant_id, r.session_id,
    r.client_ip, r.user_agent, r.action, json_extract(m.value, '$.object_type'),
    json_extract(m.value, '$.object_id'), json(json_extract(m.value, '$.fields')),
    json_extract(m.value, '$.prev_hash'), json_extract(m.value, '$.hash')
FROM audit_events AS r, json_each(r.more) AS m
WHERE r.more IS NOT NULL;
ALTER TABLE audit_events DROP COLUMN more;
ALTER TABLE audit_events DROP COLUMN more_object_ids;
