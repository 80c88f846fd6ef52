//! `/api/v1/groups`: the group tree of a tenant (seed 000 group, seed 001 department, seed 002
//! org), its members and the roles its members inherit.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Body, Ctx, Page, Paging, Query};
use crate::directory::tree::{self, Placement};
use crate::directory::{attrs, validate};
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::store::groups::{self, Changes, Deletion, Group, NewGroup, Refusal};
use crate::store::roles::{self, Role};
use crate::store::{tenants, users};

/// The routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups, create_group))
        .routes(routes!(group_tree))
        .routes(routes!(get_group, update_group, delete_group))
        .routes(routes!(list_children))
        .routes(routes!(move_group))
        .routes(routes!(list_members))
        .routes(routes!(add_member, remove_member))
        .routes(routes!(list_roles))
        .routes(routes!(add_role, remove_role))
}

/// Query booleans: `true`/`false` and, as seed 000 sends them, `1`/`0`.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        _ => Err(serde::de::Error::custom("expected true, false, 1 or 0")),
    }
}

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
async fn list_groups(
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
    let tenants = super::tenant_filter(&ctx, f.tenant_id)?;
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
async fn create_group(
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

/// `?recursive=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Recursive {
    /// Load the sub-groups, nested to any depth (`true`/`1`). Default: not loaded (`null`).
    #[serde(default, deserialize_with = "flag")]
    #[param(value_type = Option<bool>)]
    recursive: bool,
}

/// Get a group; with `recursive=true` its sub-groups are nested in `children` (`[]` = none).
#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups",
    params(("id" = String, Path, description = "Group id"), Recursive),
    responses((status = 200, body = Group), (status = 404, body = Problem)))]
async fn get_group(
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

/// Filters of `GET /api/v1/groups/tree`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TreeFilter {
    /// Tenant whose tree to read (default: the caller's tenant).
    tenant_id: Option<String>,
    /// Nest every level (`true`/`1`); otherwise only the top level, `children` not loaded.
    #[serde(default, deserialize_with = "flag")]
    #[param(value_type = Option<bool>)]
    recursive: bool,
}

/// The top-level groups of a tenant, in sibling order (seed 000 `list-child-groups` without
/// parent), nested when `recursive`.
#[utoipa::path(get, path = "/api/v1/groups/tree", tag = "groups", params(TreeFilter),
    responses((status = 200, body = Vec<Group>), (status = 404, body = Problem)))]
async fn group_tree(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(f): Query<TreeFilter>,
) -> ApiResult<axum::Json<Vec<Group>>> {
    let tenant_id = f
        .tenant_id
        .unwrap_or_else(|| ctx.actor.tenant_id().to_owned());
    ctx.require(&tenant_id, "tenant")?;
    let db = &app.provider.db;
    let items = if f.recursive {
        tree::nest("", groups::of_tenant(db, &tenant_id).await?)
    } else {
        groups::children(db, &tenant_id, "").await?
    };
    Ok(axum::Json(items))
}

/// The direct children of a group in sibling order (`order` ascending), nested when `recursive`.
#[utoipa::path(get, path = "/api/v1/groups/{id}/children", tag = "groups",
    params(("id" = String, Path, description = "Group id"), Recursive),
    responses((status = 200, body = Vec<Group>), (status = 404, body = Problem)))]
