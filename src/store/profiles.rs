//! Read-only queries behind seed 002's user profile (`/api/auth/getUser`, `getUserDataPerm`):
//! tenant memberships, the roles groups confer, and catalogue items by id.

use super::permissions::{COLUMNS as PERMISSION_COLUMNS, Permission};
use super::{Db, StoreResult};

/// Ids per `IN (…)` list: well under the bind limits of both backends.
const CHUNK: usize = 500;

/// A user's membership of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Membership {
    pub tenant_id: String,
    pub is_admin: i64,
}

/// The tenants a user belongs to (main tenant included), by id.
pub async fn memberships(db: &Db, user_id: &str) -> StoreResult<Vec<Membership>> {
    Ok(sqlx::query_as::<_, Membership>(
        "SELECT tenant_id, is_admin FROM tenant_members WHERE user_id = $1 ORDER BY tenant_id",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?)
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(group_id, role_id)` of the roles held by these groups, oldest grant first.
pub async fn group_roles(db: &Db, group_ids: &[&str]) -> StoreResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in group_ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT group_id, role_id FROM group_roles WHERE group_id IN ({}) \
             ORDER BY group_id, created_at, role_id",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (String, String)>(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(q.fetch_all(db.pool()).await?);
    }
    Ok(out)
}

/// The items of `application_id` with these ids, in catalogue order (order, then code).
pub async fn items(db: &Db, application_id: &str, ids: &[&str]) -> StoreResult<Vec<Permission>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT {PERMISSION_COLUMNS} FROM permissions \
             WHERE application_id = $1 AND id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut q = sqlx::query_as::<_, Permission>(&sql).bind(application_id);
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(q.fetch_all(db.pool()).await?);
    }
    out.sort_by(|a, b| {
        a.order
            .total_cmp(&b.order)
            .then_with(|| a.code.cmp(&b.code))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(super::placeholders(2, 3), "$2, $3, $4");
        assert_eq!(super::placeholders(1, 1), "$1");
    }
}
