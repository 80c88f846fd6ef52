//! PostgreSQL outages under steady load. A Gatehouse process on a throwaway PostgreSQL of
//! the test's own (sessions and codes in process), loaded by concurrent tasks (password logins,
//! code redemptions, client_credentials, introspection, `checkApiByToken`), while PostgreSQL is
//! (1) frozen with SIGSTOP for a few seconds, then thawed, and (2) killed with SIGKILL and
//! started again on the same port. Pass: requests that need the database answer 503 with
//! `Retry-After` within the configured bound (no hang, no 500, no panic, nothing granted); the
//! errors stop within 10 s of the database coming back, without restarting Gatehouse; a code, a
//! refresh token and a session from before the outages still work, exactly once.
//!
//! Also the statement bound on both backends: a lock held by another session (PostgreSQL) or
//! another process (SQLite's file lock) answers 503 within the bound, then recovers.
//!
//! Needs GATEHOUSE_TEST_DATABASE_URL (the switch for PostgreSQL tests) and PostgreSQL's server
//! binaries (`initdb`, `postgres`): skipped when either is missing, a failure under CI=true.

mod load;
mod own_pg;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::legacy_check_api::env_with;
use load::{Ctx, Load, Sample, Verdict};
use own_pg::OwnPostgres;

/// GATEHOUSE_DB_TIMEOUT_MS given to the server (not the default, to see that it is applied).
const DB_TIMEOUT: Duration = Duration::from_millis(1500);
/// Allowed on top of DB_TIMEOUT for one request (scheduling on a busy 2-core machine).
const MARGIN: Duration = Duration::from_millis(1500);
const FREEZE: Duration = Duration::from_secs(5);
const DOWN: Duration = Duration::from_secs(3);
/// the error rate is back to 0 within this long after the database is.
const RECOVERY: Duration = Duration::from_secs(10);
/// How long the load must run clean before the next phase.
const QUIET: Duration = Duration::from_secs(2);

fn own_pg_bin() -> Option<std::path::PathBuf> {
    let found = own_pg::find_bin_dir();
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL server binaries (initdb, postgres) are needed when CI=true");
        }
        println!("skipped: no initdb/postgres binaries");
    }
    found
}

