//! Roles given to a group, which its members and the members of its sub-groups inherit.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::json;

use super::visible_group;
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::Ctx;
use crate::state::AppState;
use crate::store::groups;
use crate::store::roles::{self, Role};

/// Roles given to the group (its members and the members of its sub-groups inherit them).
#[utoipa::path(get, path = "/api/v1/groups/{id}/roles", tag = "groups",
    params(("id" = String, Path, description = "Group id")),
    responses((status = 200, body = Vec<Role>), (status = 404, body = Problem)))]
pub(super) async fn list_roles(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<Role>>> {
    visible_group(&app, &ctx, &id, "group").await?;
    Ok(axum::Json(groups::roles(&app.provider.db, &id).await?))
}

/// Give a role of the group's tenant to the group. Refused (403) to a caller who is a member of
/// the group or of a sub-group, unless they administer the tenant.
#[utoipa::path(put, path = "/api/v1/groups/{id}/roles/{role_id}", tag = "groups",
    params(("id" = String, Path, description = "Group id"), ("role_id" = String, Path, description = "Role id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(super) async fn add_role(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, role_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let group = visible_group(&app, &ctx, &id, "group").await?;
    let db = &app.provider.db;
    let role = roles::find(db, &role_id)
        .await?
        .filter(|r| r.tenant_id == group.tenant_id)
        .ok_or(ApiError::NotFound("role"))?;
    if let Some(uid) = ctx.actor.user_id()
        && !ctx.administers(&group.tenant_id)
        && groups::user_in_subtree(db, uid, &group).await?
    {
        return Err(ApiError::forbidden(
            "you are a member of this group or of a sub-group: only a tenant administrator can \
             change its roles",
        ));
    }
    if groups::add_role(db, &id, &role_id, ctx.now).await? {
        ctx.audit(
            &app,
            Some(&group.tenant_id),
            "group",
            &id,
            "assign_role",
            json!({ "role_id": role.id, "role_code": role.code }),
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Take a role from the group.
#[utoipa::path(delete, path = "/api/v1/groups/{id}/roles/{role_id}", tag = "groups",
    params(("id" = String, Path, description = "Group id"), ("role_id" = String, Path, description = "Role id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub(super) async fn remove_role(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, role_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let group = visible_group(&app, &ctx, &id, "group").await?;
    if !groups::remove_role(&app.provider.db, &id, &role_id).await? {
        return Err(ApiError::NotFound("group role"));
    }
    ctx.audit(
        &app,
        Some(&group.tenant_id),
        "group",
        &id,
        "unassign_role",
        json!({ "role_id": role_id }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
