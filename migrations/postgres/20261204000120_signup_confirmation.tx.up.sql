-- A sign-up is confirmed through a mailed link before its account can log in, so that signing
-- up answers alike for an address with an account and one without. The password chosen at
-- sign-up waits, hashed, on the confirmation token until the link is used.
ALTER TABLE user_tokens ADD COLUMN password_hash text;
