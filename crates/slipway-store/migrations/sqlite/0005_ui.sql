-- The web UI's logins: a user's password (an argon2 PHC string, NULL when
-- the user has none and can only use tokens) and an expiry for tokens
-- (browser sessions are tokens of kind `session` that stop authenticating
-- at `expires_ms`; API tokens have none).
ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE tokens ADD COLUMN expires_ms BIGINT;
