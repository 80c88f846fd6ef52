//! `/api/v1/applications/{id}/permissions`: the permission catalogue of an application (seed
//! 001 `/system/permissions`, seed 002 `permList`): menus, actions, APIs and data scopes that
//! roles grant.
//!
//! Reading: callers allowed in the application's tenant, or in a tenant that enabled the
//! application (its roles grant these items); the catalogue of `gatehouse-admin` is readable by
//! every administrator. Writing: callers allowed in the application's tenant; the items of
//! `gatehouse-admin` are read-only (409 `builtin_catalogue`: they guard Gatehouse itself).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::applications::visible_application;
use super::{Body, Ctx, Page, Paging, Query};
use crate::authz::{ADMIN_APP, ApiSpec, TenantScope};
use crate::directory::catalogue::{self as rules, MAX_DEPTH, MAX_ITEMS};
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::store::clients::{self, Application};
use crate::store::permissions::{self, ItemFields, Permission};
use crate::store::tenants;

/// The routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_items, create_item))
        .routes(routes!(get_item, update_item, delete_item))
}

/// Options of `GET /api/v1/applications/{id}/permissions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CatalogueQuery {
    /// Return the whole catalogue nested (`children`), instead of a flat page.
    #[serde(default)]
    tree: bool,
    /// Rows to skip (default 0; flat list only).
    offset: Option<i64>,
    /// Rows to return (default 20, at most 1000; flat list only).
    limit: Option<i64>,
    /// Within a parent: `order` (default), `code` or `created_at`.
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    order: Option<String>,
}

/// A flat page of items (by parent, then order), or with `tree=true` the nested catalogue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Catalogue {
    Flat(Page<Permission>),
    Tree(Vec<Permission>),
}

/// The catalogue of an application.
#[utoipa::path(get, path = "/api/v1/applications/{id}/permissions", tag = "permissions",
    params(("id" = String, Path, description = "Application (client) id"), CatalogueQuery),
    responses((status = 200, body = Catalogue), (status = 400, body = Problem),
        (status = 404, body = Problem)))]
async fn list_items(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<CatalogueQuery>,
) -> ApiResult<axum::Json<Catalogue>> {
    let db = &app.provider.db;
    readable_application(&app, &ctx, &id).await?;
    let paging = Paging::new(q.offset, q.limit, q.sort, q.order);
    let (offset, limit) = paging.window()?;
    let sort = paging.sort_column(&[
        ("order", "sort_order"),
        ("code", "code"),
        ("created_at", "created_at"),
    ])?;
    let dir = paging.direction(false)?;
    if q.tree {
        let items = permissions::catalogue(db, &id).await?;
        return Ok(axum::Json(Catalogue::Tree(rules::tree(items))));
    }
    let (total, items) = permissions::list_catalogue(db, &id, sort, dir, offset, limit).await?;
    Ok(axum::Json(Catalogue::Flat(Page {
        total,
        offset,
        limit,
        items,
    })))
}

/// Body of `POST /api/v1/applications/{id}/permissions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateItem {
    /// Unique in the application: 1–128 letters, digits, `-_.:/*`.
    code: String,
    #[serde(default)]
    name: String,
    /// Titles by locale (`{"zh-CN": "…"}`).
    #[schema(value_type = Option<Object>)]
    titles: Option<Value>,
    /// `menu`, `action` (default), `api` or `data`.
    kind: Option<String>,
    /// Parent item of the same application; `""` (default) at the top level.
    #[serde(default)]
    parent_id: String,
    /// API patterns: `{method?, path}`; path segments `*`, `**`, `:param`, `{param}`.
    #[serde(default)]
    apis: Vec<ApiSpec>,
    /// For `data` items: the data scope (JSON object).
    #[schema(value_type = Option<Object>)]
    data_scope: Option<Value>,
    /// Ascending order among siblings (default: the current time in seconds).
    order: Option<f64>,
}

