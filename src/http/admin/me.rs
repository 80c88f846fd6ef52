//! `/api/v1/me…`: what any authenticated caller may see and do about itself: who it is, what it
//! may do, and (users) its own API keys and `attrs`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Actor, Body, Ctx};
use crate::accounts;
use crate::directory::validate;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::store::api_keys::{self, ApiKey};
use crate::store::users::{self, AttrColumn};

/// The routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(whoami))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(patch_own_attrs))
}

/// The caller and its authority in the admin API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// `user` or `client`.
    pub kind: String,
    pub id: String,
    pub tenant_id: String,
    pub username: Option<String>,
    /// `ADMIN` or `MEMBER` (users).
    pub user_type: Option<String>,
    pub super_admin: bool,
    /// Tenants the caller administers.
    pub admin_tenants: Vec<String>,
    /// Admin permission items held in the caller's tenant.
    pub permissions: Vec<String>,
}

/// Who is calling.
#[utoipa::path(get, path = "/api/v1/me", tag = "me",
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
async fn whoami(ctx: Ctx) -> axum::Json<Me> {
    let (kind, username, user_type) = match &ctx.actor {
        Actor::User {
            username,
            user_type,
            ..
        } => ("user", Some(username.clone()), Some(user_type.clone())),
        Actor::Client { .. } => ("client", None, None),
    };
    let mut admin_tenants: Vec<String> = ctx.authority.admin_tenants.iter().cloned().collect();
    admin_tenants.sort();
    axum::Json(Me {
        kind: kind.into(),
        id: ctx.actor.id().to_owned(),
        tenant_id: ctx.actor.tenant_id().to_owned(),
        username,
        user_type,
        super_admin: ctx.is_super(),
        admin_tenants,
        permissions: ctx.authority.codes_in(ctx.actor.tenant_id()),
    })
}

fn own_user(ctx: &Ctx) -> ApiResult<&str> {
    ctx.actor
        .user_id()
        .ok_or_else(|| ApiError::forbidden("only users have API keys"))
}

/// The caller's API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/me/api-keys", tag = "me",
    responses((status = 200, body = Vec<ApiKey>), (status = 401, body = Problem)))]
async fn list_keys(State(app): State<AppState>, ctx: Ctx) -> ApiResult<axum::Json<Vec<ApiKey>>> {
    let user_id = own_user(&ctx)?;
    Ok(axum::Json(
        api_keys::list_for_user(&app.provider.db, user_id).await?,
    ))
}

/// Body of `POST …/api-keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A label to recognise the key by.
    #[serde(default)]
    pub name: String,
    /// Lifetime in seconds (default: no expiry).
    pub expires_in: Option<i64>,
}

/// A created key: the only response that ever carries `key`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The key: shown once, stored hashed.
    pub key: String,
}

/// Create an API key for a user (used by `/me` and by administrators on `/users/{id}`).
pub(crate) async fn create_for(
    app: &AppState,
    ctx: &Ctx,
    user_id: &str,
    tenant_id: &str,
    b: CreateKey,
) -> ApiResult<Response> {
    validate::text("name", &b.name, 64)?;
    if b.expires_in
        .is_some_and(|s| s <= 0 || s > 10 * 365 * 86_400)
    {
        return Err(ApiError::invalid(
            "expires_in",
            "between 1 second and 10 years",
        ));
    }
    let generated = accounts::api_keys::generate();
    let key = api_keys::insert(
        &app.provider.db,
        user_id,
        &b.name,
        &generated.prefix,
        &generated.hash,
        b.expires_in.map(|s| ctx.now + s),
        ctx.now,
    )
    .await?;
    ctx.audit(
        app,
        Some(tenant_id),
        "api_key",
        &key.id,
        "add",
        json!({ "user_id": user_id, "prefix": key.prefix, "name": key.name }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::Json(CreatedKey {
            api_key: key,
            key: generated.key,
        }),
    )
        .into_response())
}

/// Create an API key for the caller; the key is in this response only.
#[utoipa::path(post, path = "/api/v1/me/api-keys", tag = "me", request_body = CreateKey,
    responses((status = 201, body = CreatedKey), (status = 400, body = Problem)))]
async fn create_key(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<CreateKey>,
) -> ApiResult<Response> {
    let user_id = own_user(&ctx)?.to_owned();
    let tenant = ctx.actor.tenant_id().to_owned();
    create_for(&app, &ctx, &user_id, &tenant, b).await
}

/// Revoke one of the caller's API keys.
#[utoipa::path(delete, path = "/api/v1/me/api-keys/{id}", tag = "me",
    params(("id" = String, Path, description = "API key id")),
    responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_key(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user_id = own_user(&ctx)?;
    let db = &app.provider.db;
    match api_keys::find(db, &id).await? {
        Some(k) if k.user_id == user_id => {}
        _ => return Err(ApiError::NotFound("api key")),
    }
    if !api_keys::revoke(db, &id, ctx.now).await? {
        return Err(ApiError::NotFound("api key"));
    }
    ctx.audit(
        &app,
        Some(ctx.actor.tenant_id()),
        "api_key",
        &id,
        "del",
        json!({ "user_id": user_id }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `PATCH …/attrs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttrsPatch {
    /// Keys to add or overwrite; dotted keys update nested objects; absent keys are kept
    /// (seed 000 `save-user-attrs`).
    #[schema(value_type = Object)]
    pub attrs: Map<String, Value>,
}

/// The caller's `attrs` after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OwnAttrs {
    #[schema(value_type = Object)]
    pub attrs: Map<String, Value>,
}

/// Merge into the caller's own `attrs` (users may edit these; `sys_attrs` are for administrators
/// only and are refused here).
#[utoipa::path(patch, path = "/api/v1/me/attrs", tag = "me", request_body = AttrsPatch,
    responses((status = 200, body = OwnAttrs), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn patch_own_attrs(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<AttrsPatch>,
) -> ApiResult<axum::Json<OwnAttrs>> {
    let user_id = ctx
        .actor
        .user_id()
        .ok_or_else(|| ApiError::forbidden("only users have attributes"))?;
    let user = users::find(&app.provider.db, user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let attrs = super::users::merge_into(&app, &ctx, &user, AttrColumn::Attrs, &b.attrs).await?;
    Ok(axum::Json(OwnAttrs { attrs }))
}
