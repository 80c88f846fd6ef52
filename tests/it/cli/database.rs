//! The database: secrets and passwords never stored in clear (P-18), the SQLite file created at
//! start, and a clear failure when the database cannot be reached.

use std::time::Duration;

use crate::common::*;

matrix!(
    p18_secrets_and_passwords_not_stored_in_clear,
    r10_missing_sqlite_file_is_created,
    r10_unreachable_database_fails_clearly,
);

/// P-18 / A-04: the client secret and user passwords never reach the database in clear.
async fn p18_secrets_and_passwords_not_stored_in_clear(b: Backend) {
    let mut s = TestServer::start(b, &[]).await;
    let client = s.client(&[]).await;
    let secret = client.secret.clone().expect("secret");
    let pw = "Unique-Password-7d3f1a2b";
    s.user("dora", pw).await;
    let dump = match b {
        Backend::Sqlite => {
            s.stop();
            let mut all = Vec::new();
            for entry in std::fs::read_dir(s.dir.path()).expect("temp dir") {
                let p = entry.expect("entry").path();
                if p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("gh.db"))
                {
                    all.extend(std::fs::read(&p).expect("read db file"));
                }
            }
            assert!(!all.is_empty(), "no SQLite database file found");
            String::from_utf8_lossy(&all).into_owned()
        }
        Backend::Postgres => pg_dump_text(&s.db_url).await,
    };
    assert!(dump.contains("dora"), "sanity: the dump holds the username");
    assert!(
        !dump.contains(&secret),
        "P-18: client secret stored in clear"
    );
    assert!(!dump.contains(pw), "L-06: password stored in clear");
    assert!(
        !dump.contains(ADMIN_PASSWORD),
        "L-06: admin password stored in clear"
    );
}

async fn pg_dump_text(url: &str) -> String {
    use sqlx::{Connection as _, Row as _};
    let mut conn = sqlx::postgres::PgConnection::connect(url)
        .await
        .expect("connect");
    let tables: Vec<String> = sqlx::query(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list tables")
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    let mut out = String::new();
    for t in tables {
        let rows = sqlx::query(&format!("SELECT t::text FROM {t} t"))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("dump {t}: {e}"));
        for r in rows {
            out.push_str(&r.get::<String, _>(0));
            out.push('\n');
        }
    }
    out
}

async fn r10_missing_sqlite_file_is_created(b: Backend) {
    let s = TestServer::prepare(b, Opts::default()).await;
    let file = s.dir.path().join("gh.db");
    assert!(!file.exists());
    let s = s.launch().await;
    if b == Backend::Sqlite {
        assert!(
            file.exists(),
            "SQLite database file must be created at start"
        );
    }
    assert_eq!(s.get("/readyz").await.status, 200);
    // Also in a directory that does not exist yet? Not required by the contract; the file itself is.
}

/// A database that cannot be reached: non-zero exit, a message naming the database, no panic
/// (PostgreSQL: once GATEHOUSE_DB_START_WAIT has passed; meanwhile the instance is live and not
/// ready, see pg_outage.rs).
async fn r10_unreachable_database_fails_clearly(b: Backend) {
    let s = TestServer::prepare(b, Opts::default()).await;
    let url = match b {
        Backend::Sqlite => {
            let blocker = s.dir.path().join("not-a-dir");
            std::fs::write(&blocker, b"x").expect("write");
            format!("sqlite://{}/gh.db", blocker.display())
        }
        Backend::Postgres => "postgres://postgres@127.0.0.1:1/gh_unreachable".to_string(),
    };
    let mut env = s.env().to_vec();
    env.retain(|(k, _)| k != "GATEHOUSE_DATABASE_URL");
    env.push(("GATEHOUSE_DATABASE_URL".into(), url));
    env.push(("GATEHOUSE_DB_START_WAIT".into(), "2".into()));
    let cmd = gatehouse_cmd(s.dir.path(), &env);
    let out = run_cmd(cmd, None, Duration::from_secs(45)).await;
    assert!(
        !out.status.success(),
        "server must exit non-zero\n{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("listening on"),
        "must not start listening\n{}",
        out.describe()
    );
    let err = out.stderr.to_ascii_lowercase();
    assert!(
        err.contains("database") || err.contains("not-a-dir") || err.contains("127.0.0.1:1"),
        "message must name the database\n{}",
        out.describe()
    );
    assert!(
        !out.stderr.contains("panicked"),
        "clear message, not a panic\n{}",
        out.describe()
    );
}
