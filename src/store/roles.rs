//! Roles of a tenant, who holds them (users, groups, clients) and which items they grant.

use serde::Serialize;

use super::sql::{Where, like_escape};
use super::{Db, StoreError, StoreResult};

/// A role.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Role {
    pub id: String,
    pub tenant_id: String,
    /// Unique in the tenant, immutable.
    pub code: String,
    pub name: String,
    pub description: String,
    /// Ascending display order.
    #[sqlx(rename = "sort_order")]
    #[serde(rename = "order")]
    pub order: f64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, tenant_id, code, name, description, sort_order, created_at, updated_at";

/// Fields of a new role.
#[derive(Debug, Clone)]
pub struct NewRole {
    pub tenant_id: String,
    pub code: String,
    pub name: String,
    pub description: String,
    pub order: f64,
}

/// Inserts a role; a taken code is `Conflict`.
pub async fn insert(db: &Db, r: &NewRole, now: i64) -> StoreResult<Role> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO roles (id, tenant_id, code, name, description, sort_order, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(&id)
    .bind(&r.tenant_id)
    .bind(&r.code)
    .bind(&r.name)
    .bind(&r.description)
    .bind(r.order)
    .bind(now)
    .execute(db.pool())
    .await?;
    find(db, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("inserted role not found".into()))
}

/// A role by id.
pub async fn find(db: &Db, id: &str) -> StoreResult<Option<Role>> {
    let sql = format!("SELECT {COLUMNS} FROM roles WHERE id = $1");
    Ok(sqlx::query_as::<_, Role>(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?)
}

/// A role by tenant and code.
pub async fn find_by_code(db: &Db, tenant_id: &str, code: &str) -> StoreResult<Option<Role>> {
    let sql = format!("SELECT {COLUMNS} FROM roles WHERE tenant_id = $1 AND code = $2");
    Ok(sqlx::query_as::<_, Role>(&sql)
        .bind(tenant_id)
        .bind(code)
        .fetch_optional(db.pool())
        .await?)
}

/// Filters of a role list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `Some(list)`: only these tenants.
    pub tenants: Option<Vec<String>>,
    /// Substring of code or name.
    pub q: Option<String>,
}

/// One page of roles and the total.
pub async fn list(
    db: &Db,
    f: &Filter,
    sort: &str,
    dir: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<(i64, Vec<Role>)> {
    let mut w = Where::new();
    if let Some(t) = &f.tenants {
        w.any_of("tenant_id", t);
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        let m = w.mark(format!("%{}%", like_escape(&q.to_lowercase())));
        w.push(format!(
            "(LOWER(code) LIKE {m} ESCAPE '\\' OR LOWER(name) LIKE {m} ESCAPE '\\')"
        ));
    }
    let wher = w.sql();
    let (total,) = w
        .bind_as(sqlx::query_as::<_, (i64,)>(&format!(
            "SELECT COUNT(*) FROM roles {wher}"
        )))
        .fetch_one(db.pool())
        .await?;
    let n = w.len();
    let sql = format!(
        "SELECT {COLUMNS} FROM roles {wher} ORDER BY {sort} {dir}, id {dir} LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let rows = w
        .bind_as(sqlx::query_as::<_, Role>(&sql))
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
    Ok((total, rows))
}

/// Changes name, description and order (the code never changes).
pub async fn update(
    db: &Db,
    id: &str,
    name: &str,
    description: &str,
    order: f64,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE roles SET name = $2, description = $3, sort_order = $4, updated_at = $5 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(order)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// How many users (direct), groups and clients hold the role.
pub async fn holders(db: &Db, id: &str) -> StoreResult<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM user_roles WHERE role_id = $1) \
         + (SELECT COUNT(*) FROM group_roles WHERE role_id = $1) \
         + (SELECT COUNT(*) FROM client_roles WHERE role_id = $1)",
    )
    .bind(id)
    .fetch_one(db.pool())
    .await?;
    Ok(n)
}

/// Deletes a role with its assignments and grants, in one transaction.
pub async fn delete(db: &Db, id: &str) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    for sql in [
        "DELETE FROM user_roles WHERE role_id = $1",
        "DELETE FROM group_roles WHERE role_id = $1",
        "DELETE FROM client_roles WHERE role_id = $1",
        "DELETE FROM role_permissions WHERE role_id = $1",
        "DELETE FROM roles WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Gives the role to a user; false if the user already had it.
pub async fn assign_user(db: &Db, role_id: &str, user_id: &str, now: i64) -> StoreResult<bool> {
    let r = sqlx::query(
        "INSERT INTO user_roles (user_id, role_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(role_id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Takes the role from a user; false if the user did not have it.
pub async fn unassign_user(db: &Db, role_id: &str, user_id: &str) -> StoreResult<bool> {
    let r = sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2")
        .bind(user_id)
        .bind(role_id)
        .execute(db.pool())
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Ids of the users holding the role directly (seed 000: the user type is not considered).
pub async fn member_ids(db: &Db, role_id: &str) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT ur.user_id FROM user_roles ur JOIN users u ON u.id = ur.user_id \
         WHERE ur.role_id = $1 AND u.deleted_at IS NULL ORDER BY ur.created_at, ur.user_id",
    )
    .bind(role_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Roles a user holds: directly, or through groups when `inherited`.
pub async fn of_user(db: &Db, user_id: &str, inherited: bool) -> StoreResult<Vec<Role>> {
    let ids = if inherited {
        super::permissions::USER_ROLE_IDS
    } else {
        "SELECT role_id FROM user_roles WHERE user_id = $1"
    };
    let sql = format!("SELECT {COLUMNS} FROM roles WHERE id IN ({ids}) ORDER BY sort_order, code");
    Ok(sqlx::query_as::<_, Role>(&sql)
        .bind(user_id)
        .fetch_all(db.pool())
        .await?)
}

/// Grants a permission item; false if already granted.
pub async fn grant(db: &Db, role_id: &str, permission_id: &str, now: i64) -> StoreResult<bool> {
    let r = sqlx::query(
        "INSERT INTO role_permissions (role_id, permission_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(role_id)
    .bind(permission_id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Revokes a permission item; false if it was not granted.
pub async fn revoke(db: &Db, role_id: &str, permission_id: &str) -> StoreResult<bool> {
    let r = sqlx::query("DELETE FROM role_permissions WHERE role_id = $1 AND permission_id = $2")
        .bind(role_id)
        .bind(permission_id)
        .execute(db.pool())
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Ids of the items the role grants.
pub async fn permission_ids(db: &Db, role_id: &str) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT permission_id FROM role_permissions WHERE role_id = $1 ORDER BY permission_id",
    )
    .bind(role_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Whether a user holds the role, directly or through a group.
pub async fn user_holds(db: &Db, user_id: &str, role_id: &str) -> StoreResult<bool> {
    let sql = format!(
        "SELECT COUNT(*) FROM roles WHERE id = $2 AND id IN ({})",
        super::permissions::USER_ROLE_IDS
    );
    let (n,): (i64,) = sqlx::query_as(&sql)
        .bind(user_id)
        .bind(role_id)
        .fetch_one(db.pool())
        .await?;
    Ok(n > 0)
}
