-- Users resource of the admin API.
--
-- Soft delete frees the username: SQLite cannot drop the table constraint UNIQUE (tenant_id,
-- username) of 0001 without rebuilding `users` (referenced by many tables), so a deleted user's
-- username is rewritten to `<username>#deleted#<id>` ('#' is never valid in a username) and the
-- original is kept here. Both backends behave the same.
ALTER TABLE users ADD COLUMN deleted_username TEXT;

-- Admin password resets (A-10): the administrator receives a single-use link for the user, never
-- a password. Only the SHA-256 of the token is stored.
CREATE TABLE password_resets (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- Reading users by POST (batch get by ids, find by a sys_attrs value) is a read: the `account`
-- item allows it, like the GETs below /api/v1/users.
UPDATE permissions SET apis = REPLACE(apis,
    '{"method":"GET","path":"/api/v1/users/**"}',
    '{"method":"GET","path":"/api/v1/users/**"},{"method":"POST","path":"/api/v1/users/batch-get"},{"method":"POST","path":"/api/v1/users/find-by-sys-attr"}')
WHERE id = 'perm-account';
