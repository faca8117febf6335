DROP TABLE object_versions;
DROP TABLE outbox_emails;
DROP TABLE grants;
DROP TABLE invitations;
DROP TABLE user_tokens;
DROP TABLE sessions;
