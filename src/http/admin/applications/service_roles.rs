//! The service account of an application: the roles its `client_credentials` tokens act with.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::json;

use super::{refuse_builtin, visible_application};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::{Actor, Ctx};
use crate::state::AppState;
use crate::store::clients::{self, Application};
use crate::store::roles::{self, Role};

/// Roles of the application's service account (what its `client_credentials` tokens may do).
#[utoipa::path(get, path = "/api/v1/applications/{id}/roles", tag = "applications",
    params(("id" = String, Path, description = "Application (client) id")),
    responses((status = 200, body = Vec<Role>), (status = 404, body = Problem)))]
pub(super) async fn list_roles(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<Role>>> {
    visible_application(&app, &ctx, &id).await?;
    Ok(axum::Json(clients::roles_of(&app.provider.db, &id).await?))
}

/// Give a role of the application's tenant to its service account (tenant administrators only).
#[utoipa::path(put, path = "/api/v1/applications/{id}/roles/{role_id}", tag = "applications",
    params(("id" = String, Path, description = "Application (client) id"), ("role_id" = String, Path, description = "Role id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub(super) async fn assign_role(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, role_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (current, role) = service_role(&app, &ctx, &id, &role_id).await?;
    if clients::assign_role(&app.provider.db, &id, &role_id, ctx.now).await? {
        ctx.audit(
            &app,
            Some(&current.tenant_id),
            "application",
            &id,
            "assign_role",
            json!({ "role_id": role_id, "role_code": role.code }),
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Take a role from the application's service account (tenant administrators only).
#[utoipa::path(delete, path = "/api/v1/applications/{id}/roles/{role_id}", tag = "applications",
    params(("id" = String, Path, description = "Application (client) id"), ("role_id" = String, Path, description = "Role id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub(super) async fn unassign_role(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, role_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (current, role) = service_role(&app, &ctx, &id, &role_id).await?;
    if !clients::unassign_role(&app.provider.db, &id, &role_id).await? {
        return Err(ApiError::NotFound("service-account role"));
    }
    ctx.audit(
        &app,
        Some(&current.tenant_id),
        "application",
        &id,
        "unassign_role",
        json!({ "role_id": role_id, "role_code": role.code }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The application and a role of its tenant, when the caller may change its service account.
async fn service_role(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
    role_id: &str,
) -> ApiResult<(Application, Role)> {
    let current = visible_application(app, ctx, id).await?;
    refuse_builtin(&current)?;
    let role = roles::find(&app.provider.db, role_id)
        .await?
        .filter(|r| r.tenant_id == current.tenant_id)
        .ok_or(ApiError::NotFound("role"))?;
    if matches!(&ctx.actor, Actor::Client { id: me, .. } if me == id) && !ctx.is_super() {
        return Err(ApiError::forbidden(
            "an application cannot change its own roles",
        ));
    }
    if !ctx.administers(&current.tenant_id) {
        return Err(ApiError::forbidden(
            "only administrators of the tenant change the roles of a service account",
        ));
    }
    Ok((current, role))
}
