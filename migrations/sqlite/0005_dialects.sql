-- Sub-application dialects (seed 001 signdata/sign, seed 002 tk/token).
--
-- App tokens: the opaque `token` of seed 002 (returned by parseTk) and of seed 001's
-- /auth/access_token. Each belongs to a grant (so revoking the grant, the browser session or the
-- user ends it, like the OAuth tokens of that grant); only its SHA-256 is stored.
CREATE TABLE app_tokens (
    token_hash  TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL,
    client_id   TEXT NOT NULL REFERENCES clients(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    sid         TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX app_tokens_user ON app_tokens (user_id);
CREATE INDEX app_tokens_expiry ON app_tokens (expires_at);

-- The client secret sealed under the server's vault key (AES-256-GCM), for the dialects whose
-- hand-offs are keyed from the secret (seed 001 signdata/sign). NULL for clients registered
-- before this migration until their secret is rotated.
ALTER TABLE clients ADD COLUMN secret_sealed TEXT;
-- Seed 001's md5 `sign`, only for applications explicitly marked legacy.
ALTER TABLE clients ADD COLUMN legacy_md5_sign INTEGER NOT NULL DEFAULT 0;
-- Seed 001's `api-key` query parameter (leaks into logs), only when enabled per application.
ALTER TABLE clients ADD COLUMN api_key_in_query INTEGER NOT NULL DEFAULT 0;
