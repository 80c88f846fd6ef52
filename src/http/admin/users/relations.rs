//! What a user holds: its roles (direct and through groups), its groups, and its effective
//! permissions in an application.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::visible_user;
use crate::authz::{self, ADMIN_APP, SubjectInfo};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::{Ctx, Query};
use crate::state::AppState;
use crate::store::clients;
use crate::store::groups::{self, Group};
use crate::store::permissions::{self, Subject};
use crate::store::roles::{self, Role};

/// A role a user holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeldRole {
    #[serde(flatten)]
    role: Role,
    /// Held only through a group (not assigned directly).
    inherited: bool,
}

/// The roles of a user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserRoles {
    /// Seed 000 `list-user-roles`: the user type first, then the codes of every role held.
    codes: Vec<String>,
    roles: Vec<HeldRole>,
}

/// Roles a user holds, directly or through its groups.
#[utoipa::path(get, path = "/api/v1/users/{id}/roles", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserRoles), (status = 404, body = Problem)))]
pub(super) async fn user_roles(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<UserRoles>> {
    let user = visible_user(&app, &ctx, &id).await?;
    let db = &app.provider.db;
    let direct: BTreeSet<String> = roles::of_user(db, &id, false)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let all = roles::of_user(db, &id, true).await?;
    let mut codes = vec![user.user_type.clone()];
    for r in &all {
        if !codes.contains(&r.code) {
            codes.push(r.code.clone());
        }
    }
    let roles = all
        .into_iter()
        .map(|role| HeldRole {
            inherited: !direct.contains(&role.id),
            role,
        })
        .collect();
    Ok(axum::Json(UserRoles { codes, roles }))
}

/// Groups a user is a direct member of.
#[utoipa::path(get, path = "/api/v1/users/{id}/groups", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = Vec<Group>), (status = 404, body = Problem)))]
pub(super) async fn user_groups(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<Group>>> {
    visible_user(&app, &ctx, &id).await?;
    Ok(axum::Json(groups::of_user(&app.provider.db, &id).await?))
}

/// Query of `GET /api/v1/users/{id}/permissions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PermissionQuery {
    /// The application whose catalogue to read (default `gatehouse-admin`).
    application_id: Option<String>,
}

/// One item a user holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EffectiveItem {
    /// Tenant of the role that grants it: the item holds there only.
    tenant_id: String,
    /// Permission item id.
    id: String,
    code: String,
    kind: String,
    /// API patterns of the item.
    #[schema(value_type = Vec<crate::authz::ApiSpec>)]
    apis: Value,
}

/// A user's effective permissions in one application.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EffectivePermissions {
    application_id: String,
    /// ADMIN of the default tenant: everything, everywhere.
    super_admin: bool,
    /// Tenants the user administers (everything there).
    admin_tenants: Vec<String>,
    /// Items granted by the user's direct and group-inherited roles.
    items: Vec<EffectiveItem>,
}

/// A user's effective permissions: the union of the items granted by its direct and inherited
/// roles, plus its administrator flags.
#[utoipa::path(get, path = "/api/v1/users/{id}/permissions", tag = "users",
    params(("id" = String, Path, description = "User id"), PermissionQuery),
    responses((status = 200, body = EffectivePermissions), (status = 404, body = Problem)))]
pub(super) async fn user_permissions(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<PermissionQuery>,
) -> ApiResult<axum::Json<EffectivePermissions>> {
    let user = visible_user(&app, &ctx, &id).await?;
    let db = &app.provider.db;
    let application_id = q.application_id.unwrap_or_else(|| ADMIN_APP.to_owned());
    if application_id.len() > 256 || clients::find(db, &application_id).await?.is_none() {
        return Err(ApiError::NotFound("application"));
    }
    let info = SubjectInfo {
        subject: Subject::User(&user.id),
        tenant_id: &user.tenant_id,
        user_type: Some(&user.user_type),
    };
    let authority = authz::authority(db, &info, &application_id).await?;
    let mut admin_tenants: Vec<String> = authority.admin_tenants.into_iter().collect();
    admin_tenants.sort();
    let items = permissions::granted_items(db, Subject::User(&user.id), &application_id)
        .await?
        .into_iter()
        .map(|g| EffectiveItem {
            tenant_id: g.tenant_id,
            id: g.permission_id,
            code: g.code,
            kind: g.kind,
            apis: serde_json::from_str(&g.apis).unwrap_or(Value::Array(Vec::new())),
        })
        .collect();
    Ok(axum::Json(EffectivePermissions {
        application_id,
        super_admin: authority.super_admin,
        admin_tenants,
        items,
    }))
}
