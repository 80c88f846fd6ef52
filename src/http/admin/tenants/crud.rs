//! Create, list, read, update (and move) and delete tenants. The checks of a write are in
//! [`super::checks`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::checks::{changed_fields, check_move, check_new_applications, refuse_taken, taken_race};
use super::visible_tenant;
use crate::directory::tenants::{self as rules, MAX_DEPTH};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::{self, Actor, Body, Ctx, Page, Paging, Query};
use crate::state::AppState;
use crate::store::Db;
use crate::store::tenants::{self, DEFAULT_TENANT, Tenant, TenantFields};

/// Filters of `GET /api/v1/tenants`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TenantFilter {
    /// `""`: top-level tenants only; an id: the children of that tenant.
    parent_id: Option<String>,
    /// Substring of the code, name or title (case-insensitive).
    q: Option<String>,
    /// Rows to skip (default 0).
    offset: Option<i64>,
    /// Rows to return (default 20, at most 1000).
    limit: Option<i64>,
    /// `name` (default), `code`, `title`, `type`, `industry`, `created_at` or `updated_at`.
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    order: Option<String>,
}

/// List the tenants the caller may see.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", params(TenantFilter),
    responses((status = 200, body = Page<Tenant>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn list_tenants(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(f): Query<TenantFilter>,
) -> ApiResult<axum::Json<Page<Tenant>>> {
    let paging = Paging::new(f.offset, f.limit, f.sort, f.order);
    let (offset, limit) = paging.window()?;
    let sort = paging.sort_column(&[
        ("name", "name"),
        ("code", "code"),
        ("title", "title"),
        ("type", "tenant_type"),
        ("industry", "industry"),
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
    ])?;
    let dir = paging.direction(false)?;
    let filter = tenants::Filter {
        tenants: admin::tenant_filter(&ctx, None)?,
        parent_id: f.parent_id,
        q: f.q,
    };
    let (total, items) = tenants::list(&app.provider.db, &filter, sort, dir, offset, limit).await?;
    Ok(axum::Json(Page {
        total,
        offset,
        limit,
        items,
    }))
}

/// Body of `POST /api/v1/tenants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// Parent tenant; absent or `""`: a top-level tenant (super administrators only).
    parent_id: Option<String>,
    /// Unique, 1–32 letters and digits.
    code: String,
    /// Unique full name, at most 32 characters.
    name: String,
    /// Short name, at most 32 characters (default: the name).
    title: Option<String>,
    #[serde(default)]
    description: String,
    /// Logo URL.
    #[serde(default)]
    logo: String,
    #[serde(default)]
    industry: String,
    #[serde(default, rename = "type")]
    tenant_type: String,
    /// Username of the account holder.
    #[serde(default)]
    owner: String,
    /// Free JSON object.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// Ids of applications to enable (at most 100).
    #[serde(default)]
    applications: Vec<String>,
}

/// Create a tenant. A caller who is not a super administrator becomes an administrator of the
/// tenant it creates (it administers the parent already).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 201, body = Tenant), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(super) async fn create_tenant(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<CreateTenant>,
) -> ApiResult<Response> {
    let db = &app.provider.db;
    let parent_id = b.parent_id.filter(|p| !p.is_empty());
    match &parent_id {
        None if !ctx.is_super() => {
            return Err(ApiError::forbidden(
                "only super administrators create top-level tenants",
            ));
        }
        None => {}
        Some(p) => {
            visible_tenant(&app, &ctx, p).await?;
            if !ctx.administers(p) {
                return Err(ApiError::forbidden(
                    "only administrators of the parent tenant create tenants under it",
                ));
            }
        }
    }
    let fields = TenantFields {
        parent_id,
        title: b.title.unwrap_or_else(|| b.name.clone()),
        code: b.code,
        name: b.name,
        description: b.description,
        logo: b.logo,
        industry: b.industry,
        tenant_type: b.tenant_type,
        owner: b.owner,
        metadata: b.metadata.unwrap_or_else(|| json!({})),
        applications: b.applications,
    };
    rules::check(&fields)?;
    check_new_applications(db, &ctx, &[], &fields.applications).await?;
    refuse_taken(db, &fields, "").await?;
    let tenant = tenants::insert(db, &fields, ctx.now)
        .await
        .map_err(taken_race)?;
    ctx.audit(
        &app,
        Some(&tenant.id),
        "tenant",
        &tenant.id,
        "add",
        json!({ "code": tenant.code, "name": tenant.name, "parent_id": tenant.parent_id }),
    )
    .await?;
    if let (Actor::User { id, .. }, false) = (&ctx.actor, ctx.is_super()) {
        tenants::set_member(db, &tenant.id, id, true, ctx.now).await?;
        ctx.audit(
            &app,
            Some(&tenant.id),
            "user",
            id,
            "add_member",
            json!({ "tenant_id": tenant.id, "is_admin": true, "reason": "creator" }),
        )
        .await?;
    }
    Ok((StatusCode::CREATED, axum::Json(tenant)).into_response())
}

/// Options of `GET /api/v1/tenants/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TenantView {
    /// Load the whole subtree in `children` (default: the direct children only).
    #[serde(default)]
    recursive: bool,
}

