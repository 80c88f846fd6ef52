//! Remembered consent of a user for a (third-party) client.

use super::{Db, StoreResult};

/// The scope the user already approved for this client, if any.
pub async fn find(db: &Db, user_id: &str, client_id: &str) -> StoreResult<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(s,)| s))
}

/// Records (or replaces) the approved scope.
pub async fn upsert(
    db: &Db,
    user_id: &str,
    client_id: &str,
    scope: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO consents (user_id, client_id, scope, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, client_id) DO UPDATE SET scope = $3, created_at = $4",
    )
    .bind(user_id)
    .bind(client_id)
    .bind(scope)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}
