//! `/api/v1/applications`: the OAuth clients as directory objects — registration (the secret is
//! shown once), per-application token lifetimes, secret rotation, and the roles of the client's
//! service account (what its `client_credentials` tokens may do).
//!
//! Rules on top of the catalogue: only super administrators make first-party applications (they
//! skip consent); giving roles to a service account, or rotating the secret of one that holds
//! roles, needs an administrator of the tenant (anyone else could mint themselves the rights of
//! those roles); `gatehouse-admin` can be neither deleted nor disabled.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Body, Ctx, Page, Paging, Query};
use crate::authz::ADMIN_APP;
use crate::crypto;
use crate::directory::applications as rules;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::store::clients::{self, AppFields, Application, TokenTtls};
use crate::store::tenants;

mod service_roles;

/// The routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_applications, create_application))
        .routes(routes!(
            get_application,
            update_application,
            delete_application
        ))
        .routes(routes!(rotate_secret))
        .routes(routes!(service_roles::list_roles))
        .routes(routes!(
            service_roles::assign_role,
            service_roles::unassign_role
        ))
}

/// Filters of `GET /api/v1/applications`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApplicationFilter {
    /// Only applications of this tenant.
    tenant_id: Option<String>,
    /// Substring of the id, name or description (case-insensitive).
    q: Option<String>,
    /// Only enabled (`true`) or disabled (`false`) applications.
    enabled: Option<bool>,
    /// Rows to skip (default 0).
    offset: Option<i64>,
    /// Rows to return (default 20, at most 1000).
    limit: Option<i64>,
    /// `name` (default), `id`, `created_at` or `updated_at`.
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    order: Option<String>,
}

/// List applications.
#[utoipa::path(get, path = "/api/v1/applications", tag = "applications", params(ApplicationFilter),
    responses((status = 200, body = Page<Application>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_applications(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(f): Query<ApplicationFilter>,
) -> ApiResult<axum::Json<Page<Application>>> {
    let paging = Paging::new(f.offset, f.limit, f.sort, f.order);
    let (offset, limit) = paging.window()?;
    let sort = paging.sort_column(&[
        ("name", "name"),
        ("id", "id"),
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
    ])?;
    let dir = paging.direction(false)?;
    let filter = clients::AppFilter {
        tenants: super::tenant_filter(&ctx, f.tenant_id)?,
        q: f.q,
        enabled: f.enabled,
    };
    let (total, items) =
        clients::list_applications(&app.provider.db, &filter, sort, dir, offset, limit).await?;
    Ok(axum::Json(Page {
        total,
        offset,
        limit,
        items,
    }))
}

/// Body of `POST /api/v1/applications`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApplication {
    /// Tenant of the application (default: the caller's tenant).
    tenant_id: Option<String>,
    /// Display name (shown on the login and consent pages).
    name: String,
    #[serde(default)]
    description: String,
    /// Logo URL.
    #[serde(default)]
    logo: String,
    /// Home page URL.
    #[serde(default)]
    home_url: String,
    /// Exact-match redirect URIs: https, loopback http, or a private-use scheme.
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    /// Exact-match callback URLs of the legacy dialects: https or loopback http.
    #[serde(default)]
    legacy_callback_urls: Vec<String>,
    /// Default: `authorization_code` and `refresh_token`.
    grant_types: Option<Vec<String>>,
    /// A public application has no secret (PKCE required); it cannot change later.
    #[serde(default)]
    public: bool,
    /// First-party applications skip consent (super administrators only; default: true for
    /// them, false for everyone else).
    first_party: Option<bool>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    id_token_alg: Option<String>,
    /// Default true.
    enabled: Option<bool>,
    /// Seconds, at most the server's access token lifetime (default: that lifetime).
    access_token_ttl: Option<i64>,
    /// Seconds (default: the server's refresh token lifetime).
    refresh_token_ttl: Option<i64>,
    /// Seconds (default: the server's ID token lifetime).
    id_token_ttl: Option<i64>,
    /// Seed 001 `sign` as md5 (weak; only for legacy sub-apps that cannot verify HMAC-SHA256).
    #[serde(default)]
    legacy_md5_sign: bool,
    /// Accept seed 001's `api-key` query parameter for this application (leaks into logs).
    #[serde(default)]
    api_key_in_query: bool,
}

/// A registered application and its secret: the only response that carries the secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApplication {
    #[serde(flatten)]
    pub application: Application,
    /// The client secret (confidential applications): shown once, stored as a keyed hash.
    pub client_secret: Option<String>,
}

