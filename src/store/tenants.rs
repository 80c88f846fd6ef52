//! Tenants (seed 001 companies, seed 002 tenants): a tree via `parent_id`, and the memberships
//! of users in tenants other than (or as well as) their main one.

use serde::Serialize;

use super::sql::{Where, like_escape};
use super::{Db, StoreError, StoreResult, flag};

/// Id of the tenant created by the first migration.
pub const DEFAULT_TENANT: &str = "default";

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

/// The id of the tenant whose code is `code`: the exact code, else the one tenant whose code
/// matches ignoring case (people type codes by hand; two codes differing only by case stay
/// distinct and must then be typed exactly).
pub async fn id_by_code(db: &Db, code: &str) -> StoreResult<Option<String>> {
    let exact = sqlx::query_as::<_, (String,)>("SELECT id FROM tenants WHERE code = $1")
        .bind(code)
        .fetch_optional(db.pool())
        .await?;
    if let Some((id,)) = exact {
        return Ok(Some(id));
    }
    let mut loose =
        sqlx::query_as::<_, (String,)>("SELECT id FROM tenants WHERE LOWER(code) = LOWER($1)")
            .bind(code)
            .fetch_all(db.pool())
            .await?;
    Ok(if loose.len() == 1 {
        loose.pop().map(|(id,)| id)
    } else {
        None
    })
}

/// A tenant by id (minimal view: id and code); [`get`] reads the full row.
pub async fn find(db: &Db, id: &str) -> StoreResult<Option<(String, String)>> {
    Ok(
        sqlx::query_as::<_, (String, String)>("SELECT id, code FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// A tenant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: String,
    /// Id of the parent tenant; `null` at the top level.
    pub parent_id: Option<String>,
    /// Unique, 1–32 letters and digits.
    pub code: String,
    /// Unique full name (at most 32 characters).
    pub name: String,
    /// Short display name.
    pub title: String,
    pub description: String,
    /// Logo URL.
    pub logo: String,
    pub industry: String,
    /// Free account type.
    #[serde(rename = "type")]
    pub tenant_type: String,
    /// Username of the account holder.
    pub owner: String,
    /// Free JSON object.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Ids of the applications enabled for the tenant.
    pub applications: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Sub-tenants: absent = not loaded, `[]` = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub children: Option<Vec<Tenant>>,
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: String,
    parent_id: Option<String>,
    code: String,
    name: String,
    title: String,
    description: String,
    logo: String,
    industry: String,
    tenant_type: String,
    owner: String,
    metadata: String,
    applications: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(r: TenantRow) -> Result<Self, StoreError> {
        Ok(Tenant {
            id: r.id,
            parent_id: r.parent_id.filter(|p| !p.is_empty()),
            code: r.code,
            name: r.name,
            title: r.title,
            description: r.description,
            logo: r.logo,
            industry: r.industry,
            tenant_type: r.tenant_type,
            owner: r.owner,
            metadata: serde_json::from_str(&r.metadata)?,
            applications: serde_json::from_str(&r.applications)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
            children: None,
        })
    }
}

const COLUMNS: &str = "id, parent_id, code, name, title, description, logo, industry, \
    tenant_type, owner, metadata, applications, created_at, updated_at";

/// The fields of a tenant an administrator sets.
#[derive(Debug, Clone)]
pub struct TenantFields {
    pub parent_id: Option<String>,
    pub code: String,
    pub name: String,
    pub title: String,
    pub description: String,
    pub logo: String,
    pub industry: String,
    pub tenant_type: String,
    pub owner: String,
    pub metadata: serde_json::Value,
    pub applications: Vec<String>,
}

impl Tenant {
    /// The settable fields, to merge a partial update into.
    pub fn fields(&self) -> TenantFields {
        TenantFields {
            parent_id: self.parent_id.clone(),
            code: self.code.clone(),
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            logo: self.logo.clone(),
            industry: self.industry.clone(),
            tenant_type: self.tenant_type.clone(),
            owner: self.owner.clone(),
            metadata: self.metadata.clone(),
            applications: self.applications.clone(),
        }
    }
}

/// A tenant by id, with all its fields.
pub async fn get(db: &Db, id: &str) -> StoreResult<Option<Tenant>> {
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE id = $1");
    sqlx::query_as::<_, TenantRow>(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .map(Tenant::try_from)
        .transpose()
}

/// Whether another tenant (not `except`) already has this code or name: `(code, name)`.
pub async fn taken(db: &Db, code: &str, name: &str, except: &str) -> StoreResult<(bool, bool)> {
    let (c, n): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM tenants WHERE code = $1 AND id <> $3), \
         (SELECT COUNT(*) FROM tenants WHERE name = $2 AND id <> $3)",
    )
    .bind(code)
    .bind(name)
    .bind(except)
    .fetch_one(db.pool())
    .await?;
    Ok((c > 0, n > 0))
}

/// Inserts a tenant; a taken code or name is `Conflict`.
pub async fn insert(db: &Db, f: &TenantFields, now: i64) -> StoreResult<Tenant> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO tenants (id, parent_id, code, name, title, description, logo, industry, \
         tenant_type, owner, metadata, applications, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
    )
    .bind(&id)
    .bind(&f.parent_id)
    .bind(&f.code)
    .bind(&f.name)
    .bind(&f.title)
    .bind(&f.description)
    .bind(&f.logo)
    .bind(&f.industry)
    .bind(&f.tenant_type)
    .bind(&f.owner)
    .bind(f.metadata.to_string())
    .bind(serde_json::to_string(&f.applications)?)
    .bind(now)
    .execute(db.pool())
    .await?;
    get(db, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("inserted tenant not found".into()))
}