async fn list_children(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(r): Query<Recursive>,
) -> ApiResult<axum::Json<Vec<Group>>> {
    let group = visible_group(&app, &ctx, &id, "group").await?;
    let db = &app.provider.db;
    let items = if r.recursive {
        tree::nest(&group.id, groups::descendants(db, &group).await?)
    } else {
        groups::children(db, &group.tenant_id, &group.id).await?
    };
    Ok(axum::Json(items))
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
async fn update_group(
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

/// Body of `POST /api/v1/groups/{id}/move`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveGroup {
    /// New parent id; empty = top level. Same tenant; not the group itself nor a descendant.
    parent: String,
}

/// Move a group with its subtree under another parent (same as `PATCH` with `parent`).
#[utoipa::path(post, path = "/api/v1/groups/{id}/move", tag = "groups", request_body = MoveGroup,
    params(("id" = String, Path, description = "Group id")),
    responses((status = 200, body = Group), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn move_group(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Body(b): Body<MoveGroup>,
) -> ApiResult<axum::Json<Group>> {
    let group = visible_group(&app, &ctx, &id, "group").await?;
    if b.parent == group.parent {
        return Ok(axum::Json(group));
    }
    check_move(&app, &ctx, &group, &b.parent).await?;
    let changes = Changes {
        parent: Some(b.parent),
        ..Changes::default()
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
        "move",
        json!({ "from": group.parent, "to": updated.parent, "descendants_repathed": repathed }),
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
async fn delete_group(
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

/// Optional window of `GET /api/v1/groups/{id}/members`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MemberWindow {
    /// Ids to skip (default 0).
    offset: Option<i64>,
    /// Ids to return (default: all; at most 1000 when given).
    limit: Option<i64>,
}

/// Ids of the direct members of a group (seed 000 `list-group-users`), oldest first.
#[utoipa::path(get, path = "/api/v1/groups/{id}/members", tag = "groups",
    params(("id" = String, Path, description = "Group id"), MemberWindow),
    responses((status = 200, body = Vec<String>), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn list_members(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(w): Query<MemberWindow>,
) -> ApiResult<axum::Json<Vec<String>>> {
    let offset = w.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid("offset", "must be ≥ 0"));
    }
    if w.limit
        .is_some_and(|l| !(1..=super::extract::MAX_LIMIT).contains(&l))
    {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    visible_group(&app, &ctx, &id, "group").await?;
    Ok(axum::Json(
        groups::member_ids(&app.provider.db, &id, offset, w.limit).await?,
    ))
}

/// Add a user of the group's tenant to the group. Nobody adds themselves (unless they administer
/// the tenant): the group's roles would raise their privileges.
#[utoipa::path(put, path = "/api/v1/groups/{id}/members/{user_id}", tag = "groups",
    params(("id" = String, Path, description = "Group id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn add_member(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let group = visible_group(&app, &ctx, &id, "group").await?;
    let db = &app.provider.db;
    if users::find(db, &user_id).await?.is_none()
        || !tenants::is_member(db, &group.tenant_id, &user_id).await?
    {
        return Err(ApiError::NotFound("user"));
    }
    if ctx.is_user(&user_id) && !ctx.administers(&group.tenant_id) {
        return Err(ApiError::forbidden(
            "you cannot add yourself to a group: only a tenant administrator can",
        ));
    }
    if groups::add_member(db, &id, &user_id, ctx.now).await? {
        ctx.audit(
            &app,
            Some(&group.tenant_id),
            "group",
            &id,
            "add_member",
            json!({ "user_id": user_id, "group_name": group.name }),
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user from the group.
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{user_id}", tag = "groups",
    params(("id" = String, Path, description = "Group id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204), (status = 404, body = Problem)))]
async fn remove_member(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let group = visible_group(&app, &ctx, &id, "group").await?;
    if !groups::remove_member(&app.provider.db, &id, &user_id).await? {
        return Err(ApiError::NotFound("group member"));
    }
    ctx.audit(
        &app,
        Some(&group.tenant_id),
        "group",
        &id,
        "remove_member",
        json!({ "user_id": user_id, "group_name": group.name }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Roles given to the group (its members and the members of its sub-groups inherit them).
#[utoipa::path(get, path = "/api/v1/groups/{id}/roles", tag = "groups",
    params(("id" = String, Path, description = "Group id")),
    responses((status = 200, body = Vec<Role>), (status = 404, body = Problem)))]
async fn list_roles(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<Role>>> {
    visible_group(&app, &ctx, &id, "group").await?;
    Ok(axum::Json(groups::roles(&app.provider.db, &id).await?))
}

/// Give a role of the group's tenant to the group. Refused (403) to a caller who is a member of
/// the group or of a sub-group, unless they administer the tenant.
#[utoipa::path(put, path = "/api/v1/groups/{id}/roles/{role_id}", tag = "groups",
    params(("id" = String, Path, description = "Group id"), ("role_id" = String, Path, description = "Role id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn add_role(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, role_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let group = visible_group(&app, &ctx, &id, "group").await?;
    let db = &app.provider.db;
    let role = roles::find(db, &role_id)
        .await?
        .filter(|r| r.tenant_id == group.tenant_id)
        .ok_or(ApiError::NotFound("role"))?;
    if let Some(uid) = ctx.actor.user_id()
        && !ctx.administers(&group.tenant_id)
        && groups::user_in_subtree(db, uid, &group).await?
    {
        return Err(ApiError::forbidden(
            "you are a member of this group or of a sub-group: only a tenant administrator can \
             change its roles",
        ));
    }
    if groups::add_role(db, &id, &role_id, ctx.now).await? {
        ctx.audit(
            &app,
            Some(&group.tenant_id),
            "group",
            &id,
            "assign_role",
            json!({ "role_id": role.id, "role_code": role.code }),
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Take a role from the group.
#[utoipa::path(delete, path = "/api/v1/groups/{id}/roles/{role_id}", tag = "groups",
    params(("id" = String, Path, description = "Group id"), ("role_id" = String, Path, description = "Role id")),
    responses((status = 204), (status = 404, body = Problem)))]
async fn remove_role(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((id, role_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let group = visible_group(&app, &ctx, &id, "group").await?;
    if !groups::remove_role(&app.provider.db, &id, &role_id).await? {
        return Err(ApiError::NotFound("group role"));
    }
    ctx.audit(
        &app,
        Some(&group.tenant_id),
        "group",
        &id,
        "unassign_role",
        json!({ "role_id": role_id }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The group, if it exists and this request is allowed in its tenant (else 404 `what`).
async fn visible_group(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
    what: &'static str,
) -> ApiResult<Group> {
    let group = groups::find(&app.provider.db, id)
        .await?
        .ok_or(ApiError::NotFound(what))?;
    ctx.require(&group.tenant_id, what)?;
    Ok(group)
}

/// Checks a move of `group` under `parent` (`""`: top level) before the store re-checks it in
/// its transaction: the parent is visible and in the same tenant, no cycle, and a caller who is
/// a member inside the moved subtree gains no role by the move (unless they administer the
/// tenant).
async fn check_move(app: &AppState, ctx: &Ctx, group: &Group, parent: &str) -> ApiResult<()> {
    let chain: Vec<String> = if parent.is_empty() {
        Vec::new()
    } else {
        let p = visible_group(app, ctx, parent, "parent group").await?;
        tree::check_placement(&group.id, &group.tenant_id, &p.id, &p.tenant_id, &p.paths())
            .map_err(placement)?;
        let mut chain: Vec<String> = p
            .paths()
            .ancestor_ids()
            .into_iter()
            .map(str::to_owned)
            .collect();
        chain.push(p.id);
        chain
    };
    if let Some(uid) = ctx.actor.user_id()
        && !ctx.administers(&group.tenant_id)
        && !chain.is_empty()
    {
        let db = &app.provider.db;
        let ids: Vec<&str> = chain.iter().map(String::as_str).collect();
        if groups::user_in_subtree(db, uid, group).await?
            && groups::roles_new_to_user(db, uid, &ids).await? > 0
        {
            return Err(ApiError::forbidden(
                "you are a member inside this group: moving it there would give you new roles",
            ));
        }
    }
    Ok(())
}

fn placement(p: Placement) -> ApiError {
    match p {
        Placement::Cycle => ApiError::bad(
            "group_cycle",
            "a group cannot be moved under itself or one of its descendants",
        ),
        Placement::OtherTenant => ApiError::invalid("parent", "must be a group of the same tenant"),
    }
}

fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::NoGroup => ApiError::NotFound("group"),
        Refusal::NoParent => ApiError::NotFound("parent group"),
        Refusal::Placement(p) => placement(p),
    }
}

fn finite(field: &str, v: f64) -> ApiResult<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ApiError::invalid(field, "a finite number"))
    }
}
