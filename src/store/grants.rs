//! Grants (one per code redemption or per client-credentials issuance is not stored) and their
//! refresh tokens. Every token carries its grant id, so revoking a family is one UPDATE.

use super::{Db, StoreResult};

/// One authorization of a client by a user; the refresh-token family hangs off it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub sid: Option<String>,
    pub auth_time: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A stored refresh token joined with its grant.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub grant: Grant,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    scope: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    g_id: String,
    g_client_id: String,
    g_user_id: String,
    g_scope: String,
    g_sid: Option<String>,
    g_auth_time: i64,
    g_expires_at: i64,
    g_revoked_at: Option<i64>,
}

/// Inserts a grant.
pub async fn insert(db: &Db, g: &Grant, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO grants (id, client_id, user_id, scope, sid, auth_time, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&g.id)
    .bind(&g.client_id)
    .bind(&g.user_id)
    .bind(&g.scope)
    .bind(&g.sid)
    .bind(g.auth_time)
    .bind(now)
    .bind(g.expires_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Marks a grant revoked; returns whether it was live before.
pub async fn revoke(db: &Db, id: &str, now: i64) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Revokes the grants tied to a browser session, except `offline_access` ones, which are meant
/// to outlive it (OIDC Core §11). Returns the revoked ids.
pub async fn revoke_session_grants(db: &Db, sid: &str, now: i64) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "UPDATE grants SET revoked_at = $2 WHERE sid = $1 AND revoked_at IS NULL \
         AND (' ' || scope || ' ') NOT LIKE '% offline_access %' RETURNING id",
    )
    .bind(sid)
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Revokes every unrevoked grant of a user (account disabled or deleted, sessions revoked by an
/// administrator). Returns `(grant id, client id, grant expiry)` of each revoked grant.
pub async fn revoke_user_grants(
    db: &Db,
    user_id: &str,
    now: i64,
) -> StoreResult<Vec<(String, String, i64)>> {
    Ok(sqlx::query_as(
        "UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL \
         RETURNING id, client_id, expires_at",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(db.pool())
    .await?)
}

/// Stores a new refresh token (by hash) in a grant's family.
pub async fn insert_refresh(
    db: &Db,
    token_hash: &str,
    grant_id: &str,
    scope: &str,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, scope, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(grant_id)
    .bind(scope)
    .bind(now)
    .bind(expires_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A refresh token by hash, with its grant.
pub async fn find_refresh(db: &Db, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
    let row = sqlx::query_as::<_, RefreshRow>(
        "SELECT r.scope, r.created_at, r.expires_at, r.used_at, g.id AS g_id, \
         g.client_id AS g_client_id, g.user_id AS g_user_id, g.scope AS g_scope, g.sid AS g_sid, \
         g.auth_time AS g_auth_time, g.expires_at AS g_expires_at, g.revoked_at AS g_revoked_at \
         FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| RefreshToken {
        scope: r.scope,
        created_at: r.created_at,
        expires_at: r.expires_at,
        used_at: r.used_at,
        grant: Grant {
            id: r.g_id,
            client_id: r.g_client_id,
            user_id: r.g_user_id,
            scope: r.g_scope,
            sid: r.g_sid,
            auth_time: r.g_auth_time,
            expires_at: r.g_expires_at,
            revoked_at: r.g_revoked_at,
        },
    }))
}

/// Consumes `old_hash` and stores its successor in one transaction. Returns false when the old
/// token was already consumed — a concurrent or replayed use, which the caller treats as reuse.
pub async fn rotate_refresh(
    db: &Db,
    old_hash: &str,
    new_hash: &str,
    scope: &str,
    now: i64,
    expires_at: i64,
) -> StoreResult<bool> {
    let mut tx = db.pool().begin().await?;
    let consumed = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
    )
    .bind(old_hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if consumed.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, scope, created_at, expires_at) \
         SELECT $2, grant_id, $3, $4, $5 FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(old_hash)
    .bind(new_hash)
    .bind(scope)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}
