//! Permission catalogues of applications and what roles grant from them.

use super::{Db, StoreError, StoreResult};

/// Whose grants to read.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A user: direct roles plus the roles of its groups and their ancestors.
    User(&'a str),
    /// A client's service account: its own roles.
    Client(&'a str),
}

/// One item granted to a subject through a role of `tenant_id`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantedItem {
    pub tenant_id: String,
    pub permission_id: String,
    pub code: String,
    pub kind: String,
    pub apis: String,
}

/// Roles (ids) a user holds directly or through groups (a member of a group inherits the roles
/// of the group and of all groups above it).
pub(crate) const USER_ROLE_IDS: &str = "SELECT ur.role_id FROM user_roles ur WHERE ur.user_id = $1 \
     UNION SELECT gr.role_id FROM group_members gm \
     JOIN org_groups g ON g.id = gm.group_id \
     JOIN group_roles gr ON (gr.group_id = g.id OR g.id_path LIKE '%/' || gr.group_id || '/%') \
     WHERE gm.user_id = $1";

const CLIENT_ROLE_IDS: &str = "SELECT cr.role_id FROM client_roles cr WHERE cr.client_id = $1";

/// Every item of `app` granted to the subject, with the tenant of the granting role.
pub async fn granted_items(
    db: &Db,
    subject: Subject<'_>,
    app: &str,
) -> StoreResult<Vec<GrantedItem>> {
    let (id, role_ids) = match subject {
        Subject::User(id) => (id, USER_ROLE_IDS),
        Subject::Client(id) => (id, CLIENT_ROLE_IDS),
    };
    let sql = format!(
        "SELECT DISTINCT r.tenant_id, p.id AS permission_id, p.code, p.kind, p.apis \
         FROM permissions p \
         JOIN role_permissions rp ON rp.permission_id = p.id \
         JOIN roles r ON r.id = rp.role_id \
         WHERE p.application_id = $2 AND r.id IN ({role_ids})"
    );
    Ok(sqlx::query_as::<_, GrantedItem>(&sql)
        .bind(id)
        .bind(app)
        .fetch_all(db.pool())
        .await?)
}

/// Tenants in which the user is an administrator by membership.
pub async fn admin_tenants(db: &Db, user_id: &str) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT tenant_id FROM tenant_members WHERE user_id = $1 AND is_admin = 1")
            .bind(user_id)
            .fetch_all(db.pool())
            .await?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
}

/// A catalogue item.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Permission {
    pub id: String,
    pub application_id: String,
    /// Unique in the application (`account.user`, `/role/user-edit`, …).
    pub code: String,
    pub name: String,
    /// Display titles by locale (`{"zh-CN": "…"}`).
    #[schema(value_type = Object)]
    #[sqlx(try_from = "String")]
    pub titles: super::audit::JsonText,
    /// `menu`, `action`, `api` or `data`.
    pub kind: String,
    /// Id of the parent item, `""` at the top.
    pub parent_id: String,
    /// API patterns the item allows.
    #[schema(value_type = Vec<crate::authz::ApiSpec>)]
    #[sqlx(try_from = "String")]
    pub apis: super::audit::JsonText,
    /// For `data` items: the data scope (free JSON the application interprets).
    #[schema(value_type = Option<Object>)]
    #[sqlx(try_from = "Option<String>")]
    pub data_scope: OptJsonText,
    #[sqlx(rename = "sort_order")]
    #[serde(rename = "order")]
    pub order: f64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Sub-items (tree reads only): absent = not loaded, `[]` = none.
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub children: Option<Vec<Permission>>,
}

/// A nullable JSON column decoded for output.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(transparent)]
pub struct OptJsonText(pub Option<serde_json::Value>);

impl TryFrom<Option<String>> for OptJsonText {
    type Error = serde_json::Error;
    fn try_from(s: Option<String>) -> Result<Self, Self::Error> {
        s.map(|s| serde_json::from_str(&s))
            .transpose()
            .map(OptJsonText)
    }
}

pub(crate) const COLUMNS: &str = "id, application_id, code, name, titles, kind, parent_id, apis, \
    data_scope, sort_order, created_at, updated_at";

/// An item by id.
pub async fn find(db: &Db, id: &str) -> StoreResult<Option<Permission>> {
    let sql = format!("SELECT {COLUMNS} FROM permissions WHERE id = $1");
    Ok(sqlx::query_as::<_, Permission>(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?)
}

/// The items a role grants.
pub async fn of_role(db: &Db, role_id: &str) -> StoreResult<Vec<Permission>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM permissions WHERE id IN \
         (SELECT permission_id FROM role_permissions WHERE role_id = $1) \
         ORDER BY application_id, sort_order, code"
    );
    Ok(sqlx::query_as::<_, Permission>(&sql)
        .bind(role_id)
        .fetch_all(db.pool())
        .await?)
}