/// Writes every settable field; a taken code or name is `Conflict`.
pub async fn update(db: &Db, id: &str, f: &TenantFields, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE tenants SET parent_id = $2, code = $3, name = $4, title = $5, description = $6, \
         logo = $7, industry = $8, tenant_type = $9, owner = $10, metadata = $11, \
         applications = $12, updated_at = $13 WHERE id = $1",
    )
    .bind(id)
    .bind(&f.parent_id)
    .bind(&f.code)
    .bind(&f.name)
    .bind(&f.title)
    .bind(&f.description)
    .bind(&f.logo)
    .bind(&f.industry)
    .bind(&f.tenant_type)
    .bind(&f.owner)
    .bind(f.metadata.to_string())
    .bind(serde_json::to_string(&f.applications)?)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Filters of a tenant list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `Some(list)`: only these tenants.
    pub tenants: Option<Vec<String>>,
    /// `Some("")`: top-level tenants; `Some(id)`: the children of `id`.
    pub parent_id: Option<String>,
    /// Substring of code, name or title.
    pub q: Option<String>,
}

/// One page of tenants and the total.
pub async fn list(
    db: &Db,
    f: &Filter,
    sort: &str,
    dir: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<(i64, Vec<Tenant>)> {
    let mut w = Where::new();
    if let Some(t) = &f.tenants {
        w.any_of("id", t);
    }
    match f.parent_id.as_deref() {
        None => {}
        Some("") => w.push("parent_id IS NULL".into()),
        Some(p) => w.eq("parent_id", p),
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        let m = w.mark(format!("%{}%", like_escape(&q.to_lowercase())));
        w.push(format!(
            "(LOWER(code) LIKE {m} ESCAPE '\\' OR LOWER(name) LIKE {m} ESCAPE '\\' \
             OR LOWER(title) LIKE {m} ESCAPE '\\')"
        ));
    }
    let wher = w.sql();
    let (total,) = w
        .bind_as(sqlx::query_as::<_, (i64,)>(&format!(
            "SELECT COUNT(*) FROM tenants {wher}"
        )))
        .fetch_one(db.pool())
        .await?;
    let n = w.len();
    let sql = format!(
        "SELECT {COLUMNS} FROM tenants {wher} ORDER BY {sort} {dir}, id {dir} LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let rows = w
        .bind_as(sqlx::query_as::<_, TenantRow>(&sql))
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
    let items = rows
        .into_iter()
        .map(Tenant::try_from)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((total, items))
}

/// The direct children of a tenant, by name.
pub async fn children(db: &Db, parent_id: &str) -> StoreResult<Vec<Tenant>> {
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE parent_id = $1 ORDER BY name, id");
    sqlx::query_as::<_, TenantRow>(&sql)
        .bind(parent_id)
        .fetch_all(db.pool())
        .await?
        .into_iter()
        .map(Tenant::try_from)
        .collect()
}

/// The parent id of a tenant (`Some(None)` at the top level, `None` if there is no such tenant).
pub async fn parent_of(db: &Db, id: &str) -> StoreResult<Option<Option<String>>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT parent_id FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(p,)| p.filter(|p| !p.is_empty())))
}

/// What a tenant still holds (a tenant is deleted only when all are zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contents {
    /// Users whose main tenant it is (soft-deleted ones included: their rows still point at it).
    pub users: i64,
    pub groups: i64,
    pub roles: i64,
    pub applications: i64,
    pub children: i64,
}

