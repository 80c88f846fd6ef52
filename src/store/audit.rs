//! The audit log (seed 001 operation log): append-only records of admin writes and sign-ins.

use serde::Serialize;

use super::sql::Where;
use super::{Db, StoreResult};

/// A record to append.
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    pub tenant_id: Option<String>,
    /// `user`, `client` or `anonymous`.
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub ip: Option<String>,
    /// `account` for the directory, `auth` for sign-in events, or a sub-application's module.
    pub module: String,
    /// `user`, `role`, `group`, `tenant`, `application`, `permission`, `api_key`, `session`, …
    pub target_type: String,
    pub target_id: Option<String>,
    /// `login`, `logout`, `login_failed`, `add`, `del`, `update`, …
    pub operation: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// JSON object: what changed (never secrets).
    pub details: serde_json::Value,
}

/// A stored record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Entry {
    pub id: String,
    /// Unix seconds.
    pub created_at: i64,
    pub tenant_id: Option<String>,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub ip: Option<String>,
    pub module: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub operation: String,
    pub outcome: String,
    /// JSON object.
    #[schema(value_type = Object)]
    #[sqlx(try_from = "String")]
    pub details: JsonText,
}

/// A JSON column decoded for output.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct JsonText(pub serde_json::Value);

impl TryFrom<String> for JsonText {
    type Error = serde_json::Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        serde_json::from_str(&s).map(JsonText)
    }
}

/// Appends a record.
pub async fn insert(db: &Db, e: &NewEntry, now: i64) -> StoreResult<String> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO audit_logs (id, created_at, tenant_id, actor_type, actor_id, actor_name, ip, \
         module, target_type, target_id, operation, outcome, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(now)
    .bind(&e.tenant_id)
    .bind(&e.actor_type)
    .bind(&e.actor_id)
    .bind(&e.actor_name)
    .bind(&e.ip)
    .bind(&e.module)
    .bind(&e.target_type)
    .bind(&e.target_id)
    .bind(&e.operation)
    .bind(&e.outcome)
    .bind(e.details.to_string())
    .execute(db.pool())
    .await?;
    Ok(id)
}

/// Filters of a log query; `None` = no filter. `tenants: Some(list)` limits to those tenants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub tenants: Option<Vec<String>>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub actor_id: Option<String>,
    pub operation: Option<String>,
    pub module: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub outcome: Option<String>,
}

const COLUMNS: &str = "id, created_at, tenant_id, actor_type, actor_id, actor_name, ip, module, \
    target_type, target_id, operation, outcome, details";

/// One page of records matching `f`, newest first unless `ascending`, and the total count.
pub async fn list(
    db: &Db,
    f: &Filter,
    offset: i64,
    limit: i64,
    ascending: bool,
) -> StoreResult<(i64, Vec<Entry>)> {
    let mut w = Where::new();
    if let Some(tenants) = &f.tenants {
        w.any_of("tenant_id", tenants);
    }
    for (col, v) in [
        ("actor_id", &f.actor_id),
        ("operation", &f.operation),
        ("module", &f.module),
        ("target_type", &f.target_type),
        ("target_id", &f.target_id),
        ("outcome", &f.outcome),
    ] {
        if let Some(v) = v {
            w.eq(col, v.as_str());
        }
    }
    if let Some(s) = f.start {
        let m = w.mark(s);
        w.push(format!("created_at >= {m}"));
    }
    if let Some(e) = f.end {
        let m = w.mark(e);
        w.push(format!("created_at <= {m}"));
    }
    let wher = w.sql();
    let count_sql = format!("SELECT COUNT(*) FROM audit_logs {wher}");
    let (total,) = w
        .bind_as(sqlx::query_as::<_, (i64,)>(&count_sql))
        .fetch_one(db.pool())
        .await?;
    let dir = if ascending { "ASC" } else { "DESC" };
    let n = w.len();
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_logs {wher} ORDER BY created_at {dir}, id {dir} \
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

/// One record by id.
pub async fn find(db: &Db, id: &str) -> StoreResult<Option<Entry>> {
    let sql = format!("SELECT {COLUMNS} FROM audit_logs WHERE id = $1");
    Ok(sqlx::query_as::<_, Entry>(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?)
}
