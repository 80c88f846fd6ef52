//! The shape of the tree: the top level of a tenant, the children of a group, and moving a group
//! with its subtree (with the checks that keep a member from gaining roles by a move).

use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::json;

use super::{Recursive, flag, placement, refusal, visible_group};
use crate::directory::tree;
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::admin::{Body, Ctx, Query};
use crate::state::AppState;
use crate::store::groups::{self, Changes, Group};

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
pub(super) async fn group_tree(
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
pub(super) async fn list_children(
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
pub(super) async fn move_group(
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

/// Checks a move of `group` under `parent` (`""`: top level) before the store re-checks it in
/// its transaction: the parent is visible and in the same tenant, no cycle, and a caller who is
/// a member inside the moved subtree gains no role by the move (unless they administer the
/// tenant).
pub(super) async fn check_move(
    app: &AppState,
    ctx: &Ctx,
    group: &Group,
    parent: &str,
) -> ApiResult<()> {
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
