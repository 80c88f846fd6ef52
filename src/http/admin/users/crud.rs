//! Create, read, update and delete: one user, or several at once for deletes. Profile checks are
//! in [`super::profile`]; who may change whom in [`super`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::profile::{ProfilePatch, apply_profile, changed_fields};
use super::{
    Ids, builtin, checked_ids, managed_user, may_make_admin, may_remove, reload, trial_value,
    visible_user,
};
use crate::accounts::password::MAX_PASSWORD_BYTES;
use crate::directory::{attrs, validate};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::{Body, Ctx};
use crate::state::AppState;
use crate::store::users::{self, NewAccount, Profile, User};
use crate::store::{StoreError, api_keys, tenants};

/// Body of `POST /api/v1/users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Main tenant (default: the caller's).
    tenant_id: Option<String>,
    /// 1–32 letters, digits, `-`, `_`, `.`; unique in the tenant.
    username: String,
    /// At least 8 characters; stored as an Argon2id hash, never returned.
    password: String,
    /// `ADMIN` or `MEMBER` (default). ADMIN needs a tenant administrator (super administrator in
    /// the default tenant). Seed 000's `user_type` is accepted as an alias.
    #[serde(rename = "type", alias = "user_type")]
    user_type: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    realname: Option<String>,
    nickname: Option<String>,
    /// `M`, `F` or `U` (default).
    gender: Option<String>,
    /// `YYYY-MM-DD`.
    birthdate: Option<String>,
    /// Absolute http(s) URL.
    avatar: Option<String>,
    locale: Option<String>,
    zoneinfo: Option<String>,
    title: Option<String>,
    country: Option<String>,
    address: Option<String>,
    /// User-editable attributes (dotted keys build nested objects).
    #[serde(default)]
    #[schema(value_type = Object)]
    attrs: Map<String, Value>,
    /// Administrator-only attributes.
    #[serde(default)]
    #[schema(value_type = Object)]
    sys_attrs: Map<String, Value>,
    /// End of a trial period (unix seconds); absent or 0: a regular account.
    trial_end_at: Option<i64>,
    /// Where the account came from (default `admin`).
    register_source: Option<String>,
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem)))]
pub(super) async fn create_user(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<CreateUser>,
) -> ApiResult<Response> {
    let tenant_id = b
        .tenant_id
        .unwrap_or_else(|| ctx.actor.tenant_id().to_owned());
    ctx.require(&tenant_id, "tenant")?;
    validate::username(&b.username)?;
    if b.password.chars().count() < crate::accounts::password::MIN_PASSWORD_CHARS
        || b.password.len() > MAX_PASSWORD_BYTES
    {
        return Err(ApiError::invalid(
            "password",
            "at least 8 characters and at most 1024 bytes",
        ));
    }
    let user_type = b.user_type.unwrap_or_else(|| "MEMBER".into());
    validate::user_type(&user_type)?;
    if user_type == "ADMIN" {
        may_make_admin(&ctx, &tenant_id)?;
    }
    let profile = apply_profile(
        Profile::default(),
        ProfilePatch {
            email: b.email,
            phone: b.phone,
            name: b.name,
            given_name: b.given_name,
            family_name: b.family_name,
            realname: b.realname,
            nickname: b.nickname,
            gender: b.gender,
            birthdate: b.birthdate,
            avatar: b.avatar,
            locale: b.locale,
            zoneinfo: b.zoneinfo,
            title: b.title,
            country: b.country,
            address: b.address,
        },
    )?;
    let mut attrs_obj = Map::new();
    attrs::merge(&mut attrs_obj, &b.attrs)?;
    let mut sys_obj = Map::new();
    attrs::merge(&mut sys_obj, &b.sys_attrs)?;
    let trial_end_at = trial_value(b.trial_end_at)?;
    let register_source = b.register_source.unwrap_or_else(|| "admin".into());
    validate::text("register_source", &register_source, 32)?;
    let db = &app.provider.db;
    if tenants::find(db, &tenant_id).await?.is_none() {
        return Err(ApiError::NotFound("tenant"));
    }
    let hash = app
        .passwords
        .hash(b.password)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let account = NewAccount {
        tenant_id: tenant_id.clone(),
        username: b.username,
        password_hash: Some(hash),
        user_type,
        profile,
        attrs: attrs_obj,
        sys_attrs: sys_obj,
        trial_end_at,
        register_source,
        must_change_password: false,
        builtin: false,
    };
    let user = users::insert_account(db, &account, ctx.now)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::conflict(
                "username_taken",
                "a user with this username exists in the tenant",
            ),
            e => e.into(),
        })?;
    ctx.audit(
        &app,
        Some(&tenant_id),
        "user",
        &user.id,
        "add",
        json!({ "username": user.username, "type": user.user_type }),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(user)).into_response())
}

