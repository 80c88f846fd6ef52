//! The native admin API under `/api/v1`: JSON in and out, RFC 9457 errors, one module per resource.
//! Every route is registered through `utoipa-axum`, so the OpenAPI document lists exactly the
//! routes that exist (and the authorization matrix test walks that document).

mod applications;
mod audit_logs;
mod auth;
mod docs;
mod extract;
mod groups;
mod me;
mod permissions;
mod roles;
mod tenants;
mod users;

pub use auth::{Actor, Ctx};
pub use extract::{Body, Page, Paging, Query};

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Router, middleware};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse admin API",
        description = "Directory and administration: tenants, users, roles, groups, applications, \
                       permission catalogues, API keys and the audit log."
    ),
    modifiers(&Security),
    security(("bearer" = []), ("api_key" = [])),
    components(schemas(crate::error::Problem))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("API-Key"))),
        );
    }
}

/// Routes guarded by the `gatehouse-admin` catalogue.
fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(users::routes())
        .merge(roles::routes())
        .merge(groups::routes())
        .merge(tenants::routes())
        .merge(applications::routes())
        .merge(permissions::routes())
        .merge(audit_logs::routes())
}

/// Routes any authenticated caller may use on itself.
fn self_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(me::routes())
}

/// Tenants a list may show: all allowed ones, or the one asked for if allowed (else 404).
pub(crate) fn tenant_filter(
    ctx: &Ctx,
    asked: Option<String>,
) -> crate::error::ApiResult<Option<Vec<String>>> {
    let scope = ctx.scope();
    match asked {
        Some(t) if scope.contains(&t) => Ok(Some(vec![t])),
        Some(_) => Err(crate::error::ApiError::NotFound("tenant")),
        None => Ok(match scope {
            crate::authz::TenantScope::All => None,
            crate::authz::TenantScope::Some(list) => Some(list),
        }),
    }
}

/// The two guarded routers and the OpenAPI document describing both.
fn parts() -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let (admin, doc_admin) = admin_routes().split_for_parts();
    let (own, doc_own) = self_routes().split_for_parts();
    let mut doc = ApiDoc::openapi();
    doc.merge(doc_admin);
    doc.merge(doc_own);
    (admin, own, doc)
}

/// The admin API router (state still to be provided), with its OpenAPI document served.
pub fn router(state: &AppState) -> Router<AppState> {
    let (admin, own, doc) = parts();
    let json = doc.to_json().unwrap_or_else(|_| "{}".into()).into_bytes();
    let admin = admin.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_permission,
    ));
    let own = own.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_principal,
    ));
    let public = Router::new()
        .route("/api/v1/openapi.json", get(docs::openapi_json))
        .route("/api/v1/docs", get(docs::page))
        .layer(Extension(docs::OpenApiDoc(Arc::new(json))));
    admin.merge(own).merge(public)
}

/// The OpenAPI document alone.
pub fn openapi() -> utoipa::openapi::OpenApi {
    parts().2
}