/// Register an application. The secret of a confidential application is generated and shown
/// only in this response.
#[utoipa::path(post, path = "/api/v1/applications", tag = "applications",
    request_body = CreateApplication,
    responses((status = 201, body = CreatedApplication), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn create_application(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<CreateApplication>,
) -> ApiResult<Response> {
    let db = &app.provider.db;
    let tenant_id = b
        .tenant_id
        .unwrap_or_else(|| ctx.actor.tenant_id().to_owned());
    ctx.require(&tenant_id, "tenant")?;
    if tenants::find(db, &tenant_id).await?.is_none() {
        return Err(ApiError::NotFound("tenant"));
    }
    let first_party = b.first_party.unwrap_or(ctx.is_super());
    if first_party && !ctx.is_super() {
        return Err(ApiError::forbidden(
            "only super administrators register first-party applications",
        ));
    }
    let fields = AppFields {
        name: b.name,
        description: b.description,
        logo: b.logo,
        home_url: b.home_url,
        redirect_uris: b.redirect_uris,
        post_logout_redirect_uris: b.post_logout_redirect_uris,
        legacy_callback_urls: b.legacy_callback_urls,
        grant_types: b
            .grant_types
            .unwrap_or_else(|| vec!["authorization_code".to_owned(), "refresh_token".to_owned()]),
        first_party,
        id_token_alg: b.id_token_alg.unwrap_or_else(|| "RS256".to_owned()),
        enabled: b.enabled.unwrap_or(true),
        ttl: TokenTtls {
            access_token: b.access_token_ttl,
            refresh_token: b.refresh_token_ttl,
            id_token: b.id_token_ttl,
        },
        legacy_md5_sign: b.legacy_md5_sign,
        api_key_in_query: b.api_key_in_query,
    };
    rules::check(&fields, b.public, app.provider.lifetimes.access_token)?;
    let id = uuid::Uuid::now_v7().simple().to_string();
    let secret = (!b.public).then(crypto::random_token);
    // The hash authenticates the client; the sealed copy keys the signdata dialect.
    let stored = secret
        .as_deref()
        .map(|s| rules::stored_secret(&app.provider.keys.current(), &id, s));
    let application = clients::insert_application(
        db,
        &id,
        &tenant_id,
        &fields,
        stored
            .as_ref()
            .map(|(h, s)| clients::StoredSecret { hash: h, sealed: s }),
        ctx.now,
    )
    .await?;
    ctx.audit(
        &app,
        Some(&tenant_id),
        "application",
        &id,
        "add",
        json!({
            "name": application.name,
            "public": application.public,
            "first_party": application.first_party,
            "grant_types": application.grant_types,
            "redirect_uris": application.redirect_uris,
            "legacy_md5_sign": application.legacy_md5_sign,
            "api_key_in_query": application.api_key_in_query,
        }),
    )
    .await?;
    rules::warn_weak(&application.id, None, &fields);
    let body = CreatedApplication {
        application,
        client_secret: secret,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Get an application.
#[utoipa::path(get, path = "/api/v1/applications/{id}", tag = "applications",
    params(("id" = String, Path, description = "Application (client) id")),
    responses((status = 200, body = Application), (status = 404, body = Problem)))]
async fn get_application(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Application>> {
    Ok(axum::Json(visible_application(&app, &ctx, &id).await?))
}

/// `Some(None)` for an explicit `null`, `Some(Some(v))` for a value (with `#[serde(default)]`,
/// an absent field is `None`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `PATCH /api/v1/applications/{id}`: absent fields are kept; `null` lifetimes go back
/// to the server's defaults.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApplication {
    name: Option<String>,
    description: Option<String>,
    logo: Option<String>,
    home_url: Option<String>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    legacy_callback_urls: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    /// Super administrators only.
    first_party: Option<bool>,
    id_token_alg: Option<String>,
    /// A disabled application gets no tokens (within the provider's 5-second client cache).
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    access_token_ttl: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    refresh_token_ttl: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    id_token_ttl: Option<Option<i64>>,
    /// Seed 001 `sign` as md5 (weak; legacy sub-apps only).
    legacy_md5_sign: Option<bool>,
    /// Accept seed 001's `api-key` query parameter (leaks into logs).
    api_key_in_query: Option<bool>,
}

/// Update an application. Of `gatehouse-admin`, only the name, description, logo and home URL
/// change (409 `builtin_application`).
#[utoipa::path(patch, path = "/api/v1/applications/{id}", tag = "applications",
    request_body = UpdateApplication,
    params(("id" = String, Path, description = "Application (client) id")),
    responses((status = 200, body = Application), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn update_application(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<UpdateApplication>,
) -> ApiResult<axum::Json<Application>> {
    let db = &app.provider.db;
    let current = visible_application(&app, &ctx, &id).await?;
    let old = current.fields();
    let mut f = current.fields();
    macro_rules! take {
        ($($field:ident),*) => {$(if let Some(v) = b.$field { f.$field = v; })*};
    }
    take!(
        name,
        description,
        logo,
        home_url,
        redirect_uris,
        post_logout_redirect_uris,
        legacy_callback_urls,
        grant_types,
        first_party,
        id_token_alg,
        enabled,
        legacy_md5_sign,
        api_key_in_query
    );
    if let Some(v) = b.access_token_ttl {
        f.ttl.access_token = v;
    }
    if let Some(v) = b.refresh_token_ttl {
        f.ttl.refresh_token = v;
    }
    if let Some(v) = b.id_token_ttl {
        f.ttl.id_token = v;
    }
    if current.builtin {
        let same_protocol = f.redirect_uris == old.redirect_uris
            && f.post_logout_redirect_uris == old.post_logout_redirect_uris
            && f.legacy_callback_urls == old.legacy_callback_urls
            && f.grant_types == old.grant_types
            && f.first_party == old.first_party
            && f.id_token_alg == old.id_token_alg
            && f.enabled == old.enabled
            && f.ttl == old.ttl
            && f.legacy_md5_sign == old.legacy_md5_sign
            && f.api_key_in_query == old.api_key_in_query;
        if !same_protocol {
            return Err(ApiError::conflict(
                "builtin_application",
                "of gatehouse-admin, only the name, description, logo and home URL can change",
            ));
        }
        rules::check_display(&f)?;
    } else {
        rules::check(&f, current.public, app.provider.lifetimes.access_token)?;
    }
    if f.first_party != old.first_party && !ctx.is_super() {
        return Err(ApiError::forbidden(
            "only super administrators change whether an application is first-party",
        ));
    }
    clients::update_application(db, &id, &f, ctx.now).await?;
    app.provider.forget_client(&id);
    let op = match (old.enabled, f.enabled) {
        (true, false) => "disable",
        (false, true) => "enable",
        _ => "update",
    };
    ctx.audit(
        &app,
        Some(&current.tenant_id),
        "application",
        &id,
        op,
        json!({
            "name": f.name,
            "enabled": f.enabled,
            "grant_types": f.grant_types,
            "redirect_uris": f.redirect_uris,
            "legacy_callback_urls": f.legacy_callback_urls,
            "first_party": f.first_party,
            "access_token_ttl": f.ttl.access_token,
            "refresh_token_ttl": f.ttl.refresh_token,
            "id_token_ttl": f.ttl.id_token,
            "legacy_md5_sign": f.legacy_md5_sign,
            "api_key_in_query": f.api_key_in_query,
        }),
    )
    .await?;
    rules::warn_weak(&id, Some(&old), &f);
    Ok(axum::Json(
        clients::get_application(db, &id)
            .await?
            .ok_or(ApiError::NotFound("application"))?,
    ))
}

/// `?force=true` on deletes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Force {
    /// Delete even though users hold live grants (they are revoked) or roles refer to the
    /// application (service-account roles and grants of its catalogue items are dropped).
    #[serde(default)]
    force: bool,
}

/// Delete an application with its grants, consents, service-account roles and catalogue.
/// Refused (409 `application_in_use`) while live grants exist or roles refer to it, unless
/// forced; `gatehouse-admin` never (409 `builtin_application`).
#[utoipa::path(delete, path = "/api/v1/applications/{id}", tag = "applications",
    params(("id" = String, Path, description = "Application (client) id"), Force),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_application(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(f): Query<Force>,
) -> ApiResult<StatusCode> {
    let db = &app.provider.db;
    let current = visible_application(&app, &ctx, &id).await?;
    refuse_builtin(&current)?;
    let grants = clients::live_grants(db, &id, ctx.now).await?;
    let links = clients::role_links(db, &id).await?;
    if (!grants.is_empty() || links > 0) && !f.force {
        return Err(ApiError::conflict(
            "application_in_use",
            format!(
                "{} live grants and {links} role links refer to this application; use force=true",
                grants.len()
            ),
        ));
    }
    for g in &grants {
        app.provider.revoke_grant(g, ctx.now).await?;
    }
    clients::delete_application(db, &id).await?;
    tenants::forget_application(db, &id, ctx.now).await?;
    app.provider.forget_client(&id);
    ctx.audit(
        &app,
        Some(&current.tenant_id),
        "application",
        &id,
        "del",
        json!({
            "name": current.name,
            "forced": f.force,
            "revoked_grants": grants.len(),
            "role_links": links,
        }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    pub client_id: String,
    pub client_secret: String,
    pub secret_rotated_at: i64,
}

/// Replace the secret of a confidential application. The old secret stops working at once.
#[utoipa::path(post, path = "/api/v1/applications/{id}/rotate-secret", tag = "applications",
    params(("id" = String, Path, description = "Application (client) id")),
    responses((status = 200, body = RotatedSecret), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn rotate_secret(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RotatedSecret>> {
    let db = &app.provider.db;
    let current = visible_application(&app, &ctx, &id).await?;
    refuse_builtin(&current)?;
    if current.public {
        return Err(ApiError::conflict(
            "public_client",
            "a public application has no secret",
        ));
    }
    if !ctx.administers(&current.tenant_id) && !clients::roles_of(db, &id).await?.is_empty() {
        return Err(ApiError::forbidden(
            "the application's service account holds roles: only an administrator of the \
             tenant may rotate its secret",
        ));
    }
    let secret = crypto::random_token();
    let (hash, sealed) = rules::stored_secret(&app.provider.keys.current(), &id, &secret);
    let stored = clients::StoredSecret {
        hash: &hash,
        sealed: &sealed,
    };
    clients::set_secret(db, &id, stored, ctx.now).await?;
    app.provider.forget_client(&id);
    ctx.audit(
        &app,
        Some(&current.tenant_id),
        "application",
        &id,
        "rotate_secret",
        json!({}),
    )
    .await?;
    Ok(axum::Json(RotatedSecret {
        client_id: id,
        client_secret: secret,
        secret_rotated_at: ctx.now,
    }))
}

pub(super) fn refuse_builtin(a: &Application) -> ApiResult<()> {
    if a.id == ADMIN_APP {
        return Err(ApiError::conflict(
            "builtin_application",
            "gatehouse-admin cannot be deleted, disabled or given credentials",
        ));
    }
    Ok(())
}

/// The application, if it exists and this request is allowed in its tenant (else 404).
pub(super) async fn visible_application(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
) -> ApiResult<Application> {
    let a = clients::get_application(&app.provider.db, id)
        .await?
        .ok_or(ApiError::NotFound("application"))?;
    ctx.require(&a.tenant_id, "application")?;
    Ok(a)
}
