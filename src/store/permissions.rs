//! Permission catalogues of applications and what roles grant from them.

use super::{Db, StoreResult};

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
