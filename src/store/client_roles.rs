//! Roles held by applications' service accounts (`client_roles`): what a `client_credentials`
//! token may do.

use super::roles::Role;
use super::{Db, StoreResult};

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

/// How many roles hold service-account rights or grant catalogue items of the application.
pub async fn role_links(db: &Db, id: &str) -> StoreResult<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM client_roles WHERE client_id = $1) \
         + (SELECT COUNT(*) FROM role_permissions WHERE permission_id IN \
            (SELECT id FROM permissions WHERE application_id = $1))",
    )
    .bind(id)
    .fetch_one(db.pool())
    .await?;
    Ok(n)
}

/// The roles of the client's service account.
pub async fn roles_of(db: &Db, client_id: &str) -> StoreResult<Vec<Role>> {
    Ok(sqlx::query_as::<_, Role>(
        "SELECT r.id, r.tenant_id, r.code, r.name, r.description, r.sort_order, r.created_at, \
         r.updated_at FROM roles r JOIN client_roles cr ON cr.role_id = r.id \
         WHERE cr.client_id = $1 ORDER BY r.sort_order, r.code",
    )
    .bind(client_id)
    .fetch_all(db.pool())
    .await?)
}

/// Gives a role to the client's service account; false if it already held it.
pub async fn assign_role(db: &Db, client_id: &str, role_id: &str, now: i64) -> StoreResult<bool> {
    let r = sqlx::query(
        "INSERT INTO client_roles (client_id, role_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(client_id)
    .bind(role_id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Takes a role from the client's service account; false if it did not hold it.
pub async fn unassign_role(db: &Db, client_id: &str, role_id: &str) -> StoreResult<bool> {
    let r = sqlx::query("DELETE FROM client_roles WHERE client_id = $1 AND role_id = $2")
        .bind(client_id)
        .bind(role_id)
        .execute(db.pool())
        .await?;
    Ok(r.rows_affected() > 0)
}
