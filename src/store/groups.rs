//! Groups (seed 000 group, seed 001 department, seed 002 org): a tree per tenant, members, and
//! the roles members inherit. Paths are computed by `directory::tree`.

use serde::Serialize;

use super::roles::Role;
use super::sql::{Where, like_escape};
use super::{Backend, Db, StoreError, StoreResult};
use crate::directory::tree::{self, Node, Paths, Placement, TreeItem};

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

/// Why a tree write did not happen (nothing was changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The group no longer exists.
    NoGroup,
    /// The requested parent does not exist.
    NoParent,
    /// The requested parent is not allowed (cycle, other tenant).
    Placement(Placement),
}

/// Result of a tree write: `Ok(Err(_))` = refused, nothing written.
pub type TreeResult<T> = StoreResult<Result<T, Refusal>>;

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Serialises the tree writes of one tenant (moves, inserts, deletes) for the rest of the
/// transaction, so that paths and cycle checks are read from a stable tree.
async fn lock_tree(tx: &mut Tx, backend: Backend, tenant_id: &str) -> StoreResult<()> {
    match backend {
        Backend::Postgres => {
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(74110, hashtext($1))) AS l")
                .bind(tenant_id)
                .execute(&mut **tx)
                .await?;
        }
        // A write as first statement takes SQLite's single writer lock (waiting busy_timeout)
        // before anything is read.
        Backend::Sqlite => {
            sqlx::query("UPDATE org_groups SET updated_at = updated_at WHERE 1 = 0")
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

async fn find_in(tx: &mut Tx, tenant_id: &str, id: &str) -> StoreResult<Option<Group>> {
    let sql = format!("SELECT {COLUMNS} FROM org_groups WHERE id = $1 AND tenant_id = $2");
    Ok(sqlx::query_as::<_, Group>(&sql)
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&mut **tx)
        .await?)
}

/// Paths of a group placed under `parent_id` (`""`: top level) for group `id` (`None`: a new
/// group), read inside the transaction.
async fn placement(
    tx: &mut Tx,
    tenant_id: &str,
    id: Option<&str>,
    parent_id: &str,
) -> StoreResult<Result<Paths, Refusal>> {
    if parent_id.is_empty() {
        return Ok(Ok(Paths::root()));
    }
    let sql = format!("SELECT {COLUMNS} FROM org_groups WHERE id = $1");
    let parent = sqlx::query_as::<_, Group>(&sql)
        .bind(parent_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(parent) = parent else {
        return Ok(Err(Refusal::NoParent));
    };
    let paths = parent.paths();
    let check = tree::check_placement(
        id.unwrap_or(""),
        tenant_id,
        &parent.id,
        &parent.tenant_id,
        &paths,
    );
    if let Err(p) = check {
        return Ok(Err(Refusal::Placement(p)));
    }
    Ok(Ok(tree::placed_under(Some((
        &paths,
        &parent.id,
        &parent.name,
        &parent.kind,
    )))))
}

/// Fields of a new group.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub tenant_id: String,
    /// `""`: top level.
    pub parent: String,
    pub name: String,
    pub code: String,
    pub kind: String,
    pub description: String,
    pub order: f64,
    /// A JSON object, serialised.
    pub attrs: String,
}

/// Inserts a group under its parent (checked in the transaction).
pub async fn insert(db: &Db, g: &NewGroup, now: i64) -> TreeResult<Group> {
    let id = uuid::Uuid::now_v7().to_string();
    let mut tx = db.pool().begin().await?;
    lock_tree(&mut tx, db.backend(), &g.tenant_id).await?;
    let paths = match placement(&mut tx, &g.tenant_id, None, &g.parent).await? {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    sqlx::query(
        "INSERT INTO org_groups (id, tenant_id, parent_id, name, code, group_type, description, \
         sort_order, attrs, id_path, name_path, type_path, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
    )
    .bind(&id)
    .bind(&g.tenant_id)
    .bind(&g.parent)
    .bind(&g.name)
    .bind(&g.code)
    .bind(&g.kind)
    .bind(&g.description)
    .bind(g.order)
    .bind(&g.attrs)
    .bind(&paths.id_path)
    .bind(&paths.name_path)
    .bind(&paths.type_path)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let group = find_in(&mut tx, &g.tenant_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("inserted group not found".into()))?;
    tx.commit().await?;
    Ok(Ok(group))
}

/// A partial update; `None` keeps the stored value. A new `parent` moves the group with its
/// subtree; a new parent, name or type recomputes the paths of the subtree.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub parent: Option<String>,
    pub name: Option<String>,
    pub code: Option<String>,
    pub kind: Option<String>,
    pub description: Option<String>,
    pub order: Option<f64>,
    /// The whole new attribute object, serialised (merging is the caller's job).
    pub attrs: Option<String>,
}

/// Applies `changes` to group `id` of `tenant_id` and recomputes the paths of its subtree, in
/// one transaction. Returns the updated group and how many descendants got new paths.
pub async fn update(
    db: &Db,
    tenant_id: &str,
    id: &str,
    changes: &Changes,
    now: i64,
) -> TreeResult<(Group, usize)> {
    let mut tx = db.pool().begin().await?;
    lock_tree(&mut tx, db.backend(), tenant_id).await?;
    let Some(old) = find_in(&mut tx, tenant_id, id).await? else {
        return Ok(Err(Refusal::NoGroup));
    };
    let parent = changes.parent.clone().unwrap_or_else(|| old.parent.clone());
    let paths = if parent == old.parent {
        old.paths()
    } else {
        match placement(&mut tx, tenant_id, Some(id), &parent).await? {
            Ok(p) => p,
            Err(r) => return Ok(Err(r)),
        }
    };
    let name = changes.name.clone().unwrap_or_else(|| old.name.clone());
    let kind = changes.kind.clone().unwrap_or_else(|| old.kind.clone());
    sqlx::query(
        "UPDATE org_groups SET parent_id = $2, name = $3, code = $4, group_type = $5, \
         description = $6, sort_order = $7, attrs = $8, id_path = $9, name_path = $10, \
         type_path = $11, updated_at = $12 WHERE id = $1",
    )
    .bind(id)
    .bind(&parent)
    .bind(&name)
    .bind(changes.code.as_deref().unwrap_or(&old.code))
    .bind(&kind)
    .bind(changes.description.as_deref().unwrap_or(&old.description))
    .bind(changes.order.unwrap_or(old.order))
    .bind(match &changes.attrs {
        Some(a) => a.clone(),
        None => old.attrs.0.to_string(),
    })
    .bind(&paths.id_path)
    .bind(&paths.name_path)
    .bind(&paths.type_path)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let mut moved = 0;
    if paths != old.paths() || name != old.name || kind != old.kind {
        let sql = format!(
            "SELECT {COLUMNS} FROM org_groups WHERE tenant_id = $1 AND id_path LIKE $2 ESCAPE '\\'"
        );
        let below = sqlx::query_as::<_, Group>(&sql)
            .bind(tenant_id)
            .bind(old.below_pattern())
            .fetch_all(&mut *tx)
            .await?;
        let nodes: Vec<Node> = below.iter().map(node).collect();
        let root = Node {
            id: id.to_owned(),
            parent_id: parent.clone(),
            name,
            kind,
        };
        let current: std::collections::HashMap<&str, Paths> =
            below.iter().map(|g| (g.id.as_str(), g.paths())).collect();
        for (gid, p) in tree::recompute(&root, &paths, &nodes) {
            if gid == id || current.get(gid.as_str()) == Some(&p) {
                continue;
            }
            sqlx::query(
                "UPDATE org_groups SET id_path = $2, name_path = $3, type_path = $4 WHERE id = $1",
            )
            .bind(&gid)
            .bind(&p.id_path)
            .bind(&p.name_path)
            .bind(&p.type_path)
            .execute(&mut *tx)
            .await?;
            moved += 1;
        }
    }
    let group = find_in(&mut tx, tenant_id, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("updated group not found".into()))?;
    tx.commit().await?;
    Ok(Ok((group, moved)))
}

fn node(g: &Group) -> Node {
    Node {
        id: g.id.clone(),
        parent_id: g.parent.clone(),
        name: g.name.clone(),
        kind: g.kind.clone(),
    }
}

/// What [`delete`] did or why it did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted: how many groups (the group and its descendants) and memberships went.
    Deleted { groups: u64, memberships: u64 },
    /// Not forced, and the group has this many direct children.
    HasChildren(i64),
    /// Not forced, and the group has this many members (users not deleted).
    HasMembers(i64),
    /// The group no longer exists.
    Gone,
}

