//! `/api/v1/audit-logs`: the operation log of seed 001 (`/log/list`), read by time range, actor,
//! module, target and outcome, and appended to by applications for their own modules.
//!
//! The log is append-only: there is no update and no delete route, so `PUT`, `PATCH` and
//! `DELETE` answer 405. Seed 001's `POST /log/del` is deliberately not offered: an audit trail
//! that its subjects can erase proves nothing.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Actor, Body, Ctx, Page, Paging, Query};
use crate::authz::TenantScope;
use crate::directory::validate;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::store::audit::{self, Entry, NewEntry};

/// Modules written by Gatehouse itself; nobody may report entries for them.
const RESERVED_MODULES: [&str; 2] = ["account", "auth"];

/// Largest `details` object accepted from a caller, serialized.
const MAX_DETAILS_BYTES: usize = 8 * 1024;

/// The routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_logs, report_log))
        .routes(routes!(get_log))
}

/// Filters of `GET /api/v1/audit-logs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogFilter {
    /// Only records of this tenant.
    tenant_id: Option<String>,
    /// Records at or after this time (unix seconds).
    start: Option<i64>,
    /// Records at or before this time (unix seconds).
    end: Option<i64>,
    /// Only records by this user or client.
    actor_id: Option<String>,
    /// `login`, `login_failed`, `logout`, `add`, `del`, `update`, …
    operation: Option<String>,
    /// `account` (directory), `auth` (sign-in) or an application's module.
    module: Option<String>,
    /// `user`, `role`, `group`, `tenant`, `application`, …
    target_type: Option<String>,
    /// Id of the object acted on.
    target_id: Option<String>,
    /// `success` or `failure`.
    outcome: Option<String>,
    /// Rows to skip (default 0).
    offset: Option<i64>,
    /// Rows to return (default 20, at most 1000).
    limit: Option<i64>,
    /// `created_at` (the only sort).
    sort: Option<String>,
    /// `desc` (default: newest first) or `asc`.
    order: Option<String>,
}

/// List audit records, newest first (unless `order=asc`). Tenant administrators see their
/// tenants' records only.
#[utoipa::path(get, path = "/api/v1/audit-logs", tag = "audit-logs", params(LogFilter),
    responses((status = 200, body = Page<Entry>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_logs(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(f): Query<LogFilter>,
) -> ApiResult<axum::Json<Page<Entry>>> {
    let paging = Paging::new(f.offset, f.limit, f.sort, f.order);
    let (offset, limit) = paging.window()?;
    paging.sort_column(&[("created_at", "created_at")])?;
    let ascending = paging.direction(true)? == "ASC";
    if let (Some(s), Some(e)) = (f.start, f.end)
        && s > e
    {
        return Err(ApiError::invalid("start", "must not be after end"));
    }
    let filter = audit::Filter {
        tenants: super::tenant_filter(&ctx, f.tenant_id)?,
        start: f.start,
        end: f.end,
        actor_id: f.actor_id,
        operation: f.operation,
        module: f.module,
        target_type: f.target_type,
        target_id: f.target_id,
        outcome: f.outcome,
    };
    let (total, items) = audit::list(&app.provider.db, &filter, offset, limit, ascending).await?;
    Ok(axum::Json(Page {
        total,
        offset,
        limit,
        items,
    }))
}

/// Get one audit record.
#[utoipa::path(get, path = "/api/v1/audit-logs/{id}", tag = "audit-logs",
    params(("id" = String, Path, description = "Record id")),
    responses((status = 200, body = Entry), (status = 404, body = Problem)))]
async fn get_log(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Entry>> {
    let entry = audit::find(&app.provider.db, &id)
        .await?
        .ok_or(ApiError::NotFound("audit record"))?;
    match &entry.tenant_id {
        Some(t) => ctx.require(t, "audit record")?,
        // Records outside any tenant are for those who see every tenant.
        None if ctx.scope() == TenantScope::All => {}
        None => return Err(ApiError::NotFound("audit record")),
    }
    Ok(axum::Json(entry))
}

/// Body of `POST /api/v1/audit-logs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportLog {
    /// The reporting application's module (`device`, `asset`, `nms`, …); `account` and `auth`
    /// are reserved for Gatehouse.
    module: String,
    /// Type of the object acted on.
    target_type: String,
    /// Id of the object acted on.
    target_id: Option<String>,
    /// What was done (`add`, `del`, `update`, …).
    operation: String,
    /// What changed: a JSON object of at most 8 KiB. Never put secrets here.
    #[schema(value_type = Object)]
    details: Option<serde_json::Value>,
}

/// Report an operation of the caller's own application. The actor is the caller, the tenant the
/// caller's tenant, the time and address the server's view.
#[utoipa::path(post, path = "/api/v1/audit-logs", tag = "audit-logs", request_body = ReportLog,
    responses((status = 201, body = Entry), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn report_log(
    State(app): State<AppState>,
    ctx: Ctx,
    Body(b): Body<ReportLog>,
) -> ApiResult<Response> {
    validate::code("module", &b.module, b"-_.:")?;
    if RESERVED_MODULES.contains(&b.module.to_ascii_lowercase().as_str()) {
        return Err(ApiError::bad(
            "reserved_module",
            "the modules account and auth are written by Gatehouse only",
        ));
    }
    validate::code("target_type", &b.target_type, b"-_.:")?;
    validate::code("operation", &b.operation, b"-_.:")?;
    if let Some(t) = &b.target_id {
        validate::required_text("target_id", t, 128)?;
    }
    let details = b.details.unwrap_or_else(|| serde_json::json!({}));
    if !details.is_object() {
        return Err(ApiError::invalid("details", "a JSON object"));
    }
    if details.to_string().len() > MAX_DETAILS_BYTES {
        return Err(ApiError::invalid("details", "at most 8 KiB"));
    }
    let tenant = ctx.actor.tenant_id().to_owned();
    ctx.require(&tenant, "tenant")?;
    let (actor_type, actor_name) = match &ctx.actor {
        Actor::User { username, .. } => ("user", Some(username.clone())),
        Actor::Client { .. } => ("client", None),
    };
    let entry = NewEntry {
        tenant_id: Some(tenant),
        actor_type: actor_type.into(),
        actor_id: Some(ctx.actor.id().to_owned()),
        actor_name,
        ip: ctx.ip.clone(),
        module: b.module,
        target_type: b.target_type,
        target_id: b.target_id,
        operation: b.operation,
        outcome: "success".into(),
        details,
    };
    let db = &app.provider.db;
    let id = audit::insert(db, &entry, ctx.now).await?;
    let stored = audit::find(db, &id)
        .await?
        .ok_or_else(|| ApiError::Internal("reported audit record not found".into()))?;
    Ok((StatusCode::CREATED, axum::Json(stored)).into_response())
}
