//! Seed 002's operation logs (`/api/log/save`, `/api/log/listWithPaging`): rows of the one
//! audit log (`audit_logs`) written for a sub-application, read back with the fuzzy
//! `filterText` over the operation and the `detail` text. Writing goes through
//! [`super::audit::insert`].

use super::audit::Entry;
use super::sql::{Where, like_escape};
use super::{Backend, Db, StoreResult};

const COLUMNS: &str = "id, created_at, tenant_id, actor_type, actor_id, actor_name, ip, module, \
    target_type, target_id, operation, outcome, details";

/// Which rows: one application's (module) entries of one kind in one tenant.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// The application's tenant.
    pub tenant_id: &'a str,
    /// The application's id.
    pub module: &'a str,
    /// The kind of entry (`op_log`).
    pub target_type: &'a str,
}

/// One page of entries in `scope`, newest first, and the total. `filter` (non-empty) keeps
/// the entries whose operation or `details.detail` contains it, case-insensitively.
pub async fn list(
    db: &Db,
    scope: &Scope<'_>,
    filter: Option<&str>,
    offset: i64,
    limit: i64,
) -> StoreResult<(i64, Vec<Entry>)> {
    let mut w = Where::new();
    w.eq("tenant_id", scope.tenant_id);
    w.eq("module", scope.module);
    w.eq("target_type", scope.target_type);
    if let Some(f) = filter.filter(|f| !f.is_empty()) {
        // `details` is JSON text: search the decoded `detail` string, not its escaped form
        // (and never the key names).
        let detail = match db.backend() {
            Backend::Sqlite => "json_extract(details, '$.detail')",
            Backend::Postgres => "(CAST(details AS JSON) ->> 'detail')",
        };
        let m = w.mark(format!("%{}%", like_escape(&f.to_lowercase())));
        w.push(format!(
            "(LOWER(operation) LIKE {m} ESCAPE '\\' OR LOWER(COALESCE({detail}, '')) \
             LIKE {m} ESCAPE '\\')"
        ));
    }
    let wher = w.sql();
    let (total,) = w
        .bind_as(sqlx::query_as::<_, (i64,)>(&format!(
            "SELECT COUNT(*) FROM audit_logs {wher}"
        )))
        .fetch_one(db.pool())
        .await?;
    let n = w.len();
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_logs {wher} ORDER BY created_at DESC, id DESC \
         LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let rows = w
        .bind_as(sqlx::query_as::<_, Entry>(&sql))
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
    Ok((total, rows))
}
