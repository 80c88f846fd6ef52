-- OP core schema. Portable types only: TEXT, BIGINT (times are unix seconds, booleans 0/1).

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    parent_id   TEXT REFERENCES tenants(id),
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
INSERT INTO tenants (id, parent_id, code, name, created_at, updated_at)
VALUES ('default', NULL, 'default', 'Default', 0, 0);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    username        TEXT NOT NULL,
    password_hash   TEXT,
    user_type       TEXT NOT NULL DEFAULT 'MEMBER',
    state           TEXT NOT NULL DEFAULT 'active',
    email           TEXT,
    email_verified  BIGINT NOT NULL DEFAULT 0,
    phone           TEXT,
    phone_verified  BIGINT NOT NULL DEFAULT 0,
    name            TEXT,
    given_name      TEXT,
    family_name     TEXT,
    nickname        TEXT,
    picture         TEXT,
    locale          TEXT,
    zoneinfo        TEXT,
    address         TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_login_at   BIGINT,
    deleted_at      BIGINT,
    UNIQUE (tenant_id, username)
);

CREATE TABLE clients (
    id                          TEXT PRIMARY KEY,
    tenant_id                   TEXT NOT NULL REFERENCES tenants(id),
    name                        TEXT NOT NULL,
    secret_hash                 TEXT,
    redirect_uris               TEXT NOT NULL,
    post_logout_redirect_uris   TEXT NOT NULL,
    grant_types                 TEXT NOT NULL,
    first_party                 BIGINT NOT NULL,
    id_token_alg                TEXT NOT NULL,
    enabled                     BIGINT NOT NULL DEFAULT 1,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL
);

-- One row per authorization (code redemption); refresh tokens and access tokens carry its id,
-- so replay or revocation of the whole family is one UPDATE.
CREATE TABLE grants (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    scope       TEXT NOT NULL,
    sid         TEXT,
    auth_time   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_sid ON grants (sid);

-- Only the SHA-256 of a refresh token is stored. used_at marks a rotated token: presenting it
-- again is reuse and revokes the grant.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES grants(id),
    scope       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

-- Durable copy of revocations (grant, session id, access-token jti) until the tokens they
-- concern have expired; loaded into the ephemeral store at start.
CREATE TABLE revocations (
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);

CREATE TABLE consents (
    user_id     TEXT NOT NULL REFERENCES users(id),
    client_id   TEXT NOT NULL REFERENCES clients(id),
    scope       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