/// Get a tenant with its children (those the caller may see).
#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenants",
    params(("id" = String, Path, description = "Tenant id"), TenantView),
    responses((status = 200, body = Tenant), (status = 404, body = Problem)))]
pub(super) async fn get_tenant(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(v): Query<TenantView>,
) -> ApiResult<axum::Json<Tenant>> {
    let mut tenant = visible_tenant(&app, &ctx, &id).await?;
    let depth = if v.recursive { MAX_DEPTH } else { 1 };
    tenant.children = Some(children(&app.provider.db, &ctx, &tenant.id, depth).await?);
    Ok(axum::Json(tenant))
}

/// The visible children of `id`, `depth` levels deep (`children` of the last level not loaded).
async fn children(db: &Db, ctx: &Ctx, id: &str, depth: usize) -> ApiResult<Vec<Tenant>> {
    let mut out: Vec<Tenant> = tenants::children(db, id)
        .await?
        .into_iter()
        .filter(|t| ctx.allows(&t.id))
        .collect();
    if depth > 1 {
        for child in &mut out {
            child.children = Some(Box::pin(children(db, ctx, &child.id, depth - 1)).await?);
        }
    }
    Ok(out)
}

/// Body of `PATCH /api/v1/tenants/{id}`: absent fields are kept.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// New parent (`""`: top level). Moving needs administrators of the old and new parents.
    parent_id: Option<String>,
    code: Option<String>,
    name: Option<String>,
    title: Option<String>,
    description: Option<String>,
    logo: Option<String>,
    industry: Option<String>,
    #[serde(rename = "type")]
    tenant_type: Option<String>,
    owner: Option<String>,
    /// Replaces the whole object.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// Replaces the list of enabled applications.
    applications: Option<Vec<String>>,
}

/// Update a tenant.
#[utoipa::path(patch, path = "/api/v1/tenants/{id}", tag = "tenants", request_body = UpdateTenant,
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Tenant), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(super) async fn update_tenant(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<UpdateTenant>,
) -> ApiResult<axum::Json<Tenant>> {
    let db = &app.provider.db;
    let tenant = visible_tenant(&app, &ctx, &id).await?;
    let old = tenant.fields();
    let mut f = tenant.fields();
    if let Some(p) = b.parent_id {
        f.parent_id = Some(p).filter(|p| !p.is_empty());
    }
    macro_rules! take {
        ($($field:ident),*) => {$(if let Some(v) = b.$field { f.$field = v; })*};
    }
    take!(
        code,
        name,
        title,
        description,
        logo,
        industry,
        tenant_type,
        owner,
        metadata,
        applications
    );
    if id == DEFAULT_TENANT && (f.code != old.code || f.parent_id != old.parent_id) {
        return Err(ApiError::invalid(
            "code",
            "the default tenant keeps its code and stays at the top level",
        ));
    }
    rules::check(&f)?;
    let moved = f.parent_id != old.parent_id;
    if moved {
        check_move(
            db,
            &ctx,
            &id,
            old.parent_id.as_deref(),
            f.parent_id.as_deref(),
        )
        .await?;
    }
    check_new_applications(db, &ctx, &old.applications, &f.applications).await?;
    refuse_taken(db, &f, &id).await?;
    tenants::update(db, &id, &f, ctx.now)
        .await
        .map_err(taken_race)?;
    let changed = changed_fields(&old, &f);
    ctx.audit(
        &app,
        Some(&id),
        "tenant",
        &id,
        if moved { "move" } else { "update" },
        json!({ "changed": changed, "parent_id": f.parent_id, "applications": f.applications }),
    )
    .await?;
    Ok(axum::Json(
        tenants::get(db, &id)
            .await?
            .ok_or(ApiError::NotFound("tenant"))?,
    ))
}

/// Delete an empty tenant. The default tenant cannot be deleted (409 `default_tenant`); a
/// tenant that still has users, groups, roles, applications or children is refused (409
/// `tenant_not_empty`).
#[utoipa::path(delete, path = "/api/v1/tenants/{id}", tag = "tenants",
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub(super) async fn delete_tenant(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let db = &app.provider.db;
    let tenant = visible_tenant(&app, &ctx, &id).await?;
    if id == DEFAULT_TENANT {
        return Err(ApiError::conflict(
            "default_tenant",
            "the default tenant cannot be deleted",
        ));
    }
    let allowed = match &tenant.parent_id {
        None => ctx.is_super(),
        Some(p) => ctx.administers(p),
    };
    if !allowed {
        return Err(ApiError::forbidden(
            "only administrators of the parent tenant delete a tenant",
        ));
    }
    let c = tenants::contents(db, &id).await?;
    if !c.is_empty() {
        return Err(ApiError::conflict(
            "tenant_not_empty",
            format!(
                "the tenant still has {} users, {} groups, {} roles, {} applications and {} \
                 child tenants",
                c.users, c.groups, c.roles, c.applications, c.children
            ),
        ));
    }
    tenants::delete(db, &id).await?;
    ctx.audit(
        &app,
        Some(&id),
        "tenant",
        &id,
        "del",
        json!({ "code": tenant.code, "name": tenant.name, "parent_id": tenant.parent_id }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