/// Waits until the load has run `QUIET` without a failure after `since`; returns how long after
/// `since` the last failure ended (zero when there was none). Fails past RECOVERY + QUIET.
async fn recovery_after(load: &Load, since: Instant, what: &str) -> Duration {
    loop {
        let samples = load.samples();
        let last_bad = samples
            .iter()
            .filter(|s| s.end > since && s.verdict != Verdict::Ok)
            .map(|s| s.end)
            .max();
        let clean_from = last_bad.unwrap_or(since);
        let ok_after = samples
            .iter()
            .filter(|s| s.start > clean_from && s.verdict == Verdict::Ok)
            .count();
        if clean_from.elapsed() >= QUIET && ok_after > 0 {
            return clean_from - since;
        }
        assert!(
            since.elapsed() < RECOVERY + QUIET + Duration::from_secs(1),
            "{what}: still failing {:?} after the database came back; last failures:\n{}",
            since.elapsed(),
            lines(samples.iter().filter(|s| s.verdict != Verdict::Ok).rev())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first ten samples, one per line.
fn lines<'a>(samples: impl Iterator<Item = &'a Sample>) -> String {
    samples
        .take(10)
        .map(|s| format!("  {}", s.describe()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Counts by step and status, the longest request and the 503s' median latency in a window.
fn report(name: &str, samples: &[Sample], from: Instant, to: Instant) -> Duration {
    let window: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.start >= from && s.start <= to)
        .collect();
    let mut counts: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    for s in &window {
        *counts.entry((s.kind, s.status)).or_default() += 1;
    }
    let max = window.iter().map(|s| s.latency()).max().unwrap_or_default();
    let mut unavailable: Vec<Duration> = window
        .iter()
        .filter(|s| s.status == 503)
        .map(|s| s.latency())
        .collect();
    unavailable.sort();
    let median = unavailable
        .get(unavailable.len() / 2)
        .copied()
        .unwrap_or_default();
    println!(
        "{name}: {} requests, max latency {max:?}, {} answered 503 (median {median:?})",
        window.len(),
        unavailable.len()
    );
    for ((kind, status), n) in counts {
        println!("    {kind:28} {status:>3}  x{n}");
    }
    max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r05_postgres_freeze_and_crash_under_load_fail_with_503_and_recover() {
    if !postgres_available() {
        return;
    }
    let Some(bin) = own_pg_bin() else { return };
    let mut pg = OwnPostgres::start(bin).await;
    let url = pg.url();
    let timeout_ms = DB_TIMEOUT.as_millis().to_string();
    let e = env_with(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_DATABASE_URL", url.as_str()),
            ("GATEHOUSE_DB_TIMEOUT_MS", timeout_ms.as_str()),
            ("GATEHOUSE_CODE_TTL", "60"),
            // The load logs the same user in hundreds of times from one address.
            ("GATEHOUSE_LOGIN_LIMIT_PER_SOURCE", "1000000"),
            ("GATEHOUSE_LOGIN_LIMIT_PER_ACCOUNT", "1000000"),
        ],
    )
    .await;
    let s = &e.server;
    let app = &e.app;

    // Made before the outages, used after them.
    let browser = s.browser();
    let pending = Authz::new(app);
    let code = s.code(&browser, &pending, &e.user).await;
    let session = browser.cookie("gatehouse_session").expect("session cookie");
    let kept = e.tokens_for(app, &e.user).await;
    let live = e.tokens_for(app, &e.user).await;
    let revoked = e.tokens_for(app, &e.user).await;
    let r = s.revoke(&app.auth(), revoked.refresh()).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(!s.is_active(&app.auth(), revoked.refresh()).await);

    let load = Load::start(&Ctx {
        base: s.base.clone(),
        app: app.clone(),
        user: e.user.clone(),
        access: e.token().await,
        live_refresh: live.refresh().to_owned(),
        revoked_refresh: revoked.refresh().to_owned(),
    });
    let load_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // (1) Frozen: connections open, nothing answers.
    let frozen_at = Instant::now();
    pg.freeze();
    tokio::time::sleep(FREEZE).await;
    pg.thaw();
    let thawed_at = Instant::now();
    let after_thaw = recovery_after(&load, thawed_at, "after SIGCONT").await;

    // (2) Crashed and started again on the same port.
    let killed_at = Instant::now();
    pg.kill().await;
    tokio::time::sleep(DOWN).await;
    pg.launch().await;
    let back_at = Instant::now();
    let after_restart = recovery_after(&load, back_at, "after the restart").await;

    let samples = load.stop().await;
    let end = Instant::now();

    println!(
        "\nR-05 figures (GATEHOUSE_DB_TIMEOUT_MS={timeout_ms}, SIGSTOP {FREEZE:?}, down {DOWN:?}):"
    );
    report("started before SIGSTOP", &samples, load_started, frozen_at);
    let max_frozen = report("started while frozen", &samples, frozen_at, thawed_at);
    let max_down = report("started while down", &samples, killed_at, back_at);
    report("started after the restart", &samples, back_at, end);
    println!(
        "longest request while frozen {max_frozen:?}, while down {max_down:?}; errors ended \
         {after_thaw:?} after SIGCONT and {after_restart:?} after the restart (bound {RECOVERY:?})"
    );

    let bad: Vec<&Sample> = samples
        .iter()
        .filter(|s| matches!(s.verdict, Verdict::Unexpected | Verdict::FailOpen))
        .collect();
    assert!(
        bad.is_empty(),
        "{} unexpected answers (500s, refusals, transport errors, grants):\n{}",
        bad.len(),
        lines(bad.iter().copied())
    );
    let before: Vec<&Sample> = samples.iter().filter(|s| s.end < frozen_at).collect();
    assert!(
        !before.is_empty() && before.iter().all(|s| s.verdict == Verdict::Ok),
        "the load must run clean before the outage"
    );
    for (name, from, to) in [
        ("SIGSTOP", frozen_at, thawed_at),
        ("SIGKILL", killed_at, back_at),
    ] {
        let n = samples
            .iter()
            .filter(|s| s.start >= from && s.start <= to && s.status == 503)
            .count();
        assert!(
            n > 0,
            "no request answered 503 during {name}: was the load running?"
        );
    }
    let without: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.status == 503 && !s.retry_after)
        .collect();
    assert!(
        without.is_empty(),
        "503 without Retry-After:\n{}",
        lines(without.iter().copied())
    );
    let slowest = samples.iter().max_by_key(|s| s.latency()).expect("samples");
    assert!(
        slowest.latency() <= DB_TIMEOUT + MARGIN,
        "a request took {:?} (bound {:?}): {}",
        slowest.latency(),
        DB_TIMEOUT + MARGIN,
        slowest.describe()
    );
    assert!(after_thaw <= RECOVERY && after_restart <= RECOVERY);
    let stderr = s.stderr();
    assert!(
        !stderr.contains("panicked"),
        "the server panicked:\n{stderr}"
    );

    // (3) Nothing lost or duplicated. The code issued before both outages: exactly once.
    let s = Arc::new(e.server);
    let mut wins = 0;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (s, app, pending, code) = (s.clone(), app.clone(), pending.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            s.redeem(&app, &pending, code.code()).await
        }));
    }
    for t in tasks {
        let r = t.await.expect("redemption task");
        match r.status {
            200 => wins += 1,
            _ => assert_oauth_error(&r, 400, "invalid_grant"),
        }
    }
    assert_eq!(
        wins, 1,
        "the code from before the outages, redeemed 8 times at once"
    );

    // The refresh token from before: rotates exactly once.
    let mut wins = 0;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (s, app, rt) = (s.clone(), app.clone(), kept.refresh().to_owned());
        tasks.push(tokio::spawn(
            async move { s.refresh(&app, &rt, None).await },
        ));
    }
    for t in tasks {
        let r = t.await.expect("refresh task");
        match r.status {
            200 => wins += 1,
            _ => assert_oauth_error(&r, 400, "invalid_grant"),
        }
    }
    assert_eq!(
        wins, 1,
        "the refresh token from before the outages, used 8 times at once"
    );

    // The session from before: still signed in (prompt=none gets a code that redeems).
    let again = s.browser();
    again.set_cookie("gatehouse_session", &session);
    let authz = Authz::new(app).set("prompt", "none");
    let r = again.get(&authz.path()).await;
    let cb = Callback::new(r.location().expect("prompt=none redirects"));
    assert!(cb.get("code").is_some(), "session lost: {}", cb.url);
    let t = Tokens::from_resp(s.redeem(app, &authz, cb.code()).await);
    assert_eq!(s.userinfo(&t.access).await.status, 200);
    drop(pg);
}

