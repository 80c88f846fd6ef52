//! `/api/v1/users`: users of a tenant — CRUD, search, exact lookups (seed 000), attribute merges,
//! password reset by link, enable/disable, trial, session revocation, and what a user holds
//! (roles, groups, effective permissions, API keys).
//!
//! Visibility is by the user's main tenant (`ctx.require(user.tenant_id)`). On top of the
//! catalogue, [`may_manage`] stops a role-based manager from changing an administrator: changing
//! an ADMIN (or a tenant administrator by membership) needs a caller who administers that tenant,
//! and changing a super administrator needs a super administrator.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::me::{AttrsPatch, CreateKey};
use super::{Body, Ctx, Page, Paging, Query};
use crate::accounts::password::MAX_PASSWORD_BYTES;
use crate::authz::{self, ADMIN_APP, SubjectInfo};
use crate::crypto;
use crate::directory::{attrs, validate};
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::store::api_keys::{self, ApiKey};
use crate::store::groups::{self, Group};
use crate::store::permissions::{self, Subject};
use crate::store::roles::{self, Role};
use crate::store::tenants::{self, DEFAULT_TENANT};
use crate::store::users::{self, AttrColumn, ExactField, NewAccount, Profile, User};
use crate::store::{StoreError, clients};

/// Lifetime of a password-reset link.
const RESET_TTL: i64 = 24 * 3600;
/// Most ids one batch request may name.
const MAX_BATCH: usize = 1000;

/// The routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(batch_get))
        .routes(routes!(bulk_delete))
        .routes(routes!(find_user))
        .routes(routes!(find_by_sys_attr))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(patch_attrs))
        .routes(routes!(patch_sys_attrs))
        .routes(routes!(reset_password))
        .routes(routes!(enable_user))
        .routes(routes!(disable_user))
        .routes(routes!(set_trial))
        .routes(routes!(revoke_sessions))
        .routes(routes!(user_roles))
        .routes(routes!(user_groups))
        .routes(routes!(user_permissions))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

// ---------------------------------------------------------------------------------------------
// Lists and lookups
// ---------------------------------------------------------------------------------------------

/// Filters of `GET /api/v1/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    /// Only users whose main tenant is this one.
    tenant_id: Option<String>,
    /// Only direct members of this group.
    group_id: Option<String>,
    /// Only direct holders of this role.
    role_id: Option<String>,
    /// `active` or `inactive`.
    state: Option<String>,
    /// `ADMIN` or `MEMBER`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    user_type: Option<String>,
    /// Case-insensitive substring of username, nickname, name, realname, e-mail or phone.
    q: Option<String>,
    /// Rows to skip (default 0).
    offset: Option<i64>,
    /// Rows to return (default 20, at most 1000).
    limit: Option<i64>,
    /// `created_at` (default), `updated_at`, `last_login_at`, `logins_count` or `username`.
    sort: Option<String>,
    /// `asc` or `desc` (default `desc`, `asc` for `username`).
    order: Option<String>,
}

/// List and search users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserFilter),
    responses((status = 200, body = Page<User>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_users(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(f): Query<UserFilter>,
) -> ApiResult<axum::Json<Page<User>>> {
    let by_name = f.sort.as_deref() == Some("username");
    let paging = Paging::new(f.offset, f.limit, f.sort, f.order);
    let (offset, limit) = paging.window()?;
    let sort = paging.sort_column(&[
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
        ("last_login_at", "COALESCE(last_login_at, 0)"),
        ("logins_count", "logins_count"),
        ("username", "username"),
    ])?;
    let dir = paging.direction(!by_name)?;
    if let Some(s) = &f.state {
        validate::state(s)?;
    }
    if let Some(t) = &f.user_type {
        validate::user_type(t)?;
    }
    if let Some(q) = &f.q {
        validate::text("q", q, 100)?;
    }
    let filter = users::Filter {
        tenants: super::tenant_filter(&ctx, f.tenant_id)?,
        group_id: f.group_id,
        role_id: f.role_id,
        state: f.state,
        user_type: f.user_type,
        q: f.q,
    };
    let (total, items) = users::list(&app.provider.db, &filter, sort, dir, offset, limit).await?;
    Ok(axum::Json(Page {
        total,
        offset,
        limit,
        items,
    }))
}

/// Body of `POST /api/v1/users/batch-get`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ids {
    /// 1 to 1000 user ids.
    ids: Vec<String>,
}

fn checked_ids(ids: Vec<String>) -> ApiResult<Vec<String>> {
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(ApiError::invalid("ids", "1 to 1000 user ids"));
    }
    let mut seen = BTreeSet::new();
    Ok(ids
        .into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect())
}

