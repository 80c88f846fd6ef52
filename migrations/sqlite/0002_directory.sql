-- Directory: tenants, users' profile, roles, groups, permission catalogues, audit log, API keys.
-- Portable types only: TEXT, BIGINT (unix seconds, 0/1 flags) and REAL (sort orders).
-- JSON documents (attrs, metadata, lists) are TEXT holding JSON.

ALTER TABLE tenants ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN logo TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN industry TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN tenant_type TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tenants ADD COLUMN applications TEXT NOT NULL DEFAULT '[]';
CREATE INDEX tenants_parent ON tenants (parent_id);
UPDATE tenants SET title = 'Default' WHERE id = 'default';

ALTER TABLE users ADD COLUMN realname TEXT;
ALTER TABLE users ADD COLUMN gender TEXT NOT NULL DEFAULT 'U';
ALTER TABLE users ADD COLUMN birthdate TEXT;
ALTER TABLE users ADD COLUMN title TEXT;
ALTER TABLE users ADD COLUMN country TEXT;
ALTER TABLE users ADD COLUMN attrs TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN sys_attrs TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN trial_end_at BIGINT;
ALTER TABLE users ADD COLUMN last_ip TEXT;
ALTER TABLE users ADD COLUMN logins_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN register_source TEXT NOT NULL DEFAULT '';
-- Set by an administrator's password reset: the next login must choose a new password (A-10).
ALTER TABLE users ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;
-- The bootstrap super administrator: cannot be deleted or disabled.
ALTER TABLE users ADD COLUMN builtin BIGINT NOT NULL DEFAULT 0;
-- Sessions that signed in before this time are no longer valid ("revoke all sessions").
ALTER TABLE users ADD COLUMN not_before BIGINT NOT NULL DEFAULT 0;
-- Lower-cased username, nickname, name, realname, email and phone: one column to search.
ALTER TABLE users ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE users SET search_text = LOWER(username || ' ' || COALESCE(nickname, '') || ' ' || COALESCE(name, '')
    || ' ' || COALESCE(email, '') || ' ' || COALESCE(phone, ''));
UPDATE users SET builtin = 1 WHERE id = (SELECT id FROM users WHERE user_type = 'ADMIN' AND tenant_id = 'default'
    ORDER BY created_at, id LIMIT 1);
CREATE INDEX users_tenant_created ON users (tenant_id, created_at);
CREATE INDEX users_email ON users (email);
CREATE INDEX users_phone ON users (phone);

-- Membership of a user in tenants other than (and including) its main one; is_admin makes the
-- user an administrator of that tenant.
CREATE TABLE tenant_members (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    is_admin    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX tenant_members_user ON tenant_members (user_id);
INSERT INTO tenant_members (tenant_id, user_id, is_admin, created_at)
    SELECT tenant_id, id, 0, created_at FROM users;

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    code        TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    sort_order  REAL NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, code)
);