/// Add an item to an application's catalogue.
#[utoipa::path(post, path = "/api/v1/applications/{id}/permissions", tag = "permissions",
    request_body = CreateItem,
    params(("id" = String, Path, description = "Application (client) id")),
    responses((status = 201, body = Permission), (status = 400, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn create_item(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<CreateItem>,
) -> ApiResult<Response> {
    let db = &app.provider.db;
    let application = writable_application(&app, &ctx, &id).await?;
    let fields = ItemFields {
        code: b.code,
        name: b.name,
        titles: b.titles.unwrap_or_else(|| json!({})),
        kind: b.kind.unwrap_or_else(|| "action".to_owned()),
        parent_id: b.parent_id,
        apis: b.apis,
        data_scope: b.data_scope,
        order: b.order.unwrap_or(ctx.now as f64),
    };
    rules::check(&fields)?;
    check_parent(&app, &id, "", &fields.parent_id).await?;
    if permissions::count_in(db, &id).await? >= MAX_ITEMS {
        return Err(ApiError::conflict(
            "catalogue_full",
            format!("an application has at most {MAX_ITEMS} items"),
        ));
    }
    refuse_taken_code(&app, &id, &fields.code, "").await?;
    let item = permissions::insert(db, &id, &fields, ctx.now)
        .await
        .map_err(code_race)?;
    ctx.audit(
        &app,
        Some(&application.tenant_id),
        "permission",
        &item.id,
        "add",
        json!({ "application_id": id, "code": item.code, "kind": item.kind, "apis": item.apis }),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(item)).into_response())
}

/// Get a catalogue item.
#[utoipa::path(get, path = "/api/v1/applications/{id}/permissions/{permission_id}",
    tag = "permissions",
    params(("id" = String, Path, description = "Application (client) id"),
        ("permission_id" = String, Path, description = "Item id")),
    responses((status = 200, body = Permission), (status = 404, body = Problem)))]
async fn get_item(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, permission_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Permission>> {
    readable_application(&app, &ctx, &id).await?;
    Ok(axum::Json(item_of(&app, &id, &permission_id).await?))
}

/// `Some(None)` for an explicit `null`, `Some(Some(v))` for a value.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `PATCH …/permissions/{permission_id}`: absent fields are kept.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateItem {
    code: Option<String>,
    name: Option<String>,
    /// Replaces all titles.
    #[schema(value_type = Option<Object>)]
    titles: Option<Value>,
    kind: Option<String>,
    /// Moves the item (`""`: top level); cycles are refused (409 `permission_cycle`).
    parent_id: Option<String>,
    /// Replaces all patterns.
    apis: Option<Vec<ApiSpec>>,
    /// `null` removes the data scope.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    data_scope: Option<Option<Value>>,
    order: Option<f64>,
}

/// Update a catalogue item.
#[utoipa::path(patch, path = "/api/v1/applications/{id}/permissions/{permission_id}",
    tag = "permissions", request_body = UpdateItem,
    params(("id" = String, Path, description = "Application (client) id"),
        ("permission_id" = String, Path, description = "Item id")),
    responses((status = 200, body = Permission), (status = 400, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn update_item(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, permission_id)): Path<(String, String)>,
    Body(b): Body<UpdateItem>,
) -> ApiResult<axum::Json<Permission>> {
    let db = &app.provider.db;
    let application = writable_application(&app, &ctx, &id).await?;
    let item = item_of(&app, &id, &permission_id).await?;
    let old = item.fields()?;
    let mut f = item.fields()?;
    macro_rules! take {
        ($($field:ident),*) => {$(if let Some(v) = b.$field { f.$field = v; })*};
    }
    take!(code, name, titles, kind, parent_id, apis, data_scope, order);
    rules::check(&f)?;
    if f.parent_id != old.parent_id {
        check_parent(&app, &id, &permission_id, &f.parent_id).await?;
    }
    if f.code != old.code {
        refuse_taken_code(&app, &id, &f.code, &permission_id).await?;
    }
    permissions::update(db, &permission_id, &f, ctx.now)
        .await
        .map_err(code_race)?;
    ctx.audit(
        &app,
        Some(&application.tenant_id),
        "permission",
        &permission_id,
        if f.parent_id != old.parent_id {
            "move"
        } else {
            "update"
        },
        json!({
            "application_id": id,
            "code": f.code,
            "kind": f.kind,
            "parent_id": f.parent_id,
            "apis": f.apis,
        }),
    )
    .await?;
    Ok(axum::Json(item_of(&app, &id, &permission_id).await?))
}

/// `?force=true` on deletes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Force {
    /// Delete even though roles grant the item (they lose it).
    #[serde(default)]
    force: bool,
}

