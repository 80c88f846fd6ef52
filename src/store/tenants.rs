//! Tenants (companies). The OP core only needs the default tenant; the directory adds the rest.

/// Id of the tenant created by the first migration.
pub const DEFAULT_TENANT: &str = "default";

use super::{Db, StoreResult};

/// Whether the user belongs to the tenant (main tenant or membership).
pub async fn is_member(db: &Db, tenant_id: &str, user_id: &str) -> StoreResult<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM users WHERE id = $2 AND deleted_at IS NULL AND (tenant_id = $1 \
         OR id IN (SELECT user_id FROM tenant_members WHERE tenant_id = $1))",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_one(db.pool())
    .await?;
    Ok(n > 0)
}

/// Whether `application_id` is in the tenant's list of enabled applications.
pub async fn enables_application(
    db: &Db,
    tenant_id: &str,
    application_id: &str,
) -> StoreResult<bool> {
    let row: Option<(String,)> = sqlx::query_as("SELECT applications FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row
        .and_then(|(json,)| serde_json::from_str::<Vec<String>>(&json).ok())
        .is_some_and(|list| list.iter().any(|a| a == application_id)))
}

/// A tenant by id (minimal view; the directory's tenant resource reads the full row).
pub async fn find(db: &Db, id: &str) -> StoreResult<Option<(String, String)>> {
    Ok(
        sqlx::query_as::<_, (String, String)>("SELECT id, code FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?,
    )
}