/// Get a user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 404, body = Problem)))]
pub(super) async fn get_user(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(visible_user(&app, &ctx, &id).await?))
}

/// Body of `PATCH /api/v1/users/{id}`: absent fields are kept, `""` clears an optional field.
/// Username, tenant, state, password and attributes have their own endpoints (or never change).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// `ADMIN` or `MEMBER`: tenant administrators only, never on yourself.
    #[serde(rename = "type", alias = "user_type")]
    user_type: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    realname: Option<String>,
    nickname: Option<String>,
    gender: Option<String>,
    birthdate: Option<String>,
    avatar: Option<String>,
    locale: Option<String>,
    zoneinfo: Option<String>,
    title: Option<String>,
    country: Option<String>,
    address: Option<String>,
}

/// Update a user's profile (or type).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUser,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(super) async fn update_user(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<UpdateUser>,
) -> ApiResult<axum::Json<User>> {
    let user = managed_user(&app, &ctx, &id).await?;
    let mut user_type = user.user_type.clone();
    if let Some(t) = b.user_type.filter(|t| *t != user.user_type) {
        validate::user_type(&t)?;
        if user.is_builtin() {
            return Err(builtin());
        }
        if ctx.is_user(&id) {
            return Err(ApiError::forbidden("you cannot change your own type"));
        }
        // Both promoting and demoting an administrator are administrator decisions.
        may_make_admin(&ctx, &user.tenant_id)?;
        user_type = t;
    }
    let profile = apply_profile(
        Profile::of(&user),
        ProfilePatch {
            email: b.email,
            phone: b.phone,
            name: b.name,
            given_name: b.given_name,
            family_name: b.family_name,
            realname: b.realname,
            nickname: b.nickname,
            gender: b.gender,
            birthdate: b.birthdate,
            avatar: b.avatar,
            locale: b.locale,
            zoneinfo: b.zoneinfo,
            title: b.title,
            country: b.country,
            address: b.address,
        },
    )?;
    let db = &app.provider.db;
    users::update_profile(db, &id, &profile, &user_type, ctx.now).await?;
    let mut changed = changed_fields(&user, &profile);
    if user_type != user.user_type {
        changed.push("type");
    }
    ctx.audit(
        &app,
        Some(&user.tenant_id),
        "user",
        &id,
        "update",
        json!({ "fields": changed, "type": user_type }),
    )
    .await?;
    reload(&app, &id).await.map(axum::Json)
}

/// Delete a user (soft: the record stays for the audit trail, the username is freed). Its
/// sessions, tokens and API keys stop working. The built-in administrator cannot be deleted.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub(super) async fn delete_user(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user = visible_user(&app, &ctx, &id).await?;
    may_remove(&app, &ctx, &user).await?;
    remove(&app, &ctx, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Soft-deletes a user, revokes its grants and API keys, and audits it.
async fn remove(app: &AppState, ctx: &Ctx, user: &User) -> ApiResult<()> {
    let db = &app.provider.db;
    if !users::soft_delete(db, &user.id, ctx.now).await? {
        return Err(ApiError::NotFound("user"));
    }
    let grants = app.provider.revoke_user(&user.id, ctx.now).await?;
    let keys = api_keys::revoke_all_for_user(db, &user.id, ctx.now).await?;
    ctx.audit(
        app,
        Some(&user.tenant_id),
        "user",
        &user.id,
        "del",
        json!({ "username": user.username, "revoked_grants": grants, "revoked_api_keys": keys }),
    )
    .await
}

/// Result of a bulk delete.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkDeleted {
    /// How many users were deleted.
    deleted: usize,
}

/// Delete several users. All or nothing: if one id is unknown (404), the built-in administrator
/// (409), yourself or a user you may not manage (403), nobody is deleted.
#[utoipa::path(post, path = "/api/v1/users/bulk-delete", tag = "users", request_body = Ids,
    responses((status = 200, body = BulkDeleted), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(super) async fn bulk_delete(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<Ids>,
) -> ApiResult<axum::Json<BulkDeleted>> {
    let ids = checked_ids(b.ids)?;
    let mut targets = Vec::with_capacity(ids.len());
    for id in &ids {
        let user = visible_user(&app, &ctx, id).await?;
        may_remove(&app, &ctx, &user).await?;
        targets.push(user);
    }
    for user in &targets {
        remove(&app, &ctx, user).await?;
    }
    Ok(axum::Json(BulkDeleted {
        deleted: targets.len(),
    }))
}
