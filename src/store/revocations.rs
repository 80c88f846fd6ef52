//! Durable revocations (grant ids, session ids, access-token ids) kept until the tokens they
//! concern have expired. The ephemeral store holds the live copy used on every request.

use super::{Db, StoreResult};

/// Records a revocation; recording it twice keeps the later expiry.
pub async fn insert(db: &Db, kind: &str, value: &str, expires_at: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO revocations (kind, value, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (kind, value) DO UPDATE SET expires_at = \
         CASE WHEN revocations.expires_at > $3 THEN revocations.expires_at ELSE $3 END",
    )
    .bind(kind)
    .bind(value)
    .bind(expires_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Revocations still in force, to warm the ephemeral store at start.
pub async fn list_active(db: &Db, now: i64) -> StoreResult<Vec<(String, String, i64)>> {
    Ok(
        sqlx::query_as("SELECT kind, value, expires_at FROM revocations WHERE expires_at > $1")
            .bind(now)
            .fetch_all(db.pool())
            .await?,
    )
}

/// Drops revocations whose tokens have all expired.
pub async fn purge_expired(db: &Db, now: i64) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM revocations WHERE expires_at <= $1")
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}
