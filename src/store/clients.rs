//! OAuth clients (applications). URI lists are stored as JSON text, grant types space-separated.

use serde::Serialize;

use super::sql::{Where, like_escape};
use super::{Db, StoreError, StoreResult, flag};

// Service-account roles live in `client_roles`; callers keep the `clients::` paths.
pub use super::client_roles::{assign_role, holds_role, role_links, roles_of, unassign_role};

/// A registered client. `secret_hash` is the keyed hash of the secret; `None` = public client.
#[derive(Clone, Serialize)]
pub struct Client {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: String,
    pub enabled: bool,
    /// Per-application token lifetimes (`None` fields = the server's defaults).
    #[serde(skip)]
    pub ttl: TokenTtls,
    /// Callback URLs of the legacy sign-in dialects (exact match).
    pub legacy_callback_urls: Vec<String>,
    /// The secret sealed under the server's vault key (`keys::Vault`), for the dialects keyed
    /// from it; `None` for public clients and for secrets created before sealing existed.
    #[serde(skip)]
    pub secret_sealed: Option<String>,
    /// Seed 001 `sign` as md5 instead of HMAC-SHA256 (weak; legacy sub-apps only).
    pub legacy_md5_sign: bool,
    /// Seed 001's `api-key` query parameter is accepted for this application.
    pub api_key_in_query: bool,
}

/// Per-application overrides of the server's token lifetimes, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenTtls {
    pub access_token: Option<i64>,
    pub refresh_token: Option<i64>,
    pub id_token: Option<i64>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

impl Client {
    /// Public clients have no secret and must use PKCE.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    /// Whether the client was registered for `grant_type`.
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    tenant_id: String,
    name: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    first_party: i64,
    id_token_alg: String,
    enabled: i64,
    access_token_ttl: Option<i64>,
    refresh_token_ttl: Option<i64>,
    id_token_ttl: Option<i64>,
    legacy_callback_urls: String,
    secret_sealed: Option<String>,
    legacy_md5_sign: i64,
    api_key_in_query: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            secret_hash: r.secret_hash,
            redirect_uris: serde_json::from_str(&r.redirect_uris)?,
            post_logout_redirect_uris: serde_json::from_str(&r.post_logout_redirect_uris)?,
            grant_types: r
                .grant_types
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            first_party: r.first_party != 0,
            id_token_alg: r.id_token_alg,
            enabled: r.enabled != 0,
            ttl: TokenTtls {
                access_token: r.access_token_ttl,
                refresh_token: r.refresh_token_ttl,
                id_token: r.id_token_ttl,
            },
            legacy_callback_urls: serde_json::from_str(&r.legacy_callback_urls)?,
            secret_sealed: r.secret_sealed,
            legacy_md5_sign: r.legacy_md5_sign != 0,
            api_key_in_query: r.api_key_in_query != 0,
        })
    }
}

/// Inserts a client.
pub async fn insert(db: &Db, c: &Client, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO clients (id, tenant_id, name, secret_hash, redirect_uris, \
         post_logout_redirect_uris, grant_types, first_party, id_token_alg, enabled, created_at, \
         updated_at, legacy_callback_urls, secret_sealed, legacy_md5_sign, api_key_in_query) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, $15)",
    )
    .bind(&c.id)
    .bind(&c.tenant_id)
    .bind(&c.name)
    .bind(&c.secret_hash)
    .bind(serde_json::to_string(&c.redirect_uris)?)
    .bind(serde_json::to_string(&c.post_logout_redirect_uris)?)
    .bind(c.grant_types.join(" "))
    .bind(flag(c.first_party))
    .bind(&c.id_token_alg)
    .bind(flag(c.enabled))
    .bind(now)
    .bind(serde_json::to_string(&c.legacy_callback_urls)?)
    .bind(&c.secret_sealed)
    .bind(flag(c.legacy_md5_sign))
    .bind(flag(c.api_key_in_query))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A client by id.
