//! Groups (seed 000 group, seed 001 department, seed 002 org): a tree per tenant, members, and
//! the roles members inherit. Paths are computed by `directory::tree`.
//!
//! This module holds the group record and the tree reads; [`writes`] the transactional tree
//! writes; [`members`] memberships and group roles.

mod members;
mod writes;

pub use members::{
    add_member, add_role, member_ids, remove_member, remove_role, roles, roles_new_to_user,
    user_in_subtree,
};
pub use writes::{Changes, Deletion, NewGroup, Refusal, TreeResult, delete, insert, update};

use serde::Serialize;

use super::sql::{Where, like_escape};
use super::{Db, StoreResult};
use crate::directory::tree::{Paths, TreeItem};

/// A group. `children` is filled only by tree reads (`None` = not loaded, `[]` = none).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Group {
    pub id: String,
    pub tenant_id: String,
    /// Id of the parent group; `""` at the top level.
    #[sqlx(rename = "parent_id")]
    #[serde(rename = "parent")]
    pub parent: String,
    /// No `/` allowed.
    pub name: String,
    pub code: String,
    /// Free type name (default `dept`); no `/` allowed.
    #[sqlx(rename = "group_type")]
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    /// Ascending order among siblings (may be fractional or negative).
    #[sqlx(rename = "sort_order")]
    #[serde(rename = "order")]
    pub order: f64,
    /// Extension attributes (JSON object).
    #[schema(value_type = Object)]
    #[sqlx(try_from = "String")]
    pub attrs: super::audit::JsonText,
    /// Ancestor ids: `/` at the top, `/a/b/` below b.
    pub id_path: String,
    pub name_path: String,
    pub type_path: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Sub-groups: `null` = not loaded, `[]` = none.
    #[sqlx(skip)]
    #[schema(no_recursion)]
    pub children: Option<Vec<Group>>,
}

pub(crate) const COLUMNS: &str = "id, tenant_id, parent_id, name, code, group_type, description, \
    sort_order, attrs, id_path, name_path, type_path, created_at, updated_at";

/// A group by id.
pub async fn find(db: &Db, id: &str) -> StoreResult<Option<Group>> {
    let sql = format!("SELECT {COLUMNS} FROM org_groups WHERE id = $1");
    Ok(sqlx::query_as::<_, Group>(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?)
}

/// The groups a user is a direct member of, in tree order.
pub async fn of_user(db: &Db, user_id: &str) -> StoreResult<Vec<Group>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM org_groups WHERE id IN \
         (SELECT group_id FROM group_members WHERE user_id = $1) \
         ORDER BY id_path, sort_order, name"
    );
    Ok(sqlx::query_as::<_, Group>(&sql)
        .bind(user_id)
        .fetch_all(db.pool())
        .await?)
}

impl Group {
    /// The stored ancestor paths.
    pub fn paths(&self) -> Paths {
        Paths {
            id_path: self.id_path.clone(),
            name_path: self.name_path.clone(),
            type_path: self.type_path.clone(),
        }
    }

    /// `LIKE` pattern matching the `id_path` of every group below this one.
    fn below_pattern(&self) -> String {
        format!("{}%", like_escape(&self.paths().subtree_prefix(&self.id)))
    }
}

impl TreeItem for Group {
    fn item_id(&self) -> &str {
        &self.id
    }
    fn item_parent(&self) -> &str {
        &self.parent
    }
    fn set_children(&mut self, children: Vec<Self>) {
        self.children = Some(children);
    }
}

/// Sibling order of every tree read: `order` ascending, then name, then id.
const SIBLING_ORDER: &str = "sort_order, name, id";

/// Filters of a group list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `Some(list)`: only these tenants.
    pub tenants: Option<Vec<String>>,
    /// Exact parent id (`""`: top level).
    pub parent: Option<String>,
    /// Substring of the name (case-insensitive).
    pub q: Option<String>,
    /// Exact type.
    pub kind: Option<String>,
}

/// One page of groups (children not loaded) and the total.
pub async fn list(
    db: &Db,
    f: &Filter,
    sort: &str,
    dir: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<(i64, Vec<Group>)> {
    let mut w = Where::new();
    if let Some(t) = &f.tenants {
        w.any_of("tenant_id", t);
    }
    if let Some(p) = &f.parent {
        w.eq("parent_id", p.as_str());
    }
    if let Some(k) = &f.kind {
        w.eq("group_type", k.as_str());
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        let m = w.mark(format!("%{}%", like_escape(&q.to_lowercase())));
        w.push(format!("LOWER(name) LIKE {m} ESCAPE '\\'"));
    }
    let wher = w.sql();
    let (total,) = w
        .bind_as(sqlx::query_as::<_, (i64,)>(&format!(
            "SELECT COUNT(*) FROM org_groups {wher}"
        )))
        .fetch_one(db.pool())
        .await?;
    let n = w.len();
    let sql = format!(
        "SELECT {COLUMNS} FROM org_groups {wher} ORDER BY {sort} {dir}, id {dir} \
         LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let rows = w
        .bind_as(sqlx::query_as::<_, Group>(&sql))
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
    Ok((total, rows))
}

/// The direct children of `parent_id` (`""`: the top level) in a tenant, in sibling order.
pub async fn children(db: &Db, tenant_id: &str, parent_id: &str) -> StoreResult<Vec<Group>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM org_groups WHERE tenant_id = $1 AND parent_id = $2 \
         ORDER BY {SIBLING_ORDER}"
    );
    Ok(sqlx::query_as::<_, Group>(&sql)
        .bind(tenant_id)
        .bind(parent_id)
        .fetch_all(db.pool())
        .await?)
}

/// Every group below `group` (not itself), in sibling order (for [`tree::nest`]).
pub async fn descendants(db: &Db, group: &Group) -> StoreResult<Vec<Group>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM org_groups WHERE tenant_id = $1 AND id_path LIKE $2 ESCAPE '\\' \
         ORDER BY {SIBLING_ORDER}"
    );
    Ok(sqlx::query_as::<_, Group>(&sql)
        .bind(&group.tenant_id)
        .bind(group.below_pattern())
        .fetch_all(db.pool())
        .await?)
}

/// Every group of a tenant, in sibling order (for [`tree::nest`]).
pub async fn of_tenant(db: &Db, tenant_id: &str) -> StoreResult<Vec<Group>> {
    let sql =
        format!("SELECT {COLUMNS} FROM org_groups WHERE tenant_id = $1 ORDER BY {SIBLING_ORDER}");
    Ok(sqlx::query_as::<_, Group>(&sql)
        .bind(tenant_id)
        .fetch_all(db.pool())
        .await?)
}
