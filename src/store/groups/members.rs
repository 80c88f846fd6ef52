//! Members of a group, and the roles given to a group that its members (and the members of its
//! sub-groups) inherit.

use super::Group;
use crate::store::roles::Role;
use crate::store::{Db, StoreResult};

/// Ids of the direct members of a group (users not deleted), oldest membership first.
pub async fn member_ids(
    db: &Db,
    group_id: &str,
    offset: i64,
    limit: Option<i64>,
) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT gm.user_id FROM group_members gm JOIN users u ON u.id = gm.user_id \
         WHERE gm.group_id = $1 AND u.deleted_at IS NULL \
         ORDER BY gm.created_at, gm.user_id LIMIT $2 OFFSET $3",
    )
    .bind(group_id)
    .bind(limit.unwrap_or(i64::MAX))
    .bind(offset)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Adds a user to a group (if the group still exists); false if nothing was added.
pub async fn add_member(db: &Db, group_id: &str, user_id: &str, now: i64) -> StoreResult<bool> {
    let r = sqlx::query(
        "INSERT INTO group_members (group_id, user_id, created_at) \
         SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM org_groups WHERE id = $1) \
         ON CONFLICT DO NOTHING",
    )
    .bind(group_id)
    .bind(user_id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Removes a user from a group; false if the user was not a member.
pub async fn remove_member(db: &Db, group_id: &str, user_id: &str) -> StoreResult<bool> {
    let r = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Whether the user is a direct member of the group or of one of its descendants (and so
/// inherits the roles given to the group).
pub async fn user_in_subtree(db: &Db, user_id: &str, group: &Group) -> StoreResult<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM group_members gm JOIN org_groups g ON g.id = gm.group_id \
         WHERE gm.user_id = $1 AND g.tenant_id = $2 \
         AND (g.id = $3 OR g.id_path LIKE $4 ESCAPE '\\')",
    )
    .bind(user_id)
    .bind(&group.tenant_id)
    .bind(&group.id)
    .bind(group.below_pattern())
    .fetch_one(db.pool())
    .await?;
    Ok(n > 0)
}

/// How many roles held by the groups `group_ids` the user does not hold yet (directly or
/// through groups): what the user would gain by becoming a member below them.
pub async fn roles_new_to_user(db: &Db, user_id: &str, group_ids: &[&str]) -> StoreResult<i64> {
    if group_ids.is_empty() {
        return Ok(0);
    }
    let marks: Vec<String> = (0..group_ids.len())
        .map(|i| format!("${}", i + 2))
        .collect();
    let sql = format!(
        "SELECT COUNT(DISTINCT role_id) FROM group_roles WHERE group_id IN ({}) \
         AND role_id NOT IN ({})",
        marks.join(", "),
        crate::store::permissions::USER_ROLE_IDS
    );
    let mut q = sqlx::query_as::<_, (i64,)>(&sql).bind(user_id);
    for g in group_ids {
        q = q.bind(*g);
    }
    let (n,) = q.fetch_one(db.pool()).await?;
    Ok(n)
}

const ROLE_COLUMNS: &str = "r.id, r.tenant_id, r.code, r.name, r.description, r.sort_order, \
    r.created_at, r.updated_at";

/// Roles given to the group itself (not those of its ancestors), in role order.
pub async fn roles(db: &Db, group_id: &str) -> StoreResult<Vec<Role>> {
    let sql = format!(
        "SELECT {ROLE_COLUMNS} FROM roles r JOIN group_roles gr ON gr.role_id = r.id \
         WHERE gr.group_id = $1 ORDER BY r.sort_order, r.code"
    );
    Ok(sqlx::query_as::<_, Role>(&sql)
        .bind(group_id)
        .fetch_all(db.pool())
        .await?)
}

/// Gives a role to a group (if the group still exists); false if nothing was added.
pub async fn add_role(db: &Db, group_id: &str, role_id: &str, now: i64) -> StoreResult<bool> {
    let r = sqlx::query(
        "INSERT INTO group_roles (group_id, role_id, created_at) \
         SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM org_groups WHERE id = $1) \
         ON CONFLICT DO NOTHING",
    )
    .bind(group_id)
    .bind(role_id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Takes a role from a group; false if the group did not have it.
pub async fn remove_role(db: &Db, group_id: &str, role_id: &str) -> StoreResult<bool> {
    let r = sqlx::query("DELETE FROM group_roles WHERE group_id = $1 AND role_id = $2")
        .bind(group_id)
        .bind(role_id)
        .execute(db.pool())
        .await?;
    Ok(r.rows_affected() > 0)
}
