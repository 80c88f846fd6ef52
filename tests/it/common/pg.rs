//! PostgreSQL: one fresh database per server, dropped with it.

use std::time::Duration;

use url::Url;

use super::{PG_ENV, random_hex};

/// A database created for one server (dropped on drop).
pub(super) struct PgDb {
    admin_url: String,
    name: String,
}

/// Creates a fresh database; returns it and its URL.
pub(super) async fn create_pg_db() -> (PgDb, String) {
    use sqlx::{Connection as _, Executor as _};
    let admin_url = std::env::var(PG_ENV).expect("GATEHOUSE_TEST_DATABASE_URL");
    let name = format!("gh_t_{}", random_hex(12));
    let mut conn = tokio::time::timeout(
        Duration::from_secs(15),
        sqlx::postgres::PgConnection::connect(&admin_url),
    )
    .await
    .unwrap_or_else(|_| panic!("connecting to {admin_url} timed out"))
    .unwrap_or_else(|e| panic!("connecting to {admin_url}: {e}"));
    conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    let _ = conn.close().await;
    let mut url = Url::parse(&admin_url).expect("GATEHOUSE_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    (PgDb { admin_url, name }, url.to_string())
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Best effort, on its own runtime: Drop may run inside (or outside) the test's runtime.
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                use sqlx::{Connection as _, Executor as _};
                let fut = async {
                    let mut conn = sqlx::postgres::PgConnection::connect(&admin_url)
                        .await
                        .ok()?;
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if conn.execute(sql.as_str()).await.is_err() {
                        let _ = conn
                            .execute(format!("DROP DATABASE IF EXISTS \"{name}\"").as_str())
                            .await;
                    }
                    conn.close().await.ok()
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), fut).await;
            });
        });
        let _ = handle.join();
    }
}
