//! Listing and searching users (`GET /api/v1/users`), and the exact lookups beside it.
//!
//! The results are those of the plain definition: live users matching every filter, `q` being a
//! case-insensitive substring of `users.search_text`, ordered by the sort column then `id`. What
//! changes with scale is how they are computed (issue 3: p50 < 10 ms at 100k users on SQLite):
//! - SQLite answers a `q` of 3 or more characters from the FTS5 trigram index of migration 0004
//!   (exact, see there) and a shorter one by scanning the narrow `user_search` table instead of
//!   `users`; PostgreSQL uses the pg_trgm index of migration 0002.
//! - The total avoids reading `users` rows where it can: no filter counts all users minus the
//!   deleted ones, a lone group or role filter counts memberships of users not deleted, a lone
//!   `q` counts index entries (`user_search` holds live users only).
//! - On SQLite, a page sorted by `created_at` whose matches are dense is read by walking the live
//!   users in that order (`users_live_created`) through at most `WINDOW` of them; sparse
//!   matches are fetched through the indexes and sorted. PostgreSQL's planner makes that choice
//!   itself from its statistics.

use serde_json::Value;

use super::sql::{Where, like_escape};
use super::users::{Profile, USER_COLUMNS, User};
use super::{Backend, Db, StoreResult};

/// Filters of a user list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `Some(list)`: only users whose main tenant is in the list.
    pub tenants: Option<Vec<String>>,
    /// Direct members of this group.
    pub group_id: Option<String>,
    /// Direct holders of this role.
    pub role_id: Option<String>,
    /// `active` or `inactive`.
    pub state: Option<String>,
    /// `ADMIN` or `MEMBER`.
    pub user_type: Option<String>,
    /// Case-insensitive substring of username, nickname, name, realname, email or phone.
    pub q: Option<String>,
}

/// Live users an in-order walk reads at most before falling back to fetch-and-sort: bounds the
/// cost of a walk that finds too few matches (about a millisecond on SQLite).
const WINDOW: i64 = 5000;

/// The trigram index matches strings of at least this many characters.
const TRIGRAM: usize = 3;

/// The lower-cased text the `q` filter searches: username, nickname, name, realname, email, phone.
pub fn search_text(username: &str, p: &Profile) -> String {
    search_words([
        Some(username),
        p.nickname.as_deref(),
        p.name.as_deref(),
        p.realname.as_deref(),
        p.email.as_deref(),
        p.phone.as_deref(),
    ])
}

/// The searched fields (username, nickname, name, realname, email, phone), lower-cased and
/// joined: the one definition every writer of `users.search_text` uses.
pub fn search_words(fields: [Option<&str>; 6]) -> String {
    fields.map(|s| s.unwrap_or("")).join(" ").to_lowercase()
}

/// How a `q` condition is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Search {
    /// `users.search_text LIKE '%q%'`.
    Like,
    /// SQLite: the trigram index (`q` of 3 or more characters).
    Trigram,
    /// SQLite: `LIKE` over the narrow `user_search` table (shorter `q`).
    Narrow,
}

impl Search {
    fn of(db: &Db, q: &str) -> Self {
        match db.backend() {
            Backend::Postgres => Search::Like,
            Backend::Sqlite if q.chars().count() >= TRIGRAM => Search::Trigram,
            Backend::Sqlite => Search::Narrow,
        }
    }
}

/// `%q%` with `%`, `_` and `\` taken literally.
fn like_pattern(q: &str) -> String {
    format!("%{}%", like_escape(q))
}