CREATE TABLE user_roles (
    user_id     TEXT NOT NULL REFERENCES users(id),
    role_id     TEXT NOT NULL REFERENCES roles(id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role ON user_roles (role_id);

-- Groups (seed 000 group, seed 001 department, seed 002 org): a tree per tenant. The paths hold
-- the ancestors ('/' at the top, '/a/b/' below b): a subtree is `id_path LIKE '/a/%'`.
CREATE TABLE org_groups (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    parent_id   TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    code        TEXT NOT NULL DEFAULT '',
    group_type  TEXT NOT NULL DEFAULT 'dept',
    description TEXT NOT NULL DEFAULT '',
    sort_order  REAL NOT NULL DEFAULT 0,
    attrs       TEXT NOT NULL DEFAULT '{}',
    id_path     TEXT NOT NULL DEFAULT '/',
    name_path   TEXT NOT NULL DEFAULT '/',
    type_path   TEXT NOT NULL DEFAULT '/',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX org_groups_parent ON org_groups (tenant_id, parent_id);
CREATE INDEX org_groups_path ON org_groups (id_path);

CREATE TABLE group_members (
    group_id    TEXT NOT NULL REFERENCES org_groups(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Roles held by a group: every member of the group or of a group below it inherits them.
CREATE TABLE group_roles (
    group_id    TEXT NOT NULL REFERENCES org_groups(id),
    role_id     TEXT NOT NULL REFERENCES roles(id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (group_id, role_id)
);
CREATE INDEX group_roles_role ON group_roles (role_id);

-- Applications are the OAuth clients plus what the directory shows about them.
ALTER TABLE clients ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN logo TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN home_url TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN legacy_callback_urls TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN access_token_ttl BIGINT;
ALTER TABLE clients ADD COLUMN refresh_token_ttl BIGINT;
ALTER TABLE clients ADD COLUMN id_token_ttl BIGINT;
ALTER TABLE clients ADD COLUMN secret_rotated_at BIGINT;

-- Roles held by a client's service account (client_credentials tokens act with them).
CREATE TABLE client_roles (
    client_id   TEXT NOT NULL REFERENCES clients(id),
    role_id     TEXT NOT NULL REFERENCES roles(id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (client_id, role_id)
);
CREATE INDEX client_roles_role ON client_roles (role_id);

-- Permission catalogue of an application: menus, actions, APIs and data scopes.
CREATE TABLE permissions (
    id              TEXT PRIMARY KEY,
    application_id  TEXT NOT NULL REFERENCES clients(id),
    code            TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    titles          TEXT NOT NULL DEFAULT '{}',
    kind            TEXT NOT NULL DEFAULT 'action',
    parent_id       TEXT NOT NULL DEFAULT '',
    apis            TEXT NOT NULL DEFAULT '[]',
    data_scope      TEXT,
    sort_order      REAL NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (application_id, code)
);

CREATE TABLE role_permissions (
    role_id         TEXT NOT NULL REFERENCES roles(id),
    permission_id   TEXT NOT NULL REFERENCES permissions(id),
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (role_id, permission_id)
);
CREATE INDEX role_permissions_permission ON role_permissions (permission_id);

-- Append-only: no API deletes or edits a record (A-09).
CREATE TABLE audit_logs (
    id          TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    tenant_id   TEXT,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT,
    actor_name  TEXT,
    ip          TEXT,
    module      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT,
    operation   TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_logs_created ON audit_logs (created_at);
CREATE INDEX audit_logs_tenant ON audit_logs (tenant_id, created_at);
CREATE INDEX audit_logs_actor ON audit_logs (actor_id, created_at);
CREATE INDEX audit_logs_target ON audit_logs (target_type, target_id);

-- Per-user API keys: only the SHA-256 of the key is kept; the prefix identifies it in lists.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id),
    name            TEXT NOT NULL DEFAULT '',
    prefix          TEXT NOT NULL,
    key_hash        TEXT NOT NULL UNIQUE,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    last_used_at    BIGINT,
    revoked_at      BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- Gatehouse's own administration is an application whose catalogue guards /api/v1 (seed 001's
-- permission table, plus account.application for the application registry).
INSERT INTO clients (id, tenant_id, name, secret_hash, redirect_uris, post_logout_redirect_uris,
    grant_types, first_party, id_token_alg, enabled, created_at, updated_at, description)
VALUES ('gatehouse-admin', 'default', 'Gatehouse administration', NULL, '[]', '[]', '[]', 1, 'RS256',
    1, 0, 0, 'The directory and administration API of this Gatehouse');
INSERT INTO permissions (id, application_id, code, name, titles, kind, parent_id, apis, sort_order, created_at, updated_at) VALUES
('perm-account', 'gatehouse-admin', 'account', 'View the account system',
 '{"zh-CN":"账号管理权限"}', 'api', '',
 '[{"method":"GET","path":"/api/v1/users/**"},{"method":"GET","path":"/api/v1/roles/**"},{"method":"GET","path":"/api/v1/groups/**"},{"method":"GET","path":"/api/v1/tenants/**"},{"method":"GET","path":"/api/v1/applications/**"}]',
 1, 0, 0),
('perm-account-user', 'gatehouse-admin', 'account.user', 'Manage users',
 '{"zh-CN":"管理用户的权限"}', 'api', 'perm-account',
 '[{"method":"POST,PUT,PATCH,DELETE","path":"/api/v1/users/**"}]', 2, 0, 0),
('perm-account-role', 'gatehouse-admin', 'account.role', 'Manage roles',
 '{"zh-CN":"管理角色的权限"}', 'api', 'perm-account',
 '[{"method":"POST,PUT,PATCH,DELETE","path":"/api/v1/roles/**"}]', 3, 0, 0),
('perm-account-department', 'gatehouse-admin', 'account.department', 'Manage groups and departments',
 '{"zh-CN":"管理部门的权限"}', 'api', 'perm-account',
 '[{"method":"POST,PUT,PATCH,DELETE","path":"/api/v1/groups/**"}]', 4, 0, 0),
('perm-account-company', 'gatehouse-admin', 'account.company', 'Manage tenants',
 '{"zh-CN":"管理公司的权限"}', 'api', 'perm-account',
 '[{"method":"POST,PUT,PATCH,DELETE","path":"/api/v1/tenants/**"}]', 5, 0, 0),
('perm-account-log', 'gatehouse-admin', 'account.log', 'Read the audit log',
 '{"zh-CN":"查询日志的权限"}', 'api', 'perm-account',
 '[{"method":"GET,POST","path":"/api/v1/audit-logs/**"}]', 6, 0, 0),
('perm-account-application', 'gatehouse-admin', 'account.application', 'Manage applications and their permissions',
 '{"zh-CN":"管理应用的权限"}', 'api', 'perm-account',
 '[{"method":"POST,PUT,PATCH,DELETE","path":"/api/v1/applications/**"}]', 7, 0, 0);
