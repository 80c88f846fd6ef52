//! Tree writes: insert, update (move, rename) and delete. Each runs in one transaction under the
//! tenant's tree lock, checks the placement there and recomputes the paths of a moved subtree.

use super::{COLUMNS, Group};
use crate::directory::tree::{self, Node, Paths, Placement};
use crate::store::{Backend, Db, StoreError, StoreResult, Tx};

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
