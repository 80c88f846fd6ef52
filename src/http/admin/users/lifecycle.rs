//! Account state: password reset by link, enable/disable, trial end, and revoking a user's
//! sessions and tokens.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{builtin, managed_user, may_manage, may_remove, reload, trial_value, visible_user};
use crate::crypto;
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::{Body, Ctx};
use crate::state::AppState;
use crate::store::api_keys;
use crate::store::users::{self, User};

/// Lifetime of a password-reset link.
const RESET_TTL: i64 = 24 * 3600;

/// A password-reset link for the user to open.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResetLink {
    /// Single-use link to the page where the user chooses a new password; forward it to them.
    reset_url: String,
    /// When the link stops working (unix seconds).
    expires_at: i64,
}

/// Body of `POST …/reset-password`: empty. Administrators never set or learn a user's password.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {}

/// Reset a user's password without learning it: the current password stops working, the
/// user's sessions and tokens are revoked, and the response carries a single-use link (valid 24 h)
/// that lets the user choose a new one. A body naming a password is refused.
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-password", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = ResetLink), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub(super) async fn reset_password(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_slice::<ResetBody>(&body).map_err(|_| {
            ApiError::bad(
                "invalid_body",
                "send no body: the user chooses the new password through the reset link",
            )
        })?;
    }
    let user = managed_user(&app, &ctx, &id).await?;
    let db = &app.provider.db;
    let token = crypto::random_token();
    let expires_at = ctx.now + RESET_TTL;
    users::set_password(db, &id, None, true, ctx.now).await?;
    users::create_reset_token(
        db,
        &id,
        &crypto::sha256_b64(token.as_bytes()),
        expires_at,
        ctx.now,
    )
    .await?;
    let grants = app.provider.revoke_user(&id, ctx.now).await?;
    ctx.audit(
        &app,
        Some(&user.tenant_id),
        "user",
        &id,
        "reset_password",
        json!({ "expires_at": expires_at, "revoked_grants": grants }),
    )
    .await?;
    let link = ResetLink {
        reset_url: format!(
            "{}/password/reset?token={token}",
            app.provider.issuer.trim_end_matches('/')
        ),
        expires_at,
    };
    Ok((
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(link),
    )
        .into_response())
}

/// Enable a user.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(super) async fn enable_user(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<User>> {
    let user = managed_user(&app, &ctx, &id).await?;
    users::set_state(&app.provider.db, &id, "active", ctx.now).await?;
    ctx.audit(
        &app,
        Some(&user.tenant_id),
        "user",
        &id,
        "enable",
        json!({}),
    )
    .await?;
    reload(&app, &id).await.map(axum::Json)
}

/// Disable a user: sign-in is refused, and its sessions, tokens and API keys are revoked. The
/// built-in administrator cannot be disabled.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub(super) async fn disable_user(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<User>> {
    let user = visible_user(&app, &ctx, &id).await?;
    may_remove(&app, &ctx, &user).await?;
    let db = &app.provider.db;
    users::set_state(db, &id, "inactive", ctx.now).await?;
    let grants = app.provider.revoke_user(&id, ctx.now).await?;
    let keys = api_keys::revoke_all_for_user(db, &id, ctx.now).await?;
    ctx.audit(
        &app,
        Some(&user.tenant_id),
        "user",
        &id,
        "disable",
        json!({ "revoked_grants": grants, "revoked_api_keys": keys }),
    )
    .await?;
    reload(&app, &id).await.map(axum::Json)
}

/// Body of `PUT /api/v1/users/{id}/trial`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Trial {
    /// End of the trial (unix seconds); 0 makes the account a regular one (seed 000).
    trial_end_at: i64,
}

/// Set or clear the end of a user's trial. An end in the past revokes the user's sessions.
#[utoipa::path(put, path = "/api/v1/users/{id}/trial", tag = "users", request_body = Trial,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(super) async fn set_trial(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<Trial>,
) -> ApiResult<axum::Json<User>> {
    let end = trial_value(Some(b.trial_end_at))?;
    let user = visible_user(&app, &ctx, &id).await?;
    if user.is_builtin() && end.is_some() {
        return Err(builtin());
    }
    if ctx.is_user(&id) && !ctx.is_super() {
        return Err(ApiError::forbidden("you cannot change your own trial"));
    }
    may_manage(&app, &ctx, &user).await?;
    users::set_trial_end(&app.provider.db, &id, end, ctx.now).await?;
    let mut grants = 0;
    if end.is_some_and(|t| t <= ctx.now) {
        grants = app.provider.revoke_user(&id, ctx.now).await?;
    }
    ctx.audit(
        &app,
        Some(&user.tenant_id),
        "user",
        &id,
        "update",
        json!({ "trial_end_at": end, "revoked_grants": grants }),
    )
    .await?;
    reload(&app, &id).await.map(axum::Json)
}

/// Result of a session revocation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revoked {
    /// Grants (refresh-token families and their access tokens) revoked.
    revoked_grants: usize,
}

/// Revoke all of a user's sessions and tokens (seeds 003 "del cache", 004 "refresh token"):
/// refresh tokens stop working, access tokens are refused, browser sessions end.
#[utoipa::path(post, path = "/api/v1/users/{id}/revoke-sessions", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = Revoked), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(super) async fn revoke_sessions(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Revoked>> {
    let user = managed_user(&app, &ctx, &id).await?;
    let revoked_grants = app.provider.revoke_user(&id, ctx.now).await?;
    ctx.audit(
        &app,
        Some(&user.tenant_id),
        "user",
        &id,
        "revoke_sessions",
        json!({ "revoked_grants": revoked_grants }),
    )
    .await?;
    Ok(axum::Json(Revoked { revoked_grants }))
}