/// The users among `ids` that exist and are visible, in the order asked (seed 000
/// `list-users-by-ids`); others are left out.
#[utoipa::path(post, path = "/api/v1/users/batch-get", tag = "users", request_body = Ids,
    responses((status = 200, body = Vec<User>), (status = 400, body = Problem)))]
async fn batch_get(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<Ids>,
) -> ApiResult<axum::Json<Vec<User>>> {
    let ids = checked_ids(b.ids)?;
    let tenants = super::tenant_filter(&ctx, None)?;
    Ok(axum::Json(
        users::find_many(&app.provider.db, &ids, &tenants).await?,
    ))
}

/// Query of `GET /api/v1/users/find`: exactly one of `username`, `email`, `phone`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FindQuery {
    username: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    /// Look in this tenant only (default: every visible tenant, the caller's own first).
    tenant_id: Option<String>,
}

/// One user by exact username, e-mail or phone (seed 000 `get-user-by-username`).
#[utoipa::path(get, path = "/api/v1/users/find", tag = "users", params(FindQuery),
    responses((status = 200, body = User), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn find_user(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(f): Query<FindQuery>,
) -> ApiResult<axum::Json<User>> {
    let (field, value) = match (f.username, f.email, f.phone) {
        (Some(v), None, None) => (ExactField::Username, v),
        (None, Some(v), None) => (ExactField::Email, v),
        (None, None, Some(v)) => (ExactField::Phone, v),
        _ => {
            return Err(ApiError::bad(
                "invalid_query",
                "give exactly one of username, email, phone",
            ));
        }
    };
    if value.is_empty() || value.len() > 256 {
        return Err(ApiError::bad("invalid_query", "1 to 256 bytes"));
    }
    let tenants = super::tenant_filter(&ctx, f.tenant_id)?;
    users::find_exact(
        &app.provider.db,
        field,
        &value,
        &tenants,
        ctx.actor.tenant_id(),
    )
    .await?
    .map(axum::Json)
    .ok_or(ApiError::NotFound("user"))
}

/// Body of `POST /api/v1/users/find-by-sys-attr`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SysAttrQuery {
    /// A key of `sys_attrs` (dots reach into nested objects).
    key: String,
    /// The value, compared exactly including its JSON type (`1` and `"1"` differ).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Object)]
    value: Option<Value>,
    /// Look in this tenant only (default: every visible tenant, the caller's own first).
    tenant_id: Option<String>,
}