/// Delete a catalogue item. Refused while it has children (409 `permission_has_children`) and,
/// unless forced, while roles grant it (409 `permission_in_use`).
#[utoipa::path(delete, path = "/api/v1/applications/{id}/permissions/{permission_id}",
    tag = "permissions",
    params(("id" = String, Path, description = "Application (client) id"),
        ("permission_id" = String, Path, description = "Item id"), Force),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_item(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, permission_id)): Path<(String, String)>,
    Query(q): Query<Force>,
) -> ApiResult<StatusCode> {
    let db = &app.provider.db;
    let application = writable_application(&app, &ctx, &id).await?;
    let item = item_of(&app, &id, &permission_id).await?;
    let (children, grants) = permissions::usage(db, &permission_id).await?;
    if children > 0 {
        return Err(ApiError::conflict(
            "permission_has_children",
            format!("the item has {children} children: delete or move them first"),
        ));
    }
    if grants > 0 && !q.force {
        return Err(ApiError::conflict(
            "permission_in_use",
            format!("{grants} roles grant this item; use force=true"),
        ));
    }
    permissions::delete(db, &permission_id).await?;
    ctx.audit(
        &app,
        Some(&application.tenant_id),
        "permission",
        &permission_id,
        "del",
        json!({ "application_id": id, "code": item.code, "forced": q.force, "grants": grants }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The application, if the caller may read its catalogue (else 404).
async fn readable_application(app: &AppState, ctx: &Ctx, id: &str) -> ApiResult<Application> {
    let db = &app.provider.db;
    let a = clients::get_application(db, id)
        .await?
        .ok_or(ApiError::NotFound("application"))?;
    if a.id == ADMIN_APP || ctx.allows(&a.tenant_id) {
        return Ok(a);
    }
    if let TenantScope::Some(list) = ctx.scope() {
        for t in &list {
            if tenants::enables_application(db, t, &a.id).await? {
                return Ok(a);
            }
        }
    }
    Err(ApiError::NotFound("application"))
}

/// The application, if the caller may change its catalogue: allowed in its tenant (else 404)
/// and not `gatehouse-admin` (409 `builtin_catalogue`).
async fn writable_application(app: &AppState, ctx: &Ctx, id: &str) -> ApiResult<Application> {
    let a = visible_application(app, ctx, id).await?;
    if a.id == ADMIN_APP {
        return Err(ApiError::conflict(
            "builtin_catalogue",
            "the catalogue of gatehouse-admin guards Gatehouse itself and is read-only",
        ));
    }
    Ok(a)
}

/// An item of the application (else 404).
async fn item_of(app: &AppState, application_id: &str, id: &str) -> ApiResult<Permission> {
    permissions::find(&app.provider.db, id)
        .await?
        .filter(|p| p.application_id == application_id)
        .ok_or(ApiError::NotFound("permission"))
}

/// A parent must be an item of the same application, and not the item itself or below it.
async fn check_parent(
    app: &AppState,
    application_id: &str,
    item_id: &str,
    parent_id: &str,
) -> ApiResult<()> {
    let mut cur = parent_id.to_owned();
    let mut depth = 0;
    while !cur.is_empty() {
        if cur == item_id {
            return Err(ApiError::conflict(
                "permission_cycle",
                "an item cannot move below itself",
            ));
        }
        let parent = item_of(app, application_id, &cur)
            .await
            .map_err(|_| ApiError::invalid("parent_id", "no such item in this application"))?;
        depth += 1;
        if depth > MAX_DEPTH {
            return Err(ApiError::invalid(
                "parent_id",
                &format!("items nest at most {MAX_DEPTH} levels"),
            ));
        }
        cur = parent.parent_id;
    }
    Ok(())
}

async fn refuse_taken_code(
    app: &AppState,
    application_id: &str,
    code: &str,
    except: &str,
) -> ApiResult<()> {
    if permissions::code_taken(&app.provider.db, application_id, code, except).await? {
        return Err(ApiError::conflict(
            "permission_code_taken",
            "the application has an item with this code",
        ));
    }
    Ok(())
}

fn code_race(e: crate::store::StoreError) -> ApiError {
    match e {
        crate::store::StoreError::Conflict(_) => ApiError::conflict(
            "permission_code_taken",
            "the application has an item with this code",
        ),
        e => e.into(),
    }
}