/// R-05, the statement bound: a statement already running (here: waiting on a lock the test
/// holds on `users`) cannot hold a request past GATEHOUSE_DB_TIMEOUT_MS. The pool's acquire
/// timeout does not cover it; the per-call deadline (and PostgreSQL's `statement_timeout`) do.
#[tokio::test]
async fn r05_a_statement_stuck_in_the_database_answers_503_within_the_bound() {
    use sqlx::{Connection as _, Executor as _};
    if !postgres_available() {
        return;
    }
    let f = fixture_env(Backend::Postgres, &[("GATEHOUSE_DB_TIMEOUT_MS", "1000")]).await;
    let s = &f.server;
    let mut locker = sqlx::postgres::PgConnection::connect(&s.db_url)
        .await
        .expect("connect to the test database");
    locker.execute("BEGIN").await.expect("BEGIN");
    locker
        .execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("LOCK");

    login_answers_503_within_1s(&f, "`users` is locked").await;
    locker.execute("ROLLBACK").await.expect("ROLLBACK");
    let _ = locker.close().await;
    signs_in(&f).await;
}

/// R-05 for SQLite: another process holding the database file's write lock (`BEGIN
/// EXCLUSIVE`) makes a login, which must write, answer 503 within GATEHOUSE_DB_TIMEOUT_MS
/// (not after SQLite's 5 s busy timeout, nor ever 500), and service resumes once it lets go.
#[tokio::test]
async fn r05_a_locked_sqlite_file_answers_503_within_the_bound_then_recovers() {
    use sqlx::{Connection as _, Executor as _};
    let f = fixture_env(Backend::Sqlite, &[("GATEHOUSE_DB_TIMEOUT_MS", "1000")]).await;
    let s = &f.server;
    let mut locker = sqlx::sqlite::SqliteConnection::connect(&s.db_url)
        .await
        .expect("open the test database");
    locker
        .execute("BEGIN EXCLUSIVE")
        .await
        .expect("BEGIN EXCLUSIVE");

    login_answers_503_within_1s(&f, "the SQLite file is locked").await;
    locker.execute("ROLLBACK").await.expect("ROLLBACK");
    let _ = locker.close().await;
    signs_in(&f).await;
}

