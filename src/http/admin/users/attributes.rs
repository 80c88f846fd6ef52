//! Merging into a user's `attrs` (user-editable) and `sys_attrs` (administrator-only), with the
//! seed 000 merge rules of `directory::attrs`.

use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{managed_user, reload};
use crate::directory::attrs;
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::me::AttrsPatch;
use crate::http::admin::{Body, Ctx};
use crate::state::AppState;
use crate::store::users::{self, AttrColumn, User};

/// Body of `PATCH /api/v1/users/{id}/sys-attrs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SysAttrsPatch {
    /// Keys to add or overwrite; dotted keys update nested objects; absent keys are kept.
    #[schema(value_type = Object)]
    sys_attrs: Map<String, Value>,
}

/// Merge into a user's `attrs` (seed 000 `save-user-attrs` rules).
#[utoipa::path(patch, path = "/api/v1/users/{id}/attrs", tag = "users", request_body = AttrsPatch,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(super) async fn patch_attrs(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<AttrsPatch>,
) -> ApiResult<axum::Json<User>> {
    let user = managed_user(&app, &ctx, &id).await?;
    merge_into(&app, &ctx, &user, AttrColumn::Attrs, &b.attrs).await?;
    reload(&app, &id).await.map(axum::Json)
}

/// Merge into a user's `sys_attrs`, which users cannot edit themselves (seed 000
/// `save-user-sys-attrs`). Editing your own needs a tenant administrator.
#[utoipa::path(patch, path = "/api/v1/users/{id}/sys-attrs", tag = "users", request_body = SysAttrsPatch,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub(super) async fn patch_sys_attrs(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<SysAttrsPatch>,
) -> ApiResult<axum::Json<User>> {
    let user = managed_user(&app, &ctx, &id).await?;
    if ctx.is_user(&id) && !ctx.administers(&user.tenant_id) {
        return Err(ApiError::forbidden("you cannot change your own sys_attrs"));
    }
    merge_into(&app, &ctx, &user, AttrColumn::SysAttrs, &b.sys_attrs).await?;
    reload(&app, &id).await.map(axum::Json)
}

/// Merges `patch` into a user's attribute column and audits the keys (not the values).
pub(in crate::http::admin) async fn merge_into(
    app: &AppState,
    ctx: &Ctx,
    user: &User,
    column: AttrColumn,
    patch: &Map<String, Value>,
) -> ApiResult<Map<String, Value>> {
    let merged = users::merge_attrs(&app.provider.db, &user.id, column, ctx.now, |m| {
        attrs::merge(m, patch)
    })
    .await?
    .ok_or(ApiError::NotFound("user"))?;
    let keys: Vec<&String> = patch.keys().collect();
    let field = match column {
        AttrColumn::Attrs => "attrs",
        AttrColumn::SysAttrs => "sys_attrs",
    };
    ctx.audit(
        app,
        Some(&user.tenant_id),
        "user",
        &user.id,
        "update",
        json!({ field: keys }),
    )
    .await?;
    Ok(merged)
}
