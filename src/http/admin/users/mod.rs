//! `/api/v1/users`: users of a tenant — CRUD, search, exact lookups (seed 000), attribute merges,
//! password reset by link, enable/disable, trial, session revocation, and what a user holds
//! (roles, groups, effective permissions, API keys).
//!
//! Visibility is by the user's main tenant (`ctx.require(user.tenant_id)`). On top of the
//! catalogue, [`may_manage`] stops a role-based manager from changing an administrator: changing
//! an ADMIN (or a tenant administrator by membership) needs a caller who administers that tenant,
//! and changing a super administrator needs a super administrator.
//!
//! One module per concern: [`lookup`] (list, batch, exact finds), [`crud`] (create, get, update,
//! delete) with [`profile`] (profile field checks), [`attributes`] (`attrs`/`sys_attrs` merges),
//! [`lifecycle`] (reset, enable/disable, trial, session revocation), [`relations`] (roles, groups,
//! permissions) and [`keys`] (API keys). The checks they share live here.

mod attributes;
mod crud;
mod keys;
mod lifecycle;
mod lookup;
mod profile;
mod relations;

pub(super) use attributes::merge_into;

use std::collections::BTreeSet;

use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::permissions;
use crate::store::tenants::DEFAULT_TENANT;
use crate::store::users::{self, User};

/// Most ids one batch request may name.
const MAX_BATCH: usize = 1000;

/// The routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(lookup::list_users, crud::create_user))
        .routes(routes!(lookup::batch_get))
        .routes(routes!(crud::bulk_delete))
        .routes(routes!(lookup::find_user))
        .routes(routes!(lookup::find_by_sys_attr))
        .routes(routes!(
            crud::get_user,
            crud::update_user,
            crud::delete_user
        ))
        .routes(routes!(attributes::patch_attrs))
        .routes(routes!(attributes::patch_sys_attrs))
        .routes(routes!(lifecycle::reset_password))
        .routes(routes!(lifecycle::enable_user))
        .routes(routes!(lifecycle::disable_user))
        .routes(routes!(lifecycle::set_trial))
        .routes(routes!(lifecycle::revoke_sessions))
        .routes(routes!(relations::user_roles))
        .routes(routes!(relations::user_groups))
        .routes(routes!(relations::user_permissions))
        .routes(routes!(keys::list_keys, keys::create_key))
        .routes(routes!(keys::revoke_key))
}

/// Body of `POST /api/v1/users/batch-get`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ids {
    /// 1 to 1000 user ids.
    ids: Vec<String>,
}

/// The ids of a batch body: 1 to [`MAX_BATCH`], duplicates dropped (first one kept).
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

/// [`visible_user`], and one the caller may change ([`may_manage`]).
async fn managed_user(app: &AppState, ctx: &Ctx, id: &str) -> ApiResult<User> {
    let user = visible_user(app, ctx, id).await?;
    may_manage(app, ctx, &user).await?;
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

/// The refusal of a change the built-in administrator never undergoes (delete, disable, a new
/// type, a trial).
fn builtin() -> ApiError {
    ApiError::conflict(
        "builtin_user",
        "the built-in administrator can be neither deleted nor disabled",
    )
}
