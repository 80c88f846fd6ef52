//! Opaque app tokens of the sub-application dialects (seed 002 `token`, seed 001
//! `access_token`). Only the SHA-256 of a token is stored; each belongs to a grant.

use super::{Db, StoreResult};

/// A stored app token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppToken {
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    /// Browser session it was obtained in (`""` when none).
    pub sid: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Stores a token.
pub async fn insert(db: &Db, token_hash: &str, t: &AppToken) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO app_tokens (token_hash, grant_id, client_id, user_id, sid, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token_hash)
    .bind(&t.grant_id)
    .bind(&t.client_id)
    .bind(&t.user_id)
    .bind(&t.sid)
    .bind(t.created_at)
    .bind(t.expires_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The token with this hash, expired or not.
pub async fn find(db: &Db, token_hash: &str) -> StoreResult<Option<AppToken>> {
    Ok(sqlx::query_as::<_, AppToken>(
        "SELECT grant_id, client_id, user_id, sid, created_at, expires_at FROM app_tokens \
         WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(db.pool())
    .await?)
}

/// Deletes a token (explicit logout with it); whether it existed.
pub async fn delete(db: &Db, token_hash: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM app_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Drops expired tokens.
pub async fn purge_expired(db: &Db, now: i64) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM app_tokens WHERE expires_at <= $1")
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}