/// An FTS5 phrase: the whole of `q` in double quotes (inner quotes doubled), so no character of
/// it is query syntax. On a trigram index a phrase matches exactly the texts containing `q`.
fn phrase(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

/// The `WHERE` of a list: live users matching every filter, `q` (already lower-cased) written
/// the `search` way.
fn conditions(f: &Filter, q: Option<&str>, search: Search) -> Where {
    let mut w = Where::new();
    w.push("deleted_at IS NULL".into());
    tenant_clause(&mut w, &f.tenants);
    if let Some(g) = &f.group_id {
        let m = w.mark(g.as_str());
        w.push(format!(
            "id IN (SELECT user_id FROM group_members WHERE group_id = {m})"
        ));
    }
    if let Some(r) = &f.role_id {
        let m = w.mark(r.as_str());
        w.push(format!(
            "id IN (SELECT user_id FROM user_roles WHERE role_id = {m})"
        ));
    }
    if let Some(s) = &f.state {
        w.eq("state", s.as_str());
    }
    if let Some(t) = &f.user_type {
        w.eq("user_type", t.as_str());
    }
    if let Some(q) = q {
        let clause = match search {
            Search::Like => {
                let m = w.mark(like_pattern(q));
                format!("search_text LIKE {m} ESCAPE '\\'")
            }
            Search::Trigram => {
                let m = w.mark(phrase(q));
                format!(
                    "id IN (SELECT user_id FROM user_search WHERE id IN \
                     (SELECT rowid FROM user_search_fts WHERE user_search_fts MATCH {m}))"
                )
            }
            Search::Narrow => {
                let m = w.mark(like_pattern(q));
                format!(
                    "id IN (SELECT user_id FROM user_search WHERE search_text LIKE {m} ESCAPE '\\')"
                )
            }
        };
        w.push(clause);
    }
    w
}

/// One page of users and the total. `sort` is a column expression chosen by the caller from a
/// fixed list; `dir` is `ASC` or `DESC`.
pub async fn list(
    db: &Db,
    f: &Filter,
    sort: &str,
    dir: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<(i64, Vec<User>)> {
    let q =
        f.q.as_deref()
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase);
    let q = q.as_deref();
    let search = q.map_or(Search::Like, |q| Search::of(db, q));
    let total = count(db, f, q, search).await?;
    if total == 0 || offset >= total {
        return Ok((total, Vec::new()));
    }
    let filtered = f.tenants.is_some()
        || f.group_id.is_some()
        || f.role_id.is_some()
        || f.state.is_some()
        || f.user_type.is_some()
        || q.is_some();
    if db.backend() == Backend::Sqlite && sort == "created_at" && filtered {
        let walk = Walk {
            dir,
            offset,
            limit,
            total,
        };
        if let Some(rows) = walk_in_order(db, f, q, walk).await? {
            return Ok((total, rows));
        }
    }
    let w = conditions(f, q, search);
    let n = w.len();
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users {} ORDER BY {sort} {dir}, id {dir} \
         LIMIT ${} OFFSET ${}",
        w.sql(),
        n + 1,
        n + 2
    );
    let rows = w
        .bind_as(sqlx::query_as::<_, User>(&sql))
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
    Ok((total, rows))
}

/// Number of users a list matches.
async fn count(db: &Db, f: &Filter, q: Option<&str>, search: Search) -> StoreResult<i64> {
    let sqlite = db.backend() == Backend::Sqlite;
    let alone = f.tenants.is_none() && f.state.is_none() && f.user_type.is_none();
    let (sql, arg) = match (&f.group_id, &f.role_id, q) {
        (None, None, None) if alone => return live_users(db).await,
        (Some(g), None, None) if alone => (members("group_members", "group_id", sqlite), g.clone()),
        (None, Some(r), None) if alone => (members("user_roles", "role_id", sqlite), r.clone()),
        (None, None, Some(q)) if alone && search == Search::Trigram => (
            "SELECT COUNT(*) FROM user_search_fts WHERE user_search_fts MATCH $1".into(),
            phrase(q),
        ),
        (None, None, Some(q)) if alone && search == Search::Narrow => (
            "SELECT COUNT(*) FROM user_search WHERE search_text LIKE $1 ESCAPE '\\'".into(),
            like_pattern(q),
        ),
        _ => {
            let w = conditions(f, q, search);
            let sql = format!("SELECT COUNT(*) FROM users {}", w.sql());
            let (n,) = w
                .bind_as(sqlx::query_as::<_, (i64,)>(&sql))
                .fetch_one(db.pool())
                .await?;
            return Ok(n);
        }
    };
    let (n,): (i64,) = sqlx::query_as(&sql).bind(arg).fetch_one(db.pool()).await?;
    Ok(n)
}

/// Members of one group or role (`$1`) whose user is not deleted. Every membership names an
/// existing user (foreign key) and users are never removed, only marked deleted, so this is the
/// number of live users in it; the anti-join reads the small index of deleted users only.
fn members(table: &str, column: &str, sqlite: bool) -> String {
    let hint = if sqlite {
        "INDEXED BY users_deleted "
    } else {
        ""
    };
    format!(
        "SELECT COUNT(*) FROM {table} m WHERE m.{column} = $1 AND NOT EXISTS \
         (SELECT 1 FROM users d {hint}WHERE d.id = m.user_id AND d.deleted_at IS NOT NULL)"
    )
}

