//! Memberships of a tenant (seed 002 `tenantList`): its users, with their admin flag there.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::visible_tenant;
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::{Body, Ctx, Page, Paging, Query};
use crate::state::AppState;
use crate::store::tenants::{self, DEFAULT_TENANT, Member};
use crate::store::users;

/// Paging of `GET /api/v1/tenants/{id}/members`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MemberPaging {
    /// Rows to skip (default 0).
    offset: Option<i64>,
    /// Rows to return (default 20, at most 1000).
    limit: Option<i64>,
    /// Only `created_at` (the user's creation).
    sort: Option<String>,
    /// Only `asc`.
    order: Option<String>,
}

/// The users of a tenant: those whose main tenant it is and members, with their admin flag.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/members", tag = "tenants",
    params(("id" = String, Path, description = "Tenant id"), MemberPaging),
    responses((status = 200, body = Page<Member>), (status = 404, body = Problem)))]
pub(super) async fn list_members(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(p): Query<MemberPaging>,
) -> ApiResult<axum::Json<Page<Member>>> {
    let paging = Paging::new(p.offset, p.limit, p.sort, p.order);
    let (offset, limit) = paging.window()?;
    paging.sort_column(&[("created_at", "created_at")])?;
    if paging.direction(false)? != "ASC" {
        return Err(ApiError::invalid("order", "asc"));
    }
    visible_tenant(&app, &ctx, &id).await?;
    let (total, items) = tenants::members(&app.provider.db, &id, offset, limit).await?;
    Ok(axum::Json(Page {
        total,
        offset,
        limit,
        items,
    }))
}

/// Body of `PUT /api/v1/tenants/{id}/members/{user_id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutMember {
    /// Make the user an administrator of the tenant (only its administrators may set or clear
    /// this; of the default tenant, only super administrators).
    #[serde(default)]
    is_admin: bool,
}

/// Add a user to a tenant, or change its admin flag there. Nobody changes their own
/// membership (unless super administrator).
#[utoipa::path(put, path = "/api/v1/tenants/{id}/members/{user_id}", tag = "tenants",
    request_body = PutMember,
    params(("id" = String, Path, description = "Tenant id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub(super) async fn put_member(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, user_id)): Path<(String, String)>,
    Body(b): Body<PutMember>,
) -> ApiResult<StatusCode> {
    let db = &app.provider.db;
    visible_tenant(&app, &ctx, &id).await?;
    if ctx.is_user(&user_id) && !ctx.is_super() {
        return Err(ApiError::forbidden(
            "you cannot change your own memberships",
        ));
    }
    let user = users::find(db, &user_id)
        .await?
        .filter(|u| ctx.allows(&u.tenant_id))
        .ok_or(ApiError::NotFound("user"))?;
    let current = tenants::membership(db, &id, &user_id).await?;
    if (b.is_admin || current == Some(true)) && !ctx.administers(&id) {
        return Err(ApiError::forbidden(
            "only administrators of the tenant change its administrators",
        ));
    }
    if b.is_admin && id == DEFAULT_TENANT && !ctx.is_super() {
        return Err(ApiError::forbidden(
            "only super administrators make administrators of the default tenant",
        ));
    }
    if current == Some(b.is_admin) {
        return Ok(StatusCode::NO_CONTENT);
    }
    tenants::set_member(db, &id, &user_id, b.is_admin, ctx.now).await?;
    let main = user.tenant_id == id;
    ctx.audit(
        &app,
        Some(&id),
        "user",
        &user_id,
        if current.is_none() && !main {
            "add_member"
        } else {
            "update"
        },
        json!({ "tenant_id": id, "is_admin": b.is_admin }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user's membership of a tenant, with the roles and group memberships it held there.
/// A user's main tenant cannot be removed (409 `main_tenant`).
#[utoipa::path(delete, path = "/api/v1/tenants/{id}/members/{user_id}", tag = "tenants",
    params(("id" = String, Path, description = "Tenant id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub(super) async fn delete_member(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let db = &app.provider.db;
    visible_tenant(&app, &ctx, &id).await?;
    let user = users::find(db, &user_id).await?;
    if user.as_ref().is_some_and(|u| u.tenant_id == id) {
        return Err(ApiError::conflict(
            "main_tenant",
            "this is the user's main tenant: it cannot be left",
        ));
    }
    let current = tenants::membership(db, &id, &user_id)
        .await?
        .ok_or(ApiError::NotFound("membership"))?;
    if ctx.is_user(&user_id) && !ctx.is_super() {
        return Err(ApiError::forbidden(
            "you cannot change your own memberships",
        ));
    }
    if current && !ctx.administers(&id) {
        return Err(ApiError::forbidden(
            "only administrators of the tenant remove its administrators",
        ));
    }
    if !tenants::remove_member(db, &id, &user_id).await? {
        return Err(ApiError::NotFound("membership"));
    }
    ctx.audit(
        &app,
        Some(&id),
        "user",
        &user_id,
        "remove_member",
        json!({ "tenant_id": id, "was_admin": current }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
