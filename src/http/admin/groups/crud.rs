//! Create, list, read, update and delete groups. Moves through `PATCH` share their checks with
//! [`super::hierarchy`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::hierarchy::check_move;
use super::{Recursive, finite, flag, refusal, visible_group};
use crate::directory::{attrs, tree, validate};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::{self, Body, Ctx, Page, Paging, Query};
use crate::state::AppState;
use crate::store::groups::{self, Changes, Deletion, Group, NewGroup};
use crate::store::tenants;

/// Filters of `GET /api/v1/groups`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GroupFilter {
    /// Only groups of this tenant.
    tenant_id: Option<String>,
    /// Only the children of this group (exact id; empty = top-level groups).
    parent: Option<String>,
    /// Substring of the name (case-insensitive).
    q: Option<String>,
    /// Only groups of this type.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Rows to skip (default 0).
    offset: Option<i64>,
    /// Rows to return (default 20, at most 1000).
    limit: Option<i64>,
    /// `order` (default), `name` or `created_at`.
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    order: Option<String>,
}

/// List groups (children not loaded: `children` is `null`).
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", params(GroupFilter),
    responses((status = 200, body = Page<Group>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn list_groups(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(f): Query<GroupFilter>,
) -> ApiResult<axum::Json<Page<Group>>> {
    let paging = Paging::new(f.offset, f.limit, f.sort, f.order);
    let (offset, limit) = paging.window()?;
    let sort = paging.sort_column(&[
        ("order", "sort_order"),
        ("name", "name"),
        ("created_at", "created_at"),
    ])?;
    let dir = paging.direction(false)?;
    let tenants = admin::tenant_filter(&ctx, f.tenant_id)?;
    let filter = groups::Filter {
        tenants,
        parent: f.parent,
        q: f.q,
        kind: f.kind,
    };
    let (total, items) = groups::list(&app.provider.db, &filter, sort, dir, offset, limit).await?;
    Ok(axum::Json(Page {
        total,
        offset,
        limit,
        items,
    }))
}

/// Body of `POST /api/v1/groups` (seed 000 `create-group`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// Tenant of the group (default: the parent's tenant, else the caller's tenant).
    tenant_id: Option<String>,
    /// Id of the parent group; empty (default) = top level. Must be in the same tenant.
    #[serde(default)]
    parent: String,
    /// 1–64 characters, no `/`.
    name: String,
    /// Free code (at most 32 characters).
    #[serde(default)]
    code: String,
    /// Free type (default `dept`), no `/`.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// At most 200 characters.
    #[serde(default)]
    description: String,
    /// Ascending order among siblings; fractional and negative allowed (default 0).
    order: Option<f64>,
    /// Extension attributes; dotted keys create nested objects.
    #[schema(value_type = Option<Object>)]
    attrs: Option<Map<String, Value>>,
}

/// Create a group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = CreateGroup,
    responses((status = 201, body = Group), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(super) async fn create_group(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<CreateGroup>,
) -> ApiResult<Response> {
    let db = &app.provider.db;
    let tenant_id = if b.parent.is_empty() {
        b.tenant_id
            .unwrap_or_else(|| ctx.actor.tenant_id().to_owned())
    } else {
        let parent = visible_group(&app, &ctx, &b.parent, "parent group").await?;
        let tenant_id = b.tenant_id.unwrap_or_else(|| parent.tenant_id.clone());
        if tenant_id != parent.tenant_id {
            return Err(ApiError::invalid(
                "parent",
                "must be a group of the same tenant",
            ));
        }
        tenant_id
    };
    ctx.require(&tenant_id, "tenant")?;
    let kind = b.kind.unwrap_or_else(|| "dept".into());
    validate::path_segment("name", &b.name)?;
    validate::path_segment("type", &kind)?;
    validate::text("code", &b.code, 32)?;
    validate::text("description", &b.description, 200)?;
    let order = finite("order", b.order.unwrap_or(0.0))?;
    let mut stored = Map::new();
    attrs::merge(&mut stored, &b.attrs.unwrap_or_default())?;
    if tenants::find(db, &tenant_id).await?.is_none() {
        return Err(ApiError::NotFound("tenant"));
    }
    let new = NewGroup {
        tenant_id: tenant_id.clone(),
        parent: b.parent,
        name: b.name,
        code: b.code,
        kind,
        description: b.description,
        order,
        attrs: Value::Object(stored).to_string(),
    };
    let group = groups::insert(db, &new, ctx.now).await?.map_err(refusal)?;
    ctx.audit(
        &app,
        Some(&tenant_id),
        "group",
        &group.id,
        "add",
        json!({ "name": group.name, "parent": group.parent, "type": group.kind }),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(group)).into_response())
}

/// Get a group; with `recursive=true` its sub-groups are nested in `children` (`[]` = none).
#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups",
    params(("id" = String, Path, description = "Group id"), Recursive),
    responses((status = 200, body = Group), (status = 404, body = Problem)))]