pub async fn find(db: &Db, id: &str) -> StoreResult<Option<Client>> {
    let row = sqlx::query_as::<_, ClientRow>(
        "SELECT id, tenant_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, \
         grant_types, first_party, id_token_alg, enabled, access_token_ttl, refresh_token_ttl, \
         id_token_ttl, legacy_callback_urls, secret_sealed, legacy_md5_sign, api_key_in_query \
         FROM clients WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(Client::try_from).transpose()
}

/// An application: the OAuth client as the directory shows it (never its secret or hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Application {
    /// The OAuth `client_id`.
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: String,
    /// Logo URL.
    pub logo: String,
    /// Home page URL.
    pub home_url: String,
    /// Redirect URIs of the authorization code flow (exact match).
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Callback URLs of the legacy sign-in dialects (exact match).
    pub legacy_callback_urls: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<String>,
    /// A public client has no secret and must use PKCE.
    pub public: bool,
    /// First-party applications do not ask users for consent.
    pub first_party: bool,
    /// ID token signing algorithm: `RS256`, `ES256` or `EdDSA`.
    pub id_token_alg: String,
    /// A disabled application gets no tokens.
    pub enabled: bool,
    /// Access token lifetime in seconds; `null` = the server's default.
    pub access_token_ttl: Option<i64>,
    /// Refresh token (grant) lifetime in seconds; `null` = the server's default.
    pub refresh_token_ttl: Option<i64>,
    /// ID token lifetime in seconds; `null` = the server's default.
    pub id_token_ttl: Option<i64>,
    /// When the secret was last rotated (unix seconds).
    pub secret_rotated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Gatehouse's own administration application (cannot be deleted or disabled).
    pub builtin: bool,
    /// Seed 001 `sign` as md5(signdata ‖ secret) instead of HMAC-SHA256: weak, only for legacy
    /// sub-applications that cannot be changed (default false).
    pub legacy_md5_sign: bool,
    /// Accept seed 001's `api-key` query parameter at `/auth/self` for this application (the key
    /// then leaks into URLs and logs; the `API-Key` header always works; default false).
    pub api_key_in_query: bool,
    /// Whether the secret is sealed for the signdata dialect (false for secrets created before
    /// sealing existed: rotate the secret).
    pub secret_sealed: bool,
    /// Weak settings an administrator should know about (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Warning shown on applications that sign with md5.
pub const MD5_WARNING: &str = "legacy_md5_sign: the signdata `sign` is md5(signdata || secret). \
    MD5 is broken (collisions) and this construction is weaker than HMAC-SHA256; every md5 \
    signature is logged, and md5 is used only before the deployment's retirement date \
    (GATEHOUSE_LEGACY_MD5_UNTIL; HMAC-SHA256 after it). Move the sub-application to HMAC-SHA256 \
    and turn this off.";

/// Warning shown on applications that accept API keys in the query string.
pub const API_KEY_QUERY_WARNING: &str = "api_key_in_query: API keys sent as ?api-key= end up in \
    browser history, proxy and server logs. Prefer the API-Key header.";

/// Warning shown on confidential applications with callbacks but no sealed secret.
pub const UNSEALED_WARNING: &str = "the client secret predates secret sealing: the signdata \
    dialect (/views/login) is refused until the secret is rotated.";

/// What an administrator sets on an application.
#[derive(Debug, Clone)]
pub struct AppFields {
    pub name: String,
    pub description: String,
    pub logo: String,
    pub home_url: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub legacy_callback_urls: Vec<String>,
    pub grant_types: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: String,
    pub enabled: bool,
    pub ttl: TokenTtls,
    pub legacy_md5_sign: bool,
    pub api_key_in_query: bool,
}

impl Application {
    /// The settable fields, to merge a partial update into.
    pub fn fields(&self) -> AppFields {
        AppFields {
            name: self.name.clone(),
            description: self.description.clone(),
            logo: self.logo.clone(),
            home_url: self.home_url.clone(),
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            legacy_callback_urls: self.legacy_callback_urls.clone(),
            grant_types: self.grant_types.clone(),
            first_party: self.first_party,
            id_token_alg: self.id_token_alg.clone(),
            enabled: self.enabled,
            ttl: TokenTtls {
                access_token: self.access_token_ttl,
                refresh_token: self.refresh_token_ttl,
                id_token: self.id_token_ttl,
            },
            legacy_md5_sign: self.legacy_md5_sign,
            api_key_in_query: self.api_key_in_query,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AppRow {
    id: String,
    tenant_id: String,
    name: String,
    description: String,
    logo: String,
    home_url: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    legacy_callback_urls: String,
    grant_types: String,
    public: i64,
    first_party: i64,
    id_token_alg: String,
    enabled: i64,
    access_token_ttl: Option<i64>,
    refresh_token_ttl: Option<i64>,
    id_token_ttl: Option<i64>,
    secret_rotated_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    legacy_md5_sign: i64,
    api_key_in_query: i64,
    sealed: i64,
}

impl TryFrom<AppRow> for Application {
    type Error = StoreError;
    fn try_from(r: AppRow) -> Result<Self, StoreError> {
        let legacy_md5_sign = r.legacy_md5_sign != 0;
        let api_key_in_query = r.api_key_in_query != 0;
        let secret_sealed = r.sealed != 0;
        let legacy_callback_urls: Vec<String> = serde_json::from_str(&r.legacy_callback_urls)?;
        let mut warnings = Vec::new();
        if legacy_md5_sign {
            warnings.push(MD5_WARNING.to_owned());
        }
        if api_key_in_query {
            warnings.push(API_KEY_QUERY_WARNING.to_owned());
        }
        if r.public == 0 && !secret_sealed && !legacy_callback_urls.is_empty() {
            warnings.push(UNSEALED_WARNING.to_owned());
        }
        Ok(Application {
            builtin: r.id == crate::authz::ADMIN_APP,
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            description: r.description,
            logo: r.logo,
            home_url: r.home_url,
            redirect_uris: serde_json::from_str(&r.redirect_uris)?,
            post_logout_redirect_uris: serde_json::from_str(&r.post_logout_redirect_uris)?,
            legacy_callback_urls,
            grant_types: r
                .grant_types
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            public: r.public != 0,
            first_party: r.first_party != 0,
            id_token_alg: r.id_token_alg,
            enabled: r.enabled != 0,
            access_token_ttl: r.access_token_ttl,
            refresh_token_ttl: r.refresh_token_ttl,
            id_token_ttl: r.id_token_ttl,
            secret_rotated_at: r.secret_rotated_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            legacy_md5_sign,
            api_key_in_query,
            secret_sealed,
            warnings,
        })
    }
}

const APP_COLUMNS: &str = "id, tenant_id, name, description, logo, home_url, redirect_uris, \
    post_logout_redirect_uris, legacy_callback_urls, grant_types, \
    CASE WHEN secret_hash IS NULL THEN 1 ELSE 0 END AS public, first_party, id_token_alg, \
    enabled, access_token_ttl, refresh_token_ttl, id_token_ttl, secret_rotated_at, created_at, \
    updated_at, legacy_md5_sign, api_key_in_query, \
    CASE WHEN secret_sealed IS NULL THEN 0 ELSE 1 END AS sealed";

/// An application by id.
pub async fn get_application(db: &Db, id: &str) -> StoreResult<Option<Application>> {
    let sql = format!("SELECT {APP_COLUMNS} FROM clients WHERE id = $1");
    sqlx::query_as::<_, AppRow>(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .map(Application::try_from)
        .transpose()
}

/// A client secret as stored: its keyed hash and its sealed plaintext.
#[derive(Debug, Clone, Copy)]
pub struct StoredSecret<'a> {
    pub hash: &'a str,
    pub sealed: &'a str,
}

/// Registers an application; `secret: None` makes it public.
pub async fn insert_application(
    db: &Db,
    id: &str,
    tenant_id: &str,
    f: &AppFields,
    secret: Option<StoredSecret<'_>>,
    now: i64,
) -> StoreResult<Application> {
    sqlx::query(
        "INSERT INTO clients (id, tenant_id, name, secret_hash, redirect_uris, \
         post_logout_redirect_uris, grant_types, first_party, id_token_alg, enabled, created_at, \
         updated_at, description, logo, home_url, legacy_callback_urls, access_token_ttl, \
         refresh_token_ttl, id_token_ttl, secret_sealed, legacy_md5_sign, api_key_in_query) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(&f.name)
    .bind(secret.map(|s| s.hash))
    .bind(serde_json::to_string(&f.redirect_uris)?)
    .bind(serde_json::to_string(&f.post_logout_redirect_uris)?)
    .bind(f.grant_types.join(" "))
    .bind(flag(f.first_party))
    .bind(&f.id_token_alg)
    .bind(flag(f.enabled))
    .bind(now)
    .bind(&f.description)
    .bind(&f.logo)
    .bind(&f.home_url)
    .bind(serde_json::to_string(&f.legacy_callback_urls)?)
    .bind(f.ttl.access_token)
    .bind(f.ttl.refresh_token)
    .bind(f.ttl.id_token)
    .bind(secret.map(|s| s.sealed))
    .bind(flag(f.legacy_md5_sign))
    .bind(flag(f.api_key_in_query))
    .execute(db.pool())
    .await?;
    get_application(db, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("inserted application not found".into()))
}

/// Writes every settable field of an application.
pub async fn update_application(db: &Db, id: &str, f: &AppFields, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE clients SET name = $2, description = $3, logo = $4, home_url = $5, \
         redirect_uris = $6, post_logout_redirect_uris = $7, legacy_callback_urls = $8, \
         grant_types = $9, first_party = $10, id_token_alg = $11, enabled = $12, \
         access_token_ttl = $13, refresh_token_ttl = $14, id_token_ttl = $15, updated_at = $16, \
         legacy_md5_sign = $17, api_key_in_query = $18 WHERE id = $1",
    )
    .bind(id)
    .bind(&f.name)
    .bind(&f.description)
    .bind(&f.logo)
    .bind(&f.home_url)
    .bind(serde_json::to_string(&f.redirect_uris)?)
    .bind(serde_json::to_string(&f.post_logout_redirect_uris)?)
    .bind(serde_json::to_string(&f.legacy_callback_urls)?)
    .bind(f.grant_types.join(" "))
    .bind(flag(f.first_party))
    .bind(&f.id_token_alg)
    .bind(flag(f.enabled))
    .bind(f.ttl.access_token)
    .bind(f.ttl.refresh_token)
    .bind(f.ttl.id_token)
    .bind(now)
    .bind(flag(f.legacy_md5_sign))
    .bind(flag(f.api_key_in_query))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Replaces the secret's keyed hash and sealed copy (rotation).
pub async fn set_secret(db: &Db, id: &str, secret: StoredSecret<'_>, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE clients SET secret_hash = $2, secret_sealed = $3, secret_rotated_at = $4, \
         updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(secret.hash)
    .bind(secret.sealed)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Filters of an application list.
#[derive(Debug, Clone, Default)]
pub struct AppFilter {
    /// `Some(list)`: only these tenants.
    pub tenants: Option<Vec<String>>,
    /// Substring of the id, name or description.
    pub q: Option<String>,
    pub enabled: Option<bool>,
}

/// One page of applications and the total.
pub async fn list_applications(
    db: &Db,
    f: &AppFilter,
    sort: &str,
    dir: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<(i64, Vec<Application>)> {
    let mut w = Where::new();
    if let Some(t) = &f.tenants {
        w.any_of("tenant_id", t);
    }
    if let Some(e) = f.enabled {
        w.eq("enabled", flag(e));
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        let m = w.mark(format!("%{}%", like_escape(&q.to_lowercase())));
        w.push(format!(
            "(LOWER(id) LIKE {m} ESCAPE '\\' OR LOWER(name) LIKE {m} ESCAPE '\\' \
             OR LOWER(description) LIKE {m} ESCAPE '\\')"
        ));
    }
    let wher = w.sql();
    let (total,) = w
        .bind_as(sqlx::query_as::<_, (i64,)>(&format!(
            "SELECT COUNT(*) FROM clients {wher}"
        )))
        .fetch_one(db.pool())
        .await?;
    let n = w.len();
    let sql = format!(
        "SELECT {APP_COLUMNS} FROM clients {wher} ORDER BY {sort} {dir}, id {dir} \
         LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let rows = w
        .bind_as(sqlx::query_as::<_, AppRow>(&sql))
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
    let items = rows
        .into_iter()
        .map(Application::try_from)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((total, items))
}

/// Ids of the application's grants that are neither revoked nor expired.
pub async fn live_grants(db: &Db, id: &str, now: i64) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM grants WHERE client_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         ORDER BY id",
    )
    .bind(id)
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(g,)| g).collect())
}

/// The longest per-application ID token lifetime, if any application sets one (how long a
/// superseded signing key must stay published).
pub async fn longest_id_token_ttl(db: &Db) -> StoreResult<Option<i64>> {
    let (longest,) = sqlx::query_as::<_, (Option<i64>,)>("SELECT MAX(id_token_ttl) FROM clients")
        .fetch_one(db.pool())
        .await?;
    Ok(longest)
}

/// Deletes an application with its grants, refresh tokens, consents, service-account roles and
/// permission catalogue, in one transaction.
pub async fn delete_application(db: &Db, id: &str) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    for sql in [
        "DELETE FROM refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE client_id = $1)",
        "DELETE FROM app_tokens WHERE client_id = $1",
        "DELETE FROM grants WHERE client_id = $1",
        "DELETE FROM consents WHERE client_id = $1",
        "DELETE FROM client_roles WHERE client_id = $1",
        "DELETE FROM role_permissions WHERE permission_id IN \
         (SELECT id FROM permissions WHERE application_id = $1)",
        "DELETE FROM permissions WHERE application_id = $1",
        "DELETE FROM clients WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