/// What an administrator sets on a catalogue item.
#[derive(Debug, Clone)]
pub struct ItemFields {
    pub code: String,
    pub name: String,
    /// JSON object of titles by locale.
    pub titles: serde_json::Value,
    pub kind: String,
    pub parent_id: String,
    pub apis: Vec<crate::authz::ApiSpec>,
    pub data_scope: Option<serde_json::Value>,
    pub order: f64,
}

impl Permission {
    /// The settable fields, to merge a partial update into.
    pub fn fields(&self) -> StoreResult<ItemFields> {
        Ok(ItemFields {
            code: self.code.clone(),
            name: self.name.clone(),
            titles: self.titles.0.clone(),
            kind: self.kind.clone(),
            parent_id: self.parent_id.clone(),
            apis: serde_json::from_value(self.apis.0.clone())?,
            data_scope: self.data_scope.0.clone(),
            order: self.order,
        })
    }
}

/// The items of an application's catalogue: one page (by parent, then `sort` in `dir`) and the
/// total.
pub async fn list_catalogue(
    db: &Db,
    application_id: &str,
    sort: &str,
    dir: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<(i64, Vec<Permission>)> {
    let total = count_in(db, application_id).await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM permissions WHERE application_id = $1 \
         ORDER BY parent_id, {sort} {dir}, code, id LIMIT $2 OFFSET $3"
    );
    let rows = sqlx::query_as::<_, Permission>(&sql)
        .bind(application_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
    Ok((total, rows))
}

/// Every item of an application's catalogue (by parent, then order).
pub async fn catalogue(db: &Db, application_id: &str) -> StoreResult<Vec<Permission>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM permissions WHERE application_id = $1 \
         ORDER BY parent_id, sort_order, code"
    );
    Ok(sqlx::query_as::<_, Permission>(&sql)
        .bind(application_id)
        .fetch_all(db.pool())
        .await?)
}

/// Number of items in an application's catalogue.
pub async fn count_in(db: &Db, application_id: &str) -> StoreResult<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM permissions WHERE application_id = $1")
        .bind(application_id)
        .fetch_one(db.pool())
        .await?;
    Ok(n)
}

/// Whether another item (not `except`) of the application has this code.
pub async fn code_taken(
    db: &Db,
    application_id: &str,
    code: &str,
    except: &str,
) -> StoreResult<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM permissions WHERE application_id = $1 AND code = $2 AND id <> $3",
    )
    .bind(application_id)
    .bind(code)
    .bind(except)
    .fetch_one(db.pool())
    .await?;
    Ok(n > 0)
}

/// Adds an item to an application's catalogue; a taken code is `Conflict`.
pub async fn insert(
    db: &Db,
    application_id: &str,
    f: &ItemFields,
    now: i64,
) -> StoreResult<Permission> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO permissions (id, application_id, code, name, titles, kind, parent_id, apis, \
         data_scope, sort_order, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(&id)
    .bind(application_id)
    .bind(&f.code)
    .bind(&f.name)
    .bind(f.titles.to_string())
    .bind(&f.kind)
    .bind(&f.parent_id)
    .bind(serde_json::to_string(&f.apis)?)
    .bind(f.data_scope.as_ref().map(|v| v.to_string()))
    .bind(f.order)
    .bind(now)
    .execute(db.pool())
    .await?;
    find(db, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("inserted permission not found".into()))
}

/// Writes every settable field of an item; a taken code is `Conflict`.
pub async fn update(db: &Db, id: &str, f: &ItemFields, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE permissions SET code = $2, name = $3, titles = $4, kind = $5, parent_id = $6, \
         apis = $7, data_scope = $8, sort_order = $9, updated_at = $10 WHERE id = $1",
    )
    .bind(id)
    .bind(&f.code)
    .bind(&f.name)
    .bind(f.titles.to_string())
    .bind(&f.kind)
    .bind(&f.parent_id)
    .bind(serde_json::to_string(&f.apis)?)
    .bind(f.data_scope.as_ref().map(|v| v.to_string()))
    .bind(f.order)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// `(children, roles granting it)` of an item.
pub async fn usage(db: &Db, id: &str) -> StoreResult<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM permissions WHERE parent_id = $1), \
         (SELECT COUNT(*) FROM role_permissions WHERE permission_id = $1)",
    )
    .bind(id)
    .fetch_one(db.pool())
    .await?)
}

/// Deletes an item and the grants of it, in one transaction.
pub async fn delete(db: &Db, id: &str) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    for sql in [
        "DELETE FROM role_permissions WHERE permission_id = $1",
        "DELETE FROM permissions WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