pub(super) async fn get_group(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(r): Query<Recursive>,
) -> ApiResult<axum::Json<Group>> {
    let mut group = visible_group(&app, &ctx, &id, "group").await?;
    if r.recursive {
        let below = groups::descendants(&app.provider.db, &group).await?;
        group.children = Some(tree::nest(&group.id, below));
    }
    Ok(axum::Json(group))
}

/// Body of `PATCH /api/v1/groups/{id}` (seed 000 `update-group`): absent fields are kept.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    /// New parent (empty = top level): moves the group with its subtree.
    parent: Option<String>,
    name: Option<String>,
    code: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    description: Option<String>,
    order: Option<f64>,
    /// Merged into the stored attributes; dotted keys update nested objects.
    #[schema(value_type = Option<Object>)]
    attrs: Option<Map<String, Value>>,
}

/// Update a group. A new parent moves the subtree; paths of the subtree are recomputed.
#[utoipa::path(patch, path = "/api/v1/groups/{id}", tag = "groups", request_body = UpdateGroup,
    params(("id" = String, Path, description = "Group id")),
    responses((status = 200, body = Group), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(super) async fn update_group(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<UpdateGroup>,
) -> ApiResult<axum::Json<Group>> {
    let group = visible_group(&app, &ctx, &id, "group").await?;
    if let Some(name) = &b.name {
        validate::path_segment("name", name)?;
    }
    if let Some(kind) = &b.kind {
        validate::path_segment("type", kind)?;
    }
    if let Some(code) = &b.code {
        validate::text("code", code, 32)?;
    }
    if let Some(d) = &b.description {
        validate::text("description", d, 200)?;
    }
    let order = b.order.map(|o| finite("order", o)).transpose()?;
    let attrs = match &b.attrs {
        None => None,
        Some(patch) => {
            let mut stored = match &group.attrs.0 {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            attrs::merge(&mut stored, patch)?;
            Some(Value::Object(stored).to_string())
        }
    };
    let parent = b.parent.filter(|p| *p != group.parent);
    if let Some(p) = &parent {
        check_move(&app, &ctx, &group, p).await?;
    }
    let mut fields: Vec<&str> = Vec::new();
    for (set, name) in [
        (parent.is_some(), "parent"),
        (b.name.is_some(), "name"),
        (b.code.is_some(), "code"),
        (b.kind.is_some(), "type"),
        (b.description.is_some(), "description"),
        (order.is_some(), "order"),
        (attrs.is_some(), "attrs"),
    ] {
        if set {
            fields.push(name);
        }
    }
    let changes = Changes {
        parent,
        name: b.name,
        code: b.code,
        kind: b.kind,
        description: b.description,
        order,
        attrs,
    };
    let (updated, repathed) =
        groups::update(&app.provider.db, &group.tenant_id, &id, &changes, ctx.now)
            .await?
            .map_err(refusal)?;
    ctx.audit(
        &app,
        Some(&group.tenant_id),
        "group",
        &id,
        "update",
        json!({
            "fields": fields,
            "name": updated.name,
            "from_parent": group.parent,
            "parent": updated.parent,
            "attrs_keys": b.attrs.as_ref().map(|a| a.keys().cloned().collect::<Vec<_>>()),
            "descendants_repathed": repathed,
        }),
    )
    .await?;
    Ok(axum::Json(updated))
}

/// `?force=true` on deletes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Force {
    /// Delete the whole subtree with its memberships and roles (`true`/`1`).
    #[serde(default, deserialize_with = "flag")]
    #[param(value_type = Option<bool>)]
    force: bool,
}

/// Delete a group. Refused while it has children (409 `group_has_children`) or members
/// (409 `group_has_members`), unless forced: then its subtree, memberships and roles go too.
#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "groups",
    params(("id" = String, Path, description = "Group id"), Force),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(super) async fn delete_group(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(f): Query<Force>,
) -> ApiResult<StatusCode> {
    let group = visible_group(&app, &ctx, &id, "group").await?;
    match groups::delete(&app.provider.db, &group.tenant_id, &id, f.force).await? {
        Deletion::Gone => Err(ApiError::NotFound("group")),
        Deletion::HasChildren(n) => Err(ApiError::conflict(
            "group_has_children",
            format!("the group has {n} sub-groups; use force=true to delete them too"),
        )),
        Deletion::HasMembers(n) => Err(ApiError::conflict(
            "group_has_members",
            format!("the group has {n} members; use force=true"),
        )),
        Deletion::Deleted {
            groups,
            memberships,
        } => {
            ctx.audit(
                &app,
                Some(&group.tenant_id),
                "group",
                &id,
                "del",
                json!({
                    "name": group.name,
                    "forced": f.force,
                    "groups_deleted": groups,
                    "memberships_deleted": memberships,
                }),
            )
            .await?;
            Ok(StatusCode::NO_CONTENT)
        }
    }
}
