ALTER TABLE user_tokens DROP COLUMN password_hash;