/// Number of users not deleted. SQLite counts a whole table by adding up the cell counts of its
/// b-tree pages, without reading a row, so it counts all users and subtracts the (few) deleted
/// ones; PostgreSQL scans the partial index of live users.
async fn live_users(db: &Db) -> StoreResult<i64> {
    let sql = match db.backend() {
        Backend::Sqlite => {
            "SELECT (SELECT COUNT(*) FROM users) - (SELECT COUNT(*) FROM users \
             INDEXED BY users_deleted WHERE deleted_at IS NOT NULL)"
        }
        Backend::Postgres => "SELECT COUNT(*) FROM users WHERE deleted_at IS NULL",
    };
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(db.pool()).await?;
    Ok(n)
}

/// The page an in-order walk is asked for, and the total it is part of.
#[derive(Debug, Clone, Copy)]
struct Walk<'a> {
    dir: &'a str,
    offset: i64,
    limit: i64,
    total: i64,
}

/// SQLite, sort by `created_at`: the page read by walking live users in list order and keeping
/// the matching ones, through at most `WINDOW` users. `None` when matches look too sparse for
/// that (fetch-and-sort is cheaper) or the walk did not fill the page.
async fn walk_in_order(
    db: &Db,
    f: &Filter,
    q: Option<&str>,
    p: Walk<'_>,
) -> StoreResult<Option<Vec<User>>> {
    let live = live_users(db).await?;
    // Evenly spread matches fill the page after about (offset + limit) * live / total users.
    let expected = i128::from(p.offset.saturating_add(p.limit)) * i128::from(live)
        / i128::from(p.total.max(1));
    if expected > i128::from(WINDOW / 2) {
        return Ok(None);
    }
    let dir = p.dir;
    let edge: Option<(i64, String)> = sqlx::query_as(&format!(
        "SELECT created_at, id FROM users INDEXED BY users_live_created \
         WHERE deleted_at IS NULL ORDER BY created_at {dir}, id {dir} LIMIT 1 OFFSET {}",
        WINDOW - 1
    ))
    .fetch_optional(db.pool())
    .await?;
    // Row by row, LIKE costs nothing next to reading the row; it is the definition of `q`.
    let mut w = conditions(f, q, Search::Like);
    if let Some((at, id)) = &edge {
        let (a, b) = (w.mark(*at), w.mark(id.as_str()));
        let cmp = if dir == "DESC" { ">=" } else { "<=" };
        w.push(format!("(created_at, id) {cmp} ({a}, {b})"));
    }
    let n = w.len();
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users INDEXED BY users_live_created {} \
         ORDER BY created_at {dir}, id {dir} LIMIT ${} OFFSET ${}",
        w.sql(),
        n + 1,
        n + 2
    );
    let rows = w
        .bind_as(sqlx::query_as::<_, User>(&sql))
        .bind(p.limit)
        .bind(p.offset)
        .fetch_all(db.pool())
        .await?;
    // A full page is the true page: the walk covers a prefix of the list order. A short one is
    // complete only if the walk covered every live user.
    if i64::try_from(rows.len()).ok() == Some(p.limit) || edge.is_none() {
        Ok(Some(rows))
    } else {
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------------
// Exact lookups
// ---------------------------------------------------------------------------------------------

/// `tenant_id IN (…)` when the caller may see only some tenants.
fn tenant_clause(w: &mut Where, tenants: &Option<Vec<String>>) {
    if let Some(t) = tenants {
        w.any_of("tenant_id", t);
    }
}

/// The users among `ids` (in the allowed tenants), in the order of `ids`; unknown ids are
/// skipped.
pub async fn find_many(
    db: &Db,
    ids: &[String],
    tenants: &Option<Vec<String>>,
) -> StoreResult<Vec<User>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut w = Where::new();
    w.push("deleted_at IS NULL".into());
    w.any_of("id", ids);
    tenant_clause(&mut w, tenants);
    let sql = format!("SELECT {USER_COLUMNS} FROM users {}", w.sql());
    let rows = w
        .bind_as(sqlx::query_as::<_, User>(&sql))
        .fetch_all(db.pool())
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for id in ids {
        if out.iter().any(|u: &User| &u.id == id) {
            continue;
        }
        if let Some(u) = rows.iter().find(|u| &u.id == id) {
            out.push(u.clone());
        }
    }
    Ok(out)
}

