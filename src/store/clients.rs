//! OAuth clients (applications). URI lists are stored as JSON text, grant types space-separated.

use serde::Serialize;

use super::{Db, StoreError, StoreResult, flag};

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
        })
    }
}

/// Inserts a client.
pub async fn insert(db: &Db, c: &Client, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO clients (id, tenant_id, name, secret_hash, redirect_uris, \
         post_logout_redirect_uris, grant_types, first_party, id_token_alg, enabled, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
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
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A client by id.
pub async fn find(db: &Db, id: &str) -> StoreResult<Option<Client>> {
    let row = sqlx::query_as::<_, ClientRow>(
        "SELECT id, tenant_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, \
         grant_types, first_party, id_token_alg, enabled FROM clients WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(Client::try_from).transpose()
}

/// Whether the client's service account holds the role.
pub async fn holds_role(db: &Db, client_id: &str, role_id: &str) -> StoreResult<bool> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM client_roles WHERE client_id = $1 AND role_id = $2")
            .bind(client_id)
            .bind(role_id)
            .fetch_one(db.pool())
            .await?;
    Ok(n > 0)
}