/// Deletes a group. Unless `force`, refused while it has children or members; forced, the whole
/// subtree goes with its memberships and role assignments. One transaction.
pub async fn delete(db: &Db, tenant_id: &str, id: &str, force: bool) -> StoreResult<Deletion> {
    let mut tx = db.pool().begin().await?;
    lock_tree(&mut tx, db.backend(), tenant_id).await?;
    let Some(group) = find_in(&mut tx, tenant_id, id).await? else {
        return Ok(Deletion::Gone);
    };
    if !force {
        let (children,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM org_groups WHERE tenant_id = $1 AND parent_id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if children > 0 {
            return Ok(Deletion::HasChildren(children));
        }
        let (members,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM group_members gm JOIN users u ON u.id = gm.user_id \
             WHERE gm.group_id = $1 AND u.deleted_at IS NULL",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if members > 0 {
            return Ok(Deletion::HasMembers(members));
        }
    }
    let subtree = "SELECT id FROM org_groups WHERE tenant_id = $1 \
                   AND (id = $2 OR id_path LIKE $3 ESCAPE '\\')";
    let pattern = group.below_pattern();
    let mut counts = [0u64; 3];
    for (i, table) in ["group_members", "group_roles", "org_groups"]
        .iter()
        .enumerate()
    {
        let column = if *table == "org_groups" {
            "id"
        } else {
            "group_id"
        };
        // The subquery is materialised first on both backends, so deleting org_groups by it is safe.
        let sql = format!("DELETE FROM {table} WHERE {column} IN ({subtree})");
        counts[i] = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(id)
            .bind(&pattern)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    tx.commit().await?;
    Ok(Deletion::Deleted {
        groups: counts[2],
        memberships: counts[0],
    })
}

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
        super::permissions::USER_ROLE_IDS
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
