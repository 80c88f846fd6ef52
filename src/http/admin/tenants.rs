//! `/api/v1/tenants`: the tenant tree (seed 001 companies) and memberships (seed 002
//! `tenantList`).
//!
//! A tenant object's own tenant is itself: callers see the tenants in their scope (super
//! administrators: all). Creating or deleting a tenant is an act on its parent: a top-level
//! tenant needs a super administrator, a child one an administrator of the parent.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Actor, Body, Ctx, Page, Paging, Query};
use crate::directory::tenants::{self as rules, MAX_DEPTH};
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::store::tenants::{self, DEFAULT_TENANT, Member, Tenant, TenantFields};
use crate::store::{Db, clients, users};

/// The routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, update_tenant, delete_tenant))
        .routes(routes!(list_members))
        .routes(routes!(put_member, delete_member))
}

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
async fn list_tenants(
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
        tenants: super::tenant_filter(&ctx, None)?,
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
async fn create_tenant(
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
async fn get_tenant(
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
async fn update_tenant(
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
async fn delete_tenant(
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

/// Paging of `GET /api/v1/tenants/{id}/members`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MemberPaging {
    /// Rows to skip (default 0).
    offset: Option<i64>,
    /// Rows to return (default 20, at most 1000).
    limit: Option<i64>,
    /// Only `created_at` (the user's creation).
    sort: Option<String>,
    /// Only `asc`.
    order: Option<String>,
}

/// The users of a tenant: those whose main tenant it is and members, with their admin flag.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/members", tag = "tenants",
    params(("id" = String, Path, description = "Tenant id"), MemberPaging),
    responses((status = 200, body = Page<Member>), (status = 404, body = Problem)))]
async fn list_members(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(p): Query<MemberPaging>,
) -> ApiResult<axum::Json<Page<Member>>> {
    let paging = Paging::new(p.offset, p.limit, p.sort, p.order);
    let (offset, limit) = paging.window()?;
    paging.sort_column(&[("created_at", "created_at")])?;
    if paging.direction(false)? != "ASC" {
        return Err(ApiError::invalid("order", "asc"));
    }
    visible_tenant(&app, &ctx, &id).await?;
    let (total, items) = tenants::members(&app.provider.db, &id, offset, limit).await?;
    Ok(axum::Json(Page {
        total,
        offset,
        limit,
        items,
    }))
}

/// Body of `PUT /api/v1/tenants/{id}/members/{user_id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutMember {
    /// Make the user an administrator of the tenant (only its administrators may set or clear
    /// this; of the default tenant, only super administrators).
    #[serde(default)]
    is_admin: bool,
}

/// Add a user to a tenant, or change its admin flag there. Nobody changes their own
/// membership (unless super administrator).
#[utoipa::path(put, path = "/api/v1/tenants/{id}/members/{user_id}", tag = "tenants",
    request_body = PutMember,
    params(("id" = String, Path, description = "Tenant id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn put_member(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, user_id)): Path<(String, String)>,
    Body(b): Body<PutMember>,
) -> ApiResult<StatusCode> {
    let db = &app.provider.db;
    visible_tenant(&app, &ctx, &id).await?;
    if ctx.is_user(&user_id) && !ctx.is_super() {
        return Err(ApiError::forbidden(
            "you cannot change your own memberships",
        ));
    }
    let user = users::find(db, &user_id)
        .await?
        .filter(|u| ctx.allows(&u.tenant_id))
        .ok_or(ApiError::NotFound("user"))?;
    let current = tenants::membership(db, &id, &user_id).await?;
    if (b.is_admin || current == Some(true)) && !ctx.administers(&id) {
        return Err(ApiError::forbidden(
            "only administrators of the tenant change its administrators",
        ));
    }
    if b.is_admin && id == DEFAULT_TENANT && !ctx.is_super() {
        return Err(ApiError::forbidden(
            "only super administrators make administrators of the default tenant",
        ));
    }
    if current == Some(b.is_admin) {
        return Ok(StatusCode::NO_CONTENT);
    }
    tenants::set_member(db, &id, &user_id, b.is_admin, ctx.now).await?;
    let main = user.tenant_id == id;
    ctx.audit(
        &app,
        Some(&id),
        "user",
        &user_id,
        if current.is_none() && !main {
            "add_member"
        } else {
            "update"
        },
        json!({ "tenant_id": id, "is_admin": b.is_admin }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user's membership of a tenant, with the roles and group memberships it held there.
/// A user's main tenant cannot be removed (409 `main_tenant`).
#[utoipa::path(delete, path = "/api/v1/tenants/{id}/members/{user_id}", tag = "tenants",
    params(("id" = String, Path, description = "Tenant id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn delete_member(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let db = &app.provider.db;
    visible_tenant(&app, &ctx, &id).await?;
    let user = users::find(db, &user_id).await?;
    if user.as_ref().is_some_and(|u| u.tenant_id == id) {
        return Err(ApiError::conflict(
            "main_tenant",
            "this is the user's main tenant: it cannot be left",
        ));
    }
    let current = tenants::membership(db, &id, &user_id)
        .await?
        .ok_or(ApiError::NotFound("membership"))?;
    if ctx.is_user(&user_id) && !ctx.is_super() {
        return Err(ApiError::forbidden(
            "you cannot change your own memberships",
        ));
    }
    if current && !ctx.administers(&id) {
        return Err(ApiError::forbidden(
            "only administrators of the tenant remove its administrators",
        ));
    }
    if !tenants::remove_member(db, &id, &user_id).await? {
        return Err(ApiError::NotFound("membership"));
    }
    ctx.audit(
        &app,
        Some(&id),
        "user",
        &user_id,
        "remove_member",
        json!({ "tenant_id": id, "was_admin": current }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant, if it exists and this request is allowed in it (else 404).
async fn visible_tenant(app: &AppState, ctx: &Ctx, id: &str) -> ApiResult<Tenant> {
    let tenant = tenants::get(&app.provider.db, id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    ctx.require(&tenant.id, "tenant")?;
    Ok(tenant)
}

/// Moving a tenant: the new parent exists, is visible and is not inside the tenant; the caller
/// administers the old and the new parent (the top level belongs to super administrators).
async fn check_move(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> ApiResult<()> {
    let administers = |p: Option<&str>| match p {
        None => ctx.is_super(),
        Some(p) => ctx.administers(p),
    };
    if let Some(to) = to {
        if tenants::get(db, to).await?.is_none() || !ctx.allows(to) {
            return Err(ApiError::NotFound("tenant"));
        }
        let mut ancestry = vec![to.to_owned()];
        let mut cur = to.to_owned();
        while let Some(Some(p)) = tenants::parent_of(db, &cur).await? {
            if ancestry.len() > MAX_DEPTH || ancestry.contains(&p) {
                break;
            }
            ancestry.push(p.clone());
            cur = p;
        }
        if rules::creates_cycle(id, &ancestry) {
            return Err(ApiError::conflict(
                "tenant_cycle",
                "a tenant cannot move below itself",
            ));
        }
    }
    if !administers(from) || !administers(to) {
        return Err(ApiError::forbidden(
            "moving a tenant needs administrators of its old and new parents",
        ));
    }
    Ok(())
}

/// Applications newly enabled for a tenant must exist and belong to a tenant where the caller
/// may do this (only their owner decides who uses them).
async fn check_new_applications(
    db: &Db,
    ctx: &Ctx,
    before: &[String],
    after: &[String],
) -> ApiResult<()> {
    for a in after.iter().filter(|a| !before.contains(a)) {
        let ok = clients::find(db, a)
            .await?
            .is_some_and(|c| ctx.allows(&c.tenant_id));
        if !ok {
            return Err(ApiError::invalid(
                "applications",
                &format!("no application {a:?}"),
            ));
        }
    }
    Ok(())
}

async fn refuse_taken(db: &Db, f: &TenantFields, except: &str) -> ApiResult<()> {
    let (code, name) = tenants::taken(db, &f.code, &f.name, except).await?;
    if code {
        return Err(ApiError::conflict(
            "tenant_code_taken",
            "another tenant has this code",
        ));
    }
    if name {
        return Err(ApiError::conflict(
            "tenant_name_taken",
            "another tenant has this name",
        ));
    }
    Ok(())
}

fn taken_race(e: crate::store::StoreError) -> ApiError {
    match e {
        crate::store::StoreError::Conflict(_) => {
            ApiError::conflict("tenant_name_taken", "another tenant has this code or name")
        }
        e => e.into(),
    }
}

fn changed_fields(a: &TenantFields, b: &TenantFields) -> Vec<&'static str> {
    let mut out = Vec::new();
    let pairs: [(&'static str, bool); 11] = [
        ("parent_id", a.parent_id != b.parent_id),
        ("code", a.code != b.code),
        ("name", a.name != b.name),
        ("title", a.title != b.title),
        ("description", a.description != b.description),
        ("logo", a.logo != b.logo),
        ("industry", a.industry != b.industry),
        ("type", a.tenant_type != b.tenant_type),
        ("owner", a.owner != b.owner),
        ("metadata", a.metadata != b.metadata),
        ("applications", a.applications != b.applications),
    ];
    for (name, changed) in pairs {
        if changed {
            out.push(name);
        }
    }
    out
}
