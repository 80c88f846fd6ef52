//! `/api/v1/roles`: roles of a tenant, their members and the permission items they grant.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Body, Ctx, Page, Paging, Query};
use crate::authz::ADMIN_APP;
use crate::directory::validate;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::store::permissions::{self, Permission};
use crate::store::roles::{self, NewRole, Role};
use crate::store::{clients, tenants, users};

/// The routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(get_role, update_role, delete_role))
        .routes(routes!(list_members))
        .routes(routes!(assign_member, unassign_member))
        .routes(routes!(list_permissions))
        .routes(routes!(grant_permission, revoke_permission))
}

/// Filters of `GET /api/v1/roles`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RoleFilter {
    /// Only roles of this tenant.
    tenant_id: Option<String>,
    /// Substring of the code or name (case-insensitive).
    q: Option<String>,
    /// Rows to skip (default 0).
    offset: Option<i64>,
    /// Rows to return (default 20, at most 1000).
    limit: Option<i64>,
    /// `order` (default), `code`, `name` or `created_at`.
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    order: Option<String>,
}

/// List roles (sort: `order`, `code`, `name`, `created_at`).
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", params(RoleFilter),
    responses((status = 200, body = Page<Role>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_roles(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(f): Query<RoleFilter>,
) -> ApiResult<axum::Json<Page<Role>>> {
    let paging = Paging::new(f.offset, f.limit, f.sort, f.order);
    let (offset, limit) = paging.window()?;
    let sort = paging.sort_column(&[
        ("order", "sort_order"),
        ("code", "code"),
        ("name", "name"),
        ("created_at", "created_at"),
    ])?;
    let dir = paging.direction(false)?;
    let tenants = super::tenant_filter(&ctx, f.tenant_id)?;
    let filter = roles::Filter { tenants, q: f.q };
    let (total, items) = roles::list(&app.provider.db, &filter, sort, dir, offset, limit).await?;
    Ok(axum::Json(Page {
        total,
        offset,
        limit,
        items,
    }))
}

/// Body of `POST /api/v1/roles`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    /// Tenant of the role (default: the caller's tenant).
    tenant_id: Option<String>,
    /// Unique in the tenant, immutable: 1–32 letters, digits, `-`, `_`, `.`, `:`.
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    /// Display order (default: the current time in seconds, as seed 000).
    order: Option<f64>,
}

/// Create a role.
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = CreateRole,
    responses((status = 201, body = Role), (status = 400, body = Problem), (status = 409, body = Problem)))]
async fn create_role(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<CreateRole>,
) -> ApiResult<Response> {
    let tenant_id = b
        .tenant_id
        .unwrap_or_else(|| ctx.actor.tenant_id().to_owned());
    ctx.require(&tenant_id, "tenant")?;
    validate::code("code", &b.code, b"-_.:")?;
    validate::text("name", &b.name, 64)?;
    validate::text("description", &b.description, 200)?;
    let order = finite("order", b.order.unwrap_or(ctx.now as f64))?;
    let db = &app.provider.db;
    if tenants::find(db, &tenant_id).await?.is_none() {
        return Err(ApiError::NotFound("tenant"));
    }
    let new = NewRole {
        tenant_id: tenant_id.clone(),
        code: b.code,
        name: b.name,
        description: b.description,
        order,
    };
    let role = roles::insert(db, &new, ctx.now)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => ApiError::conflict(
                "role_code_taken",
                "a role with this code exists in the tenant",
            ),
            e => e.into(),
        })?;
    ctx.audit(
        &app,
        Some(&tenant_id),
        "role",
        &role.id,
        "add",
        json!({ "code": role.code }),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(role)).into_response())
}

/// Get a role.
#[utoipa::path(get, path = "/api/v1/roles/{id}", tag = "roles",
    params(("id" = String, Path, description = "Role id")),
    responses((status = 200, body = Role), (status = 404, body = Problem)))]
async fn get_role(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Role>> {
    Ok(axum::Json(visible_role(&app, &ctx, &id).await?))
}

/// Body of `PATCH /api/v1/roles/{id}`: absent fields are kept.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    /// Must equal the current code if present: codes never change.
    code: Option<String>,
    name: Option<String>,
    description: Option<String>,
    order: Option<f64>,
}

