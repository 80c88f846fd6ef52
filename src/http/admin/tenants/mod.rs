//! `/api/v1/tenants`: the tenant tree (seed 001 companies) and memberships (seed 002
//! `tenantList`).
//!
//! A tenant object's own tenant is itself: callers see the tenants in their scope (super
//! administrators: all). Creating or deleting a tenant is an act on its parent: a top-level
//! tenant needs a super administrator, a child one an administrator of the parent.
//!
//! [`crud`] holds the tenant endpoints, [`members`] the membership ones, [`checks`] the checks a
//! tenant write goes through.

mod checks;
mod crud;
mod members;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::tenants::{self, Tenant};

/// The routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::list_tenants, crud::create_tenant))
        .routes(routes!(
            crud::get_tenant,
            crud::update_tenant,
            crud::delete_tenant
        ))
        .routes(routes!(members::list_members))
        .routes(routes!(members::put_member, members::delete_member))
}

/// The tenant, if it exists and this request is allowed in it (else 404).
async fn visible_tenant(app: &AppState, ctx: &Ctx, id: &str) -> ApiResult<Tenant> {
    let tenant = tenants::get(&app.provider.db, id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    ctx.require(&tenant.id, "tenant")?;
    Ok(tenant)
}