impl Contents {
    /// Whether the tenant holds nothing.
    pub fn is_empty(&self) -> bool {
        *self == Contents::default()
    }
}

/// Counts what the tenant holds.
pub async fn contents(db: &Db, id: &str) -> StoreResult<Contents> {
    let (users, groups, roles, applications, children): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM users WHERE tenant_id = $1), \
             (SELECT COUNT(*) FROM org_groups WHERE tenant_id = $1), \
             (SELECT COUNT(*) FROM roles WHERE tenant_id = $1), \
             (SELECT COUNT(*) FROM clients WHERE tenant_id = $1), \
             (SELECT COUNT(*) FROM tenants WHERE parent_id = $1)",
    )
    .bind(id)
    .fetch_one(db.pool())
    .await?;
    Ok(Contents {
        users,
        groups,
        roles,
        applications,
        children,
    })
}

/// Deletes an (empty) tenant and the memberships of other tenants' users in it.
pub async fn delete(db: &Db, id: &str) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    for sql in [
        "DELETE FROM tenant_members WHERE tenant_id = $1",
        "DELETE FROM tenants WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Removes an application id from every tenant's list of enabled applications.
pub async fn forget_application(db: &Db, application_id: &str, now: i64) -> StoreResult<()> {
    let needle = format!("%{}%", like_escape(&format!("\"{application_id}\"")));
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, applications FROM tenants WHERE applications LIKE $1 ESCAPE '\\'",
    )
    .bind(&needle)
    .fetch_all(db.pool())
    .await?;
    for (id, json) in rows {
        let mut list: Vec<String> = serde_json::from_str(&json)?;
        list.retain(|a| a != application_id);
        sqlx::query("UPDATE tenants SET applications = $2, updated_at = $3 WHERE id = $1")
            .bind(&id)
            .bind(serde_json::to_string(&list)?)
            .bind(now)
            .execute(db.pool())
            .await?;
    }
    Ok(())
}

/// A user's place in a tenant.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Member {
    pub user_id: String,
    pub username: String,
    /// The user's main tenant (not a membership: it cannot be removed).
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub main: i64,
    /// Administrator of the tenant.
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub is_admin: i64,
}

fn as_bool<S: serde::Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(*v != 0)
}

/// The membership row of a user in a tenant: `Some(is_admin)`, or `None` without a row.
pub async fn membership(db: &Db, tenant_id: &str, user_id: &str) -> StoreResult<Option<bool>> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT is_admin FROM tenant_members WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(a,)| a != 0))
}

/// Adds a membership or changes its admin flag.
pub async fn set_member(
    db: &Db,
    tenant_id: &str,
    user_id: &str,
    is_admin: bool,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tenant_members (tenant_id, user_id, is_admin, created_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET is_admin = excluded.is_admin",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(flag(is_admin))
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Ends a membership, with the user's roles and group memberships in that tenant (they would
/// otherwise keep granting rights there). False if there was no membership.
pub async fn remove_member(db: &Db, tenant_id: &str, user_id: &str) -> StoreResult<bool> {
    let mut tx = db.pool().begin().await?;
    let r = sqlx::query("DELETE FROM tenant_members WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    for sql in [
        "DELETE FROM user_roles WHERE user_id = $2 AND role_id IN \
         (SELECT id FROM roles WHERE tenant_id = $1)",
        "DELETE FROM group_members WHERE user_id = $2 AND group_id IN \
         (SELECT id FROM org_groups WHERE tenant_id = $1)",
    ] {
        sqlx::query(sql)
            .bind(tenant_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// One page of the users of a tenant (main tenant or membership) and the total.
pub async fn members(
    db: &Db,
    tenant_id: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<(i64, Vec<Member>)> {
    const FROM: &str = "FROM users u LEFT JOIN tenant_members m \
        ON m.user_id = u.id AND m.tenant_id = $1 \
        WHERE u.deleted_at IS NULL AND (u.tenant_id = $1 OR m.user_id IS NOT NULL)";
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) {FROM}"))
        .bind(tenant_id)
        .fetch_one(db.pool())
        .await?;
    let sql = format!(
        "SELECT u.id AS user_id, u.username, \
         CASE WHEN u.tenant_id = $1 THEN 1 ELSE 0 END AS main, \
         COALESCE(m.is_admin, 0) AS is_admin {FROM} \
         ORDER BY u.created_at, u.id LIMIT $2 OFFSET $3"
    );
    let rows = sqlx::query_as::<_, Member>(&sql)
        .bind(tenant_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
    Ok((total, rows))
}