/// A column an exact lookup may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExactField {
    Username,
    Email,
    Phone,
}

impl ExactField {
    fn column(self) -> &'static str {
        match self {
            ExactField::Username => "username",
            ExactField::Email => "email",
            ExactField::Phone => "phone",
        }
    }
}

/// Orders several matches: users of `prefer` (the caller's tenant) first, then the oldest.
fn first_of(w: &mut Where, prefer: &str) -> String {
    let m = w.mark(prefer);
    format!("ORDER BY CASE WHEN tenant_id = {m} THEN 0 ELSE 1 END, created_at, id LIMIT 1")
}

/// One user whose username, e-mail or phone is exactly `value`, in the allowed tenants.
pub async fn find_exact(
    db: &Db,
    field: ExactField,
    value: &str,
    tenants: &Option<Vec<String>>,
    prefer: &str,
) -> StoreResult<Option<User>> {
    let mut w = Where::new();
    w.push("deleted_at IS NULL".into());
    w.eq(field.column(), value);
    tenant_clause(&mut w, tenants);
    let wher = w.sql();
    let order = first_of(&mut w, prefer);
    let sql = format!("SELECT {USER_COLUMNS} FROM users {wher} {order}");
    Ok(w.bind_as(sqlx::query_as::<_, User>(&sql))
        .fetch_optional(db.pool())
        .await?)
}

/// One user whose `sys_attrs` holds exactly `value` (same JSON type: `1` and `"1"` differ) at
/// `path` (a key, or the segments of a dotted key), in the allowed tenants (seed 000
/// `get-user-by-sys-attr`). Path segments must not contain `"` or `\` (the caller checks).
pub async fn find_by_sys_attr(
    db: &Db,
    path: &[&str],
    value: &Value,
    tenants: &Option<Vec<String>>,
    prefer: &str,
) -> StoreResult<Option<User>> {
    let mut w = Where::new();
    w.push("deleted_at IS NULL".into());
    tenant_clause(&mut w, tenants);
    match db.backend() {
        Backend::Sqlite => {
            let json_path = format!(
                "${}",
                path.iter().map(|s| format!(".\"{s}\"")).collect::<String>()
            );
            let p = w.mark(json_path);
            let ty = format!("json_type(sys_attrs, {p})");
            let ex = format!("json_extract(sys_attrs, {p})");
            match value {
                Value::Null => w.push(format!("{ty} = 'null'")),
                Value::Bool(true) => w.push(format!("{ty} = 'true'")),
                Value::Bool(false) => w.push(format!("{ty} = 'false'")),
                Value::String(s) => {
                    let v = w.mark(s.as_str());
                    w.push(format!("{ty} = 'text' AND {ex} = {v}"));
                }
                Value::Number(n) => {
                    let v = match n.as_i64() {
                        Some(i) => w.mark(i),
                        None => w.mark(n.as_f64().unwrap_or(f64::NAN)),
                    };
                    w.push(format!("{ty} IN ('integer', 'real') AND {ex} = {v}"));
                }
                Value::Array(_) | Value::Object(_) => {
                    let kind = if value.is_array() { "array" } else { "object" };
                    let v = w.mark(serde_json::to_string(value)?);
                    w.push(format!("{ty} = '{kind}' AND {ex} = {v}"));
                }
            }
        }
        Backend::Postgres => {
            let mut expr = "sys_attrs::jsonb".to_owned();
            for seg in path {
                let m = w.mark(*seg);
                expr = format!("({expr} -> ({m}::text))");
            }
            let v = w.mark(serde_json::to_string(value)?);
            w.push(format!("{expr} = ({v}::text)::jsonb"));
        }
    }
    let wher = w.sql();
    let order = first_of(&mut w, prefer);
    let sql = format!("SELECT {USER_COLUMNS} FROM users {wher} {order}");
    Ok(w.bind_as(sqlx::query_as::<_, User>(&sql))
        .fetch_optional(db.pool())
        .await?)
}

#[cfg(test)]
mod tests;
