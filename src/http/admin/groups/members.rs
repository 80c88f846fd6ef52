//! Direct members of a group.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::visible_group;
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::{self, Ctx, Query};
use crate::state::AppState;
use crate::store::{groups, tenants, users};

/// Optional window of `GET /api/v1/groups/{id}/members`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MemberWindow {
    /// Ids to skip (default 0).
    offset: Option<i64>,
    /// Ids to return (default: all; at most 1000 when given).
    limit: Option<i64>,
}

/// Ids of the direct members of a group (seed 000 `list-group-users`), oldest first.
#[utoipa::path(get, path = "/api/v1/groups/{id}/members", tag = "groups",
    params(("id" = String, Path, description = "Group id"), MemberWindow),
    responses((status = 200, body = Vec<String>), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(super) async fn list_members(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(w): Query<MemberWindow>,
) -> ApiResult<axum::Json<Vec<String>>> {
    let offset = w.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid("offset", "must be ≥ 0"));
    }
    if w.limit
        .is_some_and(|l| !(1..=admin::extract::MAX_LIMIT).contains(&l))
    {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    visible_group(&app, &ctx, &id, "group").await?;
    Ok(axum::Json(
        groups::member_ids(&app.provider.db, &id, offset, w.limit).await?,
    ))
}

/// Add a user of the group's tenant to the group. Nobody adds themselves (unless they administer
/// the tenant): the group's roles would raise their privileges.
#[utoipa::path(put, path = "/api/v1/groups/{id}/members/{user_id}", tag = "groups",
    params(("id" = String, Path, description = "Group id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(super) async fn add_member(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let group = visible_group(&app, &ctx, &id, "group").await?;
    let db = &app.provider.db;
    if users::find(db, &user_id).await?.is_none()
        || !tenants::is_member(db, &group.tenant_id, &user_id).await?
    {
        return Err(ApiError::NotFound("user"));
    }
    if ctx.is_user(&user_id) && !ctx.administers(&group.tenant_id) {
        return Err(ApiError::forbidden(
            "you cannot add yourself to a group: only a tenant administrator can",
        ));
    }
    if groups::add_member(db, &id, &user_id, ctx.now).await? {
        ctx.audit(
            &app,
            Some(&group.tenant_id),
            "group",
            &id,
            "add_member",
            json!({ "user_id": user_id, "group_name": group.name }),
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user from the group.
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{user_id}", tag = "groups",
    params(("id" = String, Path, description = "Group id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub(super) async fn remove_member(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let group = visible_group(&app, &ctx, &id, "group").await?;
    if !groups::remove_member(&app.provider.db, &id, &user_id).await? {
        return Err(ApiError::NotFound("group member"));
    }
    ctx.audit(
        &app,
        Some(&group.tenant_id),
        "group",
        &id,
        "remove_member",
        json!({ "user_id": user_id, "group_name": group.name }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
