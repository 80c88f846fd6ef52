//! Reading users: the filtered list, a batch by ids, and the exact lookups of seed 000 (by
//! username, e-mail or phone, and by a typed `sys_attrs` value).

use axum::extract::State;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{Ids, checked_ids};
use crate::directory::{attrs, validate};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::{self, Body, Ctx, Page, Paging, Query};
use crate::state::AppState;
use crate::store::users::{self, ExactField, User};

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
pub(super) async fn list_users(
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
        tenants: admin::tenant_filter(&ctx, f.tenant_id)?,
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

/// The users among `ids` that exist and are visible, in the order asked (seed 000
/// `list-users-by-ids`); others are left out.
#[utoipa::path(post, path = "/api/v1/users/batch-get", tag = "users", request_body = Ids,
    responses((status = 200, body = Vec<User>), (status = 400, body = Problem)))]
pub(super) async fn batch_get(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<Ids>,
) -> ApiResult<axum::Json<Vec<User>>> {
    let ids = checked_ids(b.ids)?;
    let tenants = admin::tenant_filter(&ctx, None)?;
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
pub(super) async fn find_user(
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
    let tenants = admin::tenant_filter(&ctx, f.tenant_id)?;
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
pub(super) async fn find_by_sys_attr(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<SysAttrQuery>,
) -> ApiResult<axum::Json<User>> {
    let value = b
        .value
        .ok_or_else(|| ApiError::invalid("value", "required"))?;
    let path = attr_path(&b.key)?;
    let tenants = admin::tenant_filter(&ctx, b.tenant_id)?;
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
