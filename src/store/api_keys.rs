//! Per-user API keys. Only the SHA-256 of a key is stored (the key is 256 random bits, so a
//! fast hash suffices, ASVS V6.5.2); the prefix identifies a key in lists.

use serde::Serialize;

use super::{Db, StoreResult};

/// A key as lists show it: never the key itself, never its hash.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// First characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at";

/// Stores a new key (its hash).
pub async fn insert(
    db: &Db,
    user_id: &str,
    name: &str,
    prefix: &str,
    key_hash: &str,
    expires_at: Option<i64>,
    now: i64,
) -> StoreResult<ApiKey> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(name)
    .bind(prefix)
    .bind(key_hash)
    .bind(now)
    .bind(expires_at)
    .execute(db.pool())
    .await?;
    find(db, &id)
        .await?
        .ok_or_else(|| super::StoreError::Corrupt("inserted api key not found".into()))
}

/// A key by id.
pub async fn find(db: &Db, id: &str) -> StoreResult<Option<ApiKey>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
    Ok(sqlx::query_as::<_, ApiKey>(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?)
}

/// The user of a usable key (not revoked, not expired), by the key's hash.
pub async fn user_of(db: &Db, key_hash: &str, now: i64) -> StoreResult<Option<(String, String)>> {
    Ok(sqlx::query_as::<_, (String, String)>(
        "SELECT id, user_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(key_hash)
    .bind(now)
    .fetch_optional(db.pool())
    .await?)
}

/// Notes a use, at most once a minute per key (keeps the hot path from writing every call).
pub async fn touch(db: &Db, id: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
         AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(id)
    .bind(now)
    .bind(now - 60)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A user's keys, newest first.
pub async fn list_for_user(db: &Db, user_id: &str) -> StoreResult<Vec<ApiKey>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
    );
    Ok(sqlx::query_as::<_, ApiKey>(&sql)
        .bind(user_id)
        .fetch_all(db.pool())
        .await?)
}

/// Revokes a key; false if it was unknown or already revoked.
pub async fn revoke(db: &Db, id: &str, now: i64) -> StoreResult<bool> {
    let r = sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Revokes every key of a user (account disabled or deleted); returns how many.
pub async fn revoke_all_for_user(db: &Db, user_id: &str, now: i64) -> StoreResult<u64> {
    let r = sqlx::query(
        "UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(r.rows_affected())
}
