//! `/api/v1/groups`: the group tree of a tenant (seed 000 group, seed 001 department, seed 002
//! org), its members and the roles its members inherit.
//!
//! [`crud`] creates, lists, reads, updates and deletes groups; [`hierarchy`] reads the tree and
//! moves subtrees; [`members`] and [`roles`] manage what a group holds. The lookups, query flags
//! and error mappings they share live here.

mod crud;
mod hierarchy;
mod members;
mod roles;

use serde::{Deserialize, Deserializer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use crate::directory::tree::Placement;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::groups::{self, Group, Refusal};

/// The routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::list_groups, crud::create_group))
        .routes(routes!(hierarchy::group_tree))
        .routes(routes!(
            crud::get_group,
            crud::update_group,
            crud::delete_group
        ))
        .routes(routes!(hierarchy::list_children))
        .routes(routes!(hierarchy::move_group))
        .routes(routes!(members::list_members))
        .routes(routes!(members::add_member, members::remove_member))
        .routes(routes!(roles::list_roles))
        .routes(routes!(roles::add_role, roles::remove_role))
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

/// The API error for a refused placement.
fn placement(p: Placement) -> ApiError {
    match p {
        Placement::Cycle => ApiError::bad(
            "group_cycle",
            "a group cannot be moved under itself or one of its descendants",
        ),
        Placement::OtherTenant => ApiError::invalid("parent", "must be a group of the same tenant"),
    }
}

/// The API error for a refused tree write.
fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::NoGroup => ApiError::NotFound("group"),
        Refusal::NoParent => ApiError::NotFound("parent group"),
        Refusal::Placement(p) => placement(p),
    }
}

/// `v`, if it is a finite number (`order` fields).
fn finite(field: &str, v: f64) -> ApiResult<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ApiError::invalid(field, "a finite number"))
    }
}