/// Update a role's name, description or order.
#[utoipa::path(patch, path = "/api/v1/roles/{id}", tag = "roles", request_body = UpdateRole,
    params(("id" = String, Path, description = "Role id")),
    responses((status = 200, body = Role), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn update_role(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<UpdateRole>,
) -> ApiResult<axum::Json<Role>> {
    let role = visible_role(&app, &ctx, &id).await?;
    if b.code.as_ref().is_some_and(|c| *c != role.code) {
        return Err(ApiError::invalid("code", "a role's code cannot change"));
    }
    let name = b.name.unwrap_or(role.name.clone());
    let description = b.description.unwrap_or(role.description.clone());
    let order = finite("order", b.order.unwrap_or(role.order))?;
    validate::text("name", &name, 64)?;
    validate::text("description", &description, 200)?;
    let db = &app.provider.db;
    roles::update(db, &id, &name, &description, order, ctx.now).await?;
    ctx.audit(
        &app,
        Some(&role.tenant_id),
        "role",
        &id,
        "update",
        json!({ "name": name, "description": description, "order": order }),
    )
    .await?;
    Ok(axum::Json(
        roles::find(db, &id)
            .await?
            .ok_or(ApiError::NotFound("role"))?,
    ))
}

/// `?force=true` on deletes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Force {
    /// Delete even though the object still has members (they lose it).
    #[serde(default)]
    force: bool,
}