/// A password login (which must write) answers 503 + Retry-After within the 1 s bound the
/// lock tests configure (GATEHOUSE_DB_TIMEOUT_MS=1000), while `what` holds it up.
async fn login_answers_503_within_1s(f: &Fixture, what: &str) {
    let browser = f.server.browser();
    let page = browser.get("/login").await;
    assert_eq!(page.status, 200, "{}", page.describe());
    let started = Instant::now();
    let r = browser
        .submit_login(&page, &f.user.username, &f.user.password)
        .await;
    let took = started.elapsed();
    println!("login while {what}: {} after {took:?}", r.status);
    assert_eq!(r.status, 503, "{}", r.describe());
    assert!(r.header("retry-after").is_some(), "{}", r.describe());
    assert!(
        took < Duration::from_millis(1000) + MARGIN,
        "{what}: the request was held {took:?}"
    );
}

/// A full sign-in and a userinfo call work again.
async fn signs_in(f: &Fixture) {
    let s = &f.server;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    assert_eq!(s.userinfo(&t.access).await.status, 200);
}

/// started while its PostgreSQL is down, an instance is live at once (`/healthz` 200),
/// not ready (`/readyz` 503 "starting"), refuses everything else with 503 + Retry-After, and
/// becomes ready by itself when the database comes up (no restart).
#[tokio::test]
async fn r10_started_before_its_database_is_live_then_ready_by_itself() {
    if !postgres_available() {
        return;
    }
    let Some(bin) = own_pg_bin() else { return };
    let mut pg = OwnPostgres::start(bin).await;
    pg.kill().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let opts = Opts::default()
        .env("GATEHOUSE_DATABASE_URL", &pg.url())
        .env("GATEHOUSE_LISTEN", &format!("127.0.0.1:{port}"));
    let s = TestServer::prepare(Backend::Sqlite, opts).await;
    let mut cmd = gatehouse_cmd(s.dir.path(), s.env());
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _proc = KillOnDrop(cmd.spawn().expect("spawn gatehouse"));
    let base = format!("http://127.0.0.1:{port}");
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move { Resp::send(reqwest::Client::new().get(url)).await }
    };

    let started = Instant::now();
    loop {
        let up = reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if up {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no liveness");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.describe());
    assert_eq!(r.json()["status"], "starting", "{}", r.describe());
    for path in ["/login", "/.well-known/openid-configuration", "/jwks"] {
        let r = get(path).await;
        assert_eq!(r.status, 503, "{path}\n{}", r.describe());
        assert!(
            r.header("retry-after").is_some(),
            "{path}\n{}",
            r.describe()
        );
    }

    pg.launch().await;
    let up = Instant::now();
    loop {
        let r = get("/readyz").await;
        if r.status == 200 {
            break;
        }
        assert!(
            up.elapsed() < Duration::from_secs(15),
            "not ready\n{}",
            r.describe()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("ready {:?} after the database came up", up.elapsed());
    assert_eq!(get("/login").await.status, 200);
    let r = get("/.well-known/openid-configuration").await;
    assert_eq!(r.status, 200, "{}", r.describe());
}
