//! A user's API keys: list, create (shown once), revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{managed_user, visible_user};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::me::{self, CreateKey};
use crate::http::admin::{Body, Ctx};
use crate::state::AppState;
use crate::store::api_keys::{self, ApiKey};

/// A user's API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/users/{id}/api-keys", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = Vec<ApiKey>), (status = 404, body = Problem)))]
pub(super) async fn list_keys(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<ApiKey>>> {
    visible_user(&app, &ctx, &id).await?;
    Ok(axum::Json(
        api_keys::list_for_user(&app.provider.db, &id).await?,
    ))
}

/// Create an API key for a user; the key is in this response only. A key acts as its user, so
/// only a tenant administrator may create one for somebody else.
#[utoipa::path(post, path = "/api/v1/users/{id}/api-keys", tag = "users", request_body = CreateKey,
    params(("id" = String, Path, description = "User id")),
    responses((status = 201, body = me::CreatedKey), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(super) async fn create_key(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<CreateKey>,
) -> ApiResult<Response> {
    let user = managed_user(&app, &ctx, &id).await?;
    if !ctx.is_user(&id) && !ctx.administers(&user.tenant_id) {
        return Err(ApiError::forbidden(
            "only a tenant administrator can create an API key for another user",
        ));
    }
    if !user.may_sign_in(ctx.now) {
        return Err(ApiError::conflict(
            "user_inactive",
            "the user is disabled or past its trial",
        ));
    }
    me::create_for(&app, &ctx, &id, &user.tenant_id, b).await
}

/// Revoke one of a user's API keys.
#[utoipa::path(delete, path = "/api/v1/users/{id}/api-keys/{key_id}", tag = "users",
    params(("id" = String, Path, description = "User id"), ("key_id" = String, Path, description = "API key id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(super) async fn revoke_key(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let user = managed_user(&app, &ctx, &id).await?;
    let db = &app.provider.db;
    match api_keys::find(db, &key_id).await? {
        Some(k) if k.user_id == id => {}
        _ => return Err(ApiError::NotFound("api key")),
    }
    if !api_keys::revoke(db, &key_id, ctx.now).await? {
        return Err(ApiError::NotFound("api key"));
    }
    ctx.audit(
        &app,
        Some(&user.tenant_id),
        "api_key",
        &key_id,
        "del",
        json!({ "user_id": id }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
