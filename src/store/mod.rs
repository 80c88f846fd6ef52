//! Persistence: the only module with SQL. One `sqlx::Any` pool, portable SQL (`$N` placeholders,
//! TEXT and BIGINT columns, unix-second timestamps), a migrations folder per backend.

pub mod api_keys;
pub mod app_tokens;
pub mod audit;
pub mod client_roles;
pub mod clients;
pub mod consents;
pub mod credentials;
pub mod deadline;
pub mod grants;
pub mod groups;
pub mod op_logs;
pub mod permissions;
pub mod profiles;
pub mod revocations;
pub mod roles;
pub mod sql;
pub mod tenants;
pub mod user_attrs;
pub mod user_search;
pub mod users;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sqlx::Executor;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

pub use deadline::{TimedPool, Tx};

/// Which SQL server is behind the pool; dialect-only SQL branches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database handle shared by every request.
#[derive(Debug, Clone)]
pub struct Db {
    pool: TimedPool,
    backend: Backend,
}

/// Bound of each database call when none is configured (`GATEHOUSE_DB_TIMEOUT_MS`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// A persistence failure. `Unavailable` means the database could not be reached in time
/// (mapped to 503); `Conflict` is a unique-constraint violation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Other(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_owned())
            }
            sqlx::Error::Database(db) if db.code().is_some_and(|c| server_unavailable(&c)) => {
                StoreError::Unavailable(e)
            }
            _ => StoreError::Other(e),
        }
    }
}

/// SQLSTATEs of a server that is going away, starting, full or too slow: the request
/// may succeed later, so 503 rather than 500. Class 08 is "connection exception"; 57P01-57P03
/// are admin shutdown, crash shutdown and "cannot connect now"; 53300 is too many connections;
/// 57014 is a statement cancelled by `statement_timeout` (set to the same bound as ours).
fn server_unavailable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08")
        || matches!(sqlstate, "57P01" | "57P02" | "57P03" | "57014" | "53300")
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Result alias of the store layer.
pub type StoreResult<T> = Result<T, StoreError>;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    /// Connects (creating a missing SQLite file and its directory) and checks the connection;
    /// every database call is bounded by `DEFAULT_TIMEOUT`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, DEFAULT_TIMEOUT).await
    }

    /// `connect`, with each database call (waiting for a pool connection included) bounded by
    /// `timeout`: beyond it the call fails with `StoreError::Unavailable`.
    pub async fn connect_with(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        install_default_drivers();
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite:") {
            (Backend::Sqlite, sqlite_url(path)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            anyhow::bail!("unsupported database URL {url:?}: use sqlite://PATH or postgres://…");
        };
        let options = AnyPoolOptions::new()
            // a request waits at most this long for a connection, then gets 503. The
            // statement itself is bounded by `TimedPool` with the same limit.
            .acquire_timeout(timeout)
            // An idle connection is pinged before it is handed out (within the acquire
            // timeout): after a database restart, dead connections are replaced, not used.
            .test_before_acquire(true)
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    match backend {
                        Backend::Sqlite => {
                            // WAL lets readers run beside the single writer; busy_timeout queues
                            // writers.
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; \
                                 PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;",
                            )
                            .await?;
                        }
                        Backend::Postgres => {
                            // The server too gives up on a statement nobody waits for any more
                            // (stuck on a lock, say), so abandoned work does not pile up.
                            let sql = format!("SET statement_timeout = {}", timeout.as_millis());
                            conn.execute(sql.as_str()).await?;
                        }
                    }
                    Ok(())
                })
            });
        let pool = options
            .connect(&url)
            .await
            .with_context(|| format!("cannot connect to the database at {}", redact(&url)))?;
        Ok(Self {
            pool: TimedPool::new(pool, timeout),
            backend,
        })
    }

    /// Applies the pending migrations of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        // On a connection of its own, without the per-statement bound: a migration may
        // legitimately take longer than one request's budget. The connection is closed after,
        // so its session setting never reaches a request.
        let mut conn = self
            .pool
            .raw()
            .acquire()
            .await
            .context("cannot connect to the database to migrate it")?;
        conn.close_on_drop();
        if self.backend == Backend::Postgres {
            conn.execute("SET statement_timeout = 0").await?;
        }
        migrator
            .run(&mut *conn)
            .await
            .context("while migrating the database")
    }

    /// The pool, for store functions: every call on it (and on its transactions) is bounded.
    pub fn pool(&self) -> &TimedPool {
        &self.pool
    }

    /// The backend behind the pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool (graceful shutdown).
    pub async fn close(&self) {
        self.pool.raw().close().await;
    }
}

/// `sqlite://data/x.db` → make sure `data/` exists and ask SQLite to create the file.
fn sqlite_url(rest: &str) -> anyhow::Result<String> {
    let path_and_query = rest.trim_start_matches("//");
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    if path.is_empty() || path == ":memory:" {
        anyhow::bail!("use a file for SQLite (in-memory databases lose everything on restart)");
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create directory {}", parent.display()))?;
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else {
        join_query(query, "mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

fn join_query(query: &str, extra: &str) -> String {
    if query.is_empty() {
        extra.to_owned()
    } else {
        format!("{query}&{extra}")
    }
}

/// Hides a password in a database URL before it reaches a log or an error message.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Booleans are stored as BIGINT 0/1 (sqlx::Any cannot decode SQLite BOOLEAN).
pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = std::env::temp_dir().join(format!("gh-url-{}", crate::crypto::random_token()));
        let url = sqlite_url(&format!("//{}/x.db", dir.display())).unwrap_or_default();
        assert!(url.ends_with("x.db?mode=rwc"), "{url}");
        assert!(dir.exists());
        let _ = std::fs::remove_dir_all(dir);
        assert!(sqlite_url("//:memory:").is_err());
    }

    #[test]
    fn restarts_and_timeouts_are_unavailable_not_errors() {
        for code in [
            "08006", "08001", "57P01", "57P02", "57P03", "57014", "53300",
        ] {
            assert!(server_unavailable(code), "{code}");
        }
        for code in ["23505", "42P01", "22001", "40001"] {
            assert!(!server_unavailable(code), "{code}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