/// Delete a role. Refused (409 `role_in_use`) while users, groups or clients hold it, unless forced.
#[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "roles",
    params(("id" = String, Path, description = "Role id"), Force),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_role(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(f): Query<Force>,
) -> ApiResult<StatusCode> {
    let role = visible_role(&app, &ctx, &id).await?;
    let db = &app.provider.db;
    let holders = roles::holders(db, &id).await?;
    if holders > 0 && !f.force {
        return Err(ApiError::conflict(
            "role_in_use",
            format!("{holders} users, groups or clients hold this role; use force=true"),
        ));
    }
    roles::delete(db, &id).await?;
    ctx.audit(
        &app,
        Some(&role.tenant_id),
        "role",
        &id,
        "del",
        json!({ "code": role.code, "forced": f.force, "holders": holders }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ids of the users holding the role directly (seed 000 `list-role-users`).
#[utoipa::path(get, path = "/api/v1/roles/{id}/members", tag = "roles",
    params(("id" = String, Path, description = "Role id")),
    responses((status = 200, body = Vec<String>), (status = 404, body = Problem)))]
async fn list_members(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<String>>> {
    visible_role(&app, &ctx, &id).await?;
    Ok(axum::Json(roles::member_ids(&app.provider.db, &id).await?))
}

/// Give the role to a user of its tenant. Nobody can give a role to themselves (unless super
/// administrator): that would raise their own privileges.
#[utoipa::path(put, path = "/api/v1/roles/{id}/members/{user_id}", tag = "roles",
    params(("id" = String, Path, description = "Role id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn assign_member(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let role = visible_role(&app, &ctx, &id).await?;
    member_of_role_tenant(&app, &role, &user_id).await?;
    if ctx.is_user(&user_id) && !ctx.is_super() {
        return Err(ApiError::forbidden("you cannot change your own roles"));
    }
    if roles::assign_user(&app.provider.db, &id, &user_id, ctx.now).await? {
        ctx.audit(
            &app,
            Some(&role.tenant_id),
            "user",
            &user_id,
            "assign_role",
            json!({ "role_id": id, "role_code": role.code }),
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Take the role from a user.
#[utoipa::path(delete, path = "/api/v1/roles/{id}/members/{user_id}", tag = "roles",
    params(("id" = String, Path, description = "Role id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn unassign_member(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let role = visible_role(&app, &ctx, &id).await?;
    if ctx.is_user(&user_id) && !ctx.is_super() {
        return Err(ApiError::forbidden("you cannot change your own roles"));
    }
    if !roles::unassign_user(&app.provider.db, &id, &user_id).await? {
        return Err(ApiError::NotFound("role member"));
    }
    ctx.audit(
        &app,
        Some(&role.tenant_id),
        "user",
        &user_id,
        "unassign_role",
        json!({ "role_id": id, "role_code": role.code }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Permission items the role grants.
#[utoipa::path(get, path = "/api/v1/roles/{id}/permissions", tag = "roles",
    params(("id" = String, Path, description = "Role id")),
    responses((status = 200, body = Vec<Permission>), (status = 404, body = Problem)))]
async fn list_permissions(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<Permission>>> {
    visible_role(&app, &ctx, &id).await?;
    Ok(axum::Json(
        permissions::of_role(&app.provider.db, &id).await?,
    ))
}

/// Grant a permission item. Only administrators of the tenant may grant items to a role they
/// hold themselves (anyone else would be raising their own privileges).
#[utoipa::path(put, path = "/api/v1/roles/{id}/permissions/{permission_id}", tag = "roles",
    params(("id" = String, Path, description = "Role id"), ("permission_id" = String, Path, description = "Permission item id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn grant_permission(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, permission_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let role = visible_role(&app, &ctx, &id).await?;
    let db = &app.provider.db;
    let item = permissions::find(db, &permission_id)
        .await?
        .ok_or(ApiError::NotFound("permission"))?;
    let app_row = clients::find(db, &item.application_id)
        .await?
        .ok_or(ApiError::NotFound("permission"))?;
    let usable = app_row.id == ADMIN_APP
        || app_row.tenant_id == role.tenant_id
        || tenants::enables_application(db, &role.tenant_id, &app_row.id).await?;
    if !usable {
        return Err(ApiError::NotFound("permission"));
    }
    refuse_self_grant(&app, &ctx, &role).await?;
    if roles::grant(db, &id, &permission_id, ctx.now).await? {
        ctx.audit(
            &app,
            Some(&role.tenant_id),
            "role",
            &id,
            "grant",
            json!({ "permission_id": permission_id, "code": item.code, "application_id": item.application_id }),
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a permission item from the role.
#[utoipa::path(delete, path = "/api/v1/roles/{id}/permissions/{permission_id}", tag = "roles",
    params(("id" = String, Path, description = "Role id"), ("permission_id" = String, Path, description = "Permission item id")),
    responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_permission(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, permission_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let role = visible_role(&app, &ctx, &id).await?;
    if !roles::revoke(&app.provider.db, &id, &permission_id).await? {
        return Err(ApiError::NotFound("granted permission"));
    }
    ctx.audit(
        &app,
        Some(&role.tenant_id),
        "role",
        &id,
        "revoke",
        json!({ "permission_id": permission_id }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The role, if it exists and this request is allowed in its tenant (else 404).
async fn visible_role(app: &AppState, ctx: &Ctx, id: &str) -> ApiResult<Role> {
    let role = roles::find(&app.provider.db, id)
        .await?
        .ok_or(ApiError::NotFound("role"))?;
    ctx.require(&role.tenant_id, "role")?;
    Ok(role)
}

async fn member_of_role_tenant(app: &AppState, role: &Role, user_id: &str) -> ApiResult<()> {
    let db = &app.provider.db;
    if users::find(db, user_id).await?.is_none()
        || !tenants::is_member(db, &role.tenant_id, user_id).await?
    {
        return Err(ApiError::NotFound("user"));
    }
    Ok(())
}

async fn refuse_self_grant(app: &AppState, ctx: &Ctx, role: &Role) -> ApiResult<()> {
    if ctx.administers(&role.tenant_id) {
        return Ok(());
    }
    let holds = match ctx.actor.user_id() {
        Some(uid) => roles::user_holds(&app.provider.db, uid, &role.id).await?,
        None => {
            crate::store::clients::holds_role(&app.provider.db, ctx.actor.id(), &role.id).await?
        }
    };
    if holds {
        return Err(ApiError::forbidden(
            "you hold this role: only a tenant administrator can change what it grants",
        ));
    }
    Ok(())
}

fn finite(field: &str, v: f64) -> ApiResult<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ApiError::invalid(field, "a finite number"))
    }
}