/// `Some` for any value present in the body, `null` included (absent = `None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// One user whose `sys_attrs` holds exactly this value under this key (seed 000
/// `get-user-by-sys-attr`: one user even if several match).
#[utoipa::path(post, path = "/api/v1/users/find-by-sys-attr", tag = "users",
    request_body = SysAttrQuery,
    responses((status = 200, body = User), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn find_by_sys_attr(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<SysAttrQuery>,
) -> ApiResult<axum::Json<User>> {
    let value = b
        .value
        .ok_or_else(|| ApiError::invalid("value", "required"))?;
    let path = attr_path(&b.key)?;
    let tenants = super::tenant_filter(&ctx, b.tenant_id)?;
    users::find_by_sys_attr(
        &app.provider.db,
        &path,
        &value,
        &tenants,
        ctx.actor.tenant_id(),
    )
    .await?
    .map(axum::Json)
    .ok_or(ApiError::NotFound("user"))
}

/// The segments of an attribute key: 1 to 8 non-empty names without quotes or backslashes.
fn attr_path(key: &str) -> ApiResult<Vec<&str>> {
    let segs: Vec<&str> = key.split('.').collect();
    let ok = !key.is_empty()
        && key.len() <= 128
        && segs.len() <= attrs::MAX_DEPTH
        && segs
            .iter()
            .all(|s| !s.is_empty() && !s.chars().any(|c| c == '"' || c == '\\' || c.is_control()));
    if ok {
        Ok(segs)
    } else {
        Err(ApiError::invalid(
            "key",
            "1 to 8 dot-separated non-empty names, at most 128 bytes, without '\"' or '\\'",
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Create, read, update, delete
// ---------------------------------------------------------------------------------------------

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

/// Profile fields of a create or update body (`Some("")` clears an optional field).
#[derive(Debug, Default)]
struct ProfilePatch {
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

/// Applies a patch to a profile, checking each field.
fn apply_profile(mut p: Profile, patch: ProfilePatch) -> ApiResult<Profile> {
    fn set(
        slot: &mut Option<String>,
        value: Option<String>,
        check: impl Fn(&str) -> ApiResult<()>,
    ) -> ApiResult<()> {
        if let Some(v) = value {
            if v.is_empty() {
                *slot = None;
            } else {
                check(&v)?;
                *slot = Some(v);
            }
        }
        Ok(())
    }
    let text = |field: &'static str, max: usize| move |v: &str| validate::text(field, v, max);
    let old_email = p.email.clone();
    let old_phone = p.phone.clone();
    set(&mut p.email, patch.email, validate::email)?;
    set(&mut p.phone, patch.phone, validate::phone)?;
    set(&mut p.name, patch.name, text("name", 64))?;
    set(&mut p.given_name, patch.given_name, text("given_name", 64))?;
    set(
        &mut p.family_name,
        patch.family_name,
        text("family_name", 64),
    )?;
    set(&mut p.realname, patch.realname, text("realname", 64))?;
    set(&mut p.nickname, patch.nickname, text("nickname", 64))?;
    set(&mut p.birthdate, patch.birthdate, validate::birthdate)?;
    set(&mut p.picture, patch.avatar, |v| validate::url("avatar", v))?;
    set(&mut p.locale, patch.locale, text("locale", 35))?;
    set(&mut p.zoneinfo, patch.zoneinfo, text("zoneinfo", 64))?;
    set(&mut p.title, patch.title, text("title", 64))?;
    set(&mut p.country, patch.country, text("country", 32))?;
    set(&mut p.address, patch.address, text("address", 200))?;
    if let Some(g) = patch.gender {
        validate::gender(&g)?;
        p.gender = g;
    }
    // A changed address or number is not verified any more.
    if p.email != old_email {
        p.email_verified = false;
    }
    if p.phone != old_phone {
        p.phone_verified = false;
    }
    Ok(p)
}

/// Refuses making someone ADMIN of `tenant` unless the caller administers it (a super
/// administrator for the default tenant, whose ADMINs are super administrators).
fn may_make_admin(ctx: &Ctx, tenant: &str) -> ApiResult<()> {
    let ok = if tenant == DEFAULT_TENANT {
        ctx.is_super()
    } else {
        ctx.administers(tenant)
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only an administrator of the tenant can make someone an administrator",
        ))
    }
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem)))]
async fn create_user(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<CreateUser>,
) -> ApiResult<Response> {
    let tenant_id = b
        .tenant_id
        .unwrap_or_else(|| ctx.actor.tenant_id().to_owned());
    ctx.require(&tenant_id, "tenant")?;
    validate::username(&b.username)?;
    if b.password.chars().count() < 8 || b.password.len() > MAX_PASSWORD_BYTES {
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

/// `trial_end_at` of a body: 0 clears, negative is refused.
fn trial_value(v: Option<i64>) -> ApiResult<Option<i64>> {
    match v {
        None | Some(0) => Ok(None),
        Some(t) if t < 0 => Err(ApiError::invalid(
            "trial_end_at",
            "unix seconds, or 0 for none",
        )),
        Some(t) => Ok(Some(t)),
    }
}

/// Get a user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 404, body = Problem)))]
async fn get_user(
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
async fn update_user(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<UpdateUser>,
) -> ApiResult<axum::Json<User>> {
    let user = visible_user(&app, &ctx, &id).await?;
    may_manage(&app, &ctx, &user).await?;
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

/// Names of the profile fields that differ (values stay out of the audit log).
fn changed_fields(u: &User, p: &Profile) -> Vec<&'static str> {
    let old = Profile::of(u);
    let pairs: [(&'static str, bool); 17] = [
        ("email", old.email != p.email),
        ("email_verified", old.email_verified != p.email_verified),
        ("phone", old.phone != p.phone),
        ("phone_verified", old.phone_verified != p.phone_verified),
        ("name", old.name != p.name),
        ("given_name", old.given_name != p.given_name),
        ("family_name", old.family_name != p.family_name),
        ("nickname", old.nickname != p.nickname),
        ("avatar", old.picture != p.picture),
        ("locale", old.locale != p.locale),
        ("zoneinfo", old.zoneinfo != p.zoneinfo),
        ("address", old.address != p.address),
        ("realname", old.realname != p.realname),
        ("gender", old.gender != p.gender),
        ("birthdate", old.birthdate != p.birthdate),
        ("title", old.title != p.title),
        ("country", old.country != p.country),
    ];
    pairs.iter().filter(|(_, d)| *d).map(|(n, _)| *n).collect()
}

/// Delete a user (soft: the record stays for the audit trail, the username is freed). Its
/// sessions, tokens and API keys stop working. The built-in administrator cannot be deleted.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn delete_user(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user = visible_user(&app, &ctx, &id).await?;
    may_remove(&app, &ctx, &user).await?;
    remove(&app, &ctx, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks shared by delete and disable: not the built-in administrator, not yourself, and a user
/// the caller may manage.
async fn may_remove(app: &AppState, ctx: &Ctx, user: &User) -> ApiResult<()> {
    if user.is_builtin() {
        return Err(builtin());
    }
    if ctx.is_user(&user.id) {
        return Err(ApiError::forbidden(
            "you cannot delete or disable your own account",
        ));
    }
    may_manage(app, ctx, user).await
}

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
async fn bulk_delete(
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

// ---------------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------------

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
async fn patch_attrs(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<AttrsPatch>,
) -> ApiResult<axum::Json<User>> {
    let user = visible_user(&app, &ctx, &id).await?;
    may_manage(&app, &ctx, &user).await?;
    merge_into(&app, &ctx, &user, AttrColumn::Attrs, &b.attrs).await?;
    reload(&app, &id).await.map(axum::Json)
}

/// Merge into a user's `sys_attrs`, which users cannot edit themselves (seed 000
/// `save-user-sys-attrs`). Editing your own needs a tenant administrator.
#[utoipa::path(patch, path = "/api/v1/users/{id}/sys-attrs", tag = "users", request_body = SysAttrsPatch,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn patch_sys_attrs(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<SysAttrsPatch>,
) -> ApiResult<axum::Json<User>> {
    let user = visible_user(&app, &ctx, &id).await?;
    may_manage(&app, &ctx, &user).await?;
    if ctx.is_user(&id) && !ctx.administers(&user.tenant_id) {
        return Err(ApiError::forbidden("you cannot change your own sys_attrs"));
    }
    merge_into(&app, &ctx, &user, AttrColumn::SysAttrs, &b.sys_attrs).await?;
    reload(&app, &id).await.map(axum::Json)
}

/// Merges `patch` into a user's attribute column and audits the keys (not the values).
pub(super) async fn merge_into(
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

// ---------------------------------------------------------------------------------------------
// Account state
// ---------------------------------------------------------------------------------------------

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
async fn reset_password(
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
    let user = visible_user(&app, &ctx, &id).await?;
    may_manage(&app, &ctx, &user).await?;
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
async fn enable_user(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<User>> {
    let user = visible_user(&app, &ctx, &id).await?;
    may_manage(&app, &ctx, &user).await?;
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
async fn disable_user(
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
async fn set_trial(
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
async fn revoke_sessions(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Revoked>> {
    let user = visible_user(&app, &ctx, &id).await?;
    may_manage(&app, &ctx, &user).await?;
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

// ---------------------------------------------------------------------------------------------
// What the user holds
// ---------------------------------------------------------------------------------------------

/// A role a user holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeldRole {
    #[serde(flatten)]
    role: Role,
    /// Held only through a group (not assigned directly).
    inherited: bool,
}

/// The roles of a user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserRoles {
    /// Seed 000 `list-user-roles`: the user type first, then the codes of every role held.
    codes: Vec<String>,
    roles: Vec<HeldRole>,
}

/// Roles a user holds, directly or through its groups.
#[utoipa::path(get, path = "/api/v1/users/{id}/roles", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserRoles), (status = 404, body = Problem)))]
async fn user_roles(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<UserRoles>> {
    let user = visible_user(&app, &ctx, &id).await?;
    let db = &app.provider.db;
    let direct: BTreeSet<String> = roles::of_user(db, &id, false)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let all = roles::of_user(db, &id, true).await?;
    let mut codes = vec![user.user_type.clone()];
    for r in &all {
        if !codes.contains(&r.code) {
            codes.push(r.code.clone());
        }
    }
    let roles = all
        .into_iter()
        .map(|role| HeldRole {
            inherited: !direct.contains(&role.id),
            role,
        })
        .collect();
    Ok(axum::Json(UserRoles { codes, roles }))
}

/// Groups a user is a direct member of.
#[utoipa::path(get, path = "/api/v1/users/{id}/groups", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = Vec<Group>), (status = 404, body = Problem)))]
async fn user_groups(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<Group>>> {
    visible_user(&app, &ctx, &id).await?;
    Ok(axum::Json(groups::of_user(&app.provider.db, &id).await?))
}

/// Query of `GET /api/v1/users/{id}/permissions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PermissionQuery {
    /// The application whose catalogue to read (default `gatehouse-admin`).
    application_id: Option<String>,
}

/// One item a user holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EffectiveItem {
    /// Tenant of the role that grants it: the item holds there only.
    tenant_id: String,
    /// Permission item id.
    id: String,
    code: String,
    kind: String,
    /// API patterns of the item.
    #[schema(value_type = Vec<crate::authz::ApiSpec>)]
    apis: Value,
}

/// A user's effective permissions in one application.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EffectivePermissions {
    application_id: String,
    /// ADMIN of the default tenant: everything, everywhere.
    super_admin: bool,
    /// Tenants the user administers (everything there).
    admin_tenants: Vec<String>,
    /// Items granted by the user's direct and group-inherited roles.
    items: Vec<EffectiveItem>,
}

/// A user's effective permissions: the union of the items granted by its direct and inherited
/// roles, plus its administrator flags.
#[utoipa::path(get, path = "/api/v1/users/{id}/permissions", tag = "users",
    params(("id" = String, Path, description = "User id"), PermissionQuery),
    responses((status = 200, body = EffectivePermissions), (status = 404, body = Problem)))]
async fn user_permissions(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<PermissionQuery>,
) -> ApiResult<axum::Json<EffectivePermissions>> {
    let user = visible_user(&app, &ctx, &id).await?;
    let db = &app.provider.db;
    let application_id = q.application_id.unwrap_or_else(|| ADMIN_APP.to_owned());
    if application_id.len() > 256 || clients::find(db, &application_id).await?.is_none() {
        return Err(ApiError::NotFound("application"));
    }
    let info = SubjectInfo {
        subject: Subject::User(&user.id),
        tenant_id: &user.tenant_id,
        user_type: Some(&user.user_type),
    };
    let authority = authz::authority(db, &info, &application_id).await?;
    let mut admin_tenants: Vec<String> = authority.admin_tenants.into_iter().collect();
    admin_tenants.sort();
    let items = permissions::granted_items(db, Subject::User(&user.id), &application_id)
        .await?
        .into_iter()
        .map(|g| EffectiveItem {
            tenant_id: g.tenant_id,
            id: g.permission_id,
            code: g.code,
            kind: g.kind,
            apis: serde_json::from_str(&g.apis).unwrap_or(Value::Array(Vec::new())),
        })
        .collect();
    Ok(axum::Json(EffectivePermissions {
        application_id,
        super_admin: authority.super_admin,
        admin_tenants,
        items,
    }))
}

/// A user's API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/users/{id}/api-keys", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = Vec<ApiKey>), (status = 404, body = Problem)))]
async fn list_keys(
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
    responses((status = 201, body = super::me::CreatedKey), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn create_key(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<CreateKey>,
) -> ApiResult<Response> {
    let user = visible_user(&app, &ctx, &id).await?;
    may_manage(&app, &ctx, &user).await?;
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
    super::me::create_for(&app, &ctx, &id, &user.tenant_id, b).await
}

/// Revoke one of a user's API keys.
#[utoipa::path(delete, path = "/api/v1/users/{id}/api-keys/{key_id}", tag = "users",
    params(("id" = String, Path, description = "User id"), ("key_id" = String, Path, description = "API key id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_key(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let user = visible_user(&app, &ctx, &id).await?;
    may_manage(&app, &ctx, &user).await?;
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

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The user, if it exists and this request is allowed in its main tenant (else 404).
async fn visible_user(app: &AppState, ctx: &Ctx, id: &str) -> ApiResult<User> {
    if id.len() > 64 {
        return Err(ApiError::NotFound("user"));
    }
    let user = users::find(&app.provider.db, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    ctx.require(&user.tenant_id, "user")?;
    Ok(user)
}

/// The user after a change.
async fn reload(app: &AppState, id: &str) -> ApiResult<User> {
    users::find(&app.provider.db, id)
        .await?
        .ok_or(ApiError::NotFound("user"))
}

/// Refuses a change to an administrator by someone who does not administer the tenants that
/// user administers (a super administrator — ADMIN of the default tenant — only by a super
/// administrator). Otherwise a role-based manager could, e.g., reset an administrator's password
/// and sign in with the link.
async fn may_manage(app: &AppState, ctx: &Ctx, user: &User) -> ApiResult<()> {
    if ctx.is_super() {
        return Ok(());
    }
    let mut administered = permissions::admin_tenants(&app.provider.db, &user.id).await?;
    if user.user_type == "ADMIN" {
        administered.push(user.tenant_id.clone());
    }
    for tenant in &administered {
        if tenant == DEFAULT_TENANT || !ctx.administers(tenant) {
            return Err(ApiError::forbidden(
                "this user is an administrator: only an administrator of the same tenants can change it",
            ));
        }
    }
    Ok(())
}

fn builtin() -> ApiError {
    ApiError::conflict(
        "builtin_user",
        "the built-in administrator can be neither deleted nor disabled",
    )
}
