//! Scale-out consistency: two real Gatehouse processes on one PostgreSQL database, one
//! Redis key prefix, the same keys and the same configured issuer. A directory or application
//! change made through A reaches B's caches over Redis pub/sub within 1 s (B's own refresh
//! would take up to 5 s), and a flow may hop between instances.
//!
//! Needs GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL: skipped when either is unset,
//! a failure under CI=true.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::api::ok;
use crate::common::*;
use crate::legacy_check_api::{check, env_with, link};

const REDIS_ENV: &str = "GATEHOUSE_TEST_REDIS_URL";
/// Both instances sign and verify as this issuer (loopback http is allowed; never contacted).
pub(crate) const ISSUER: &str = "http://127.0.0.1:1";
/// A path the test role grants.
const PATH: &str = "/api/user/get";
/// How soon a change made through A must be seen by B.
const PROPAGATION: Duration = Duration::from_secs(1);

/// The shared test Redis. Unset: skipped locally, a failure under CI=true.
fn redis_url() -> Option<String> {
    match std::env::var(REDIS_ENV) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{REDIS_ENV} must be set when CI=true: the Redis tests may not be skipped");
            }
            println!("skipped: {REDIS_ENV} is not set");
            None
        }
    }
}

/// The Redis URL when both PostgreSQL and Redis are available, and a fresh key prefix.
pub(crate) fn backends() -> Option<(String, String)> {
    let url = redis_url()?;
    if !postgres_available() {
        return None;
    }
    Some((url, format!("gh-it-{}:", random_hex(8))))
}

/// Removes the test's keys from the shared Redis.
pub(crate) async fn drop_keys(url: &str, prefix: &str) {
    use deadpool_redis::redis;
    let Ok(pool) =
        deadpool_redis::Config::from_url(url).create_pool(Some(deadpool_redis::Runtime::Tokio1))
    else {
        return;
    };
    let Ok(mut conn) = pool.get().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

/// A second process with the first one's whole environment: database, keys dir, issuer, Redis
/// URL and prefix. The backend passed to the harness only names the database it would create;
/// the copied `GATEHOUSE_DATABASE_URL` overrides it, so SQLite avoids an unused PostgreSQL one.
pub(crate) async fn second_instance(a: &TestServer) -> TestServer {
    let mut opts = Opts::default();
    for (k, v) in a.env() {
        opts = opts.env(k, v);
    }
    let b = TestServer::start_with(Backend::Sqlite, opts).await;
    assert_ne!(a.base, b.base, "two processes, two ports");
    b
}

/// Polls `checkApiByToken` on `s` every 50 ms until it answers `want`; fails after 1 s.
async fn answers_within(s: &TestServer, token: &str, want: bool, after: &str) -> Duration {
    let start = Instant::now();
    loop {
        if check(s, token, PATH, None).await == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < PROPAGATION,
            "{} still answers {} {PROPAGATION:?} after: {after}",
            s.base,
            !want
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn r10_directory_and_application_changes_on_a_reach_b_within_1s() {
    let Some((url, prefix)) = backends() else {
        return;
    };
    let env = [
        ("GATEHOUSE_REDIS_URL", url.as_str()),
        ("GATEHOUSE_REDIS_PREFIX", prefix.as_str()),
        ("GATEHOUSE_ISSUER", ISSUER),
    ];
    let e = env_with(Backend::Postgres, &env).await;
    let b = second_instance(&e.server).await;
    let t = e.token().await;
    let member = format!("/api/v1/roles/{}/members/{}", e.role, e.user.id);
    let app = format!("/api/v1/applications/{}", e.app.id);

    // B's caches warm: without an announcement B would keep its answer for up to 5 s.
    for _ in 0..2 {
        assert!(check(&b, &t, PATH, None).await, "setup: B allows");
    }
    link(&e.api, &member, false).await;
    let took = answers_within(&b, &t, false, "role revoked on A").await;
    println!("role revocation seen by B after {took:?}");

    link(&e.api, &member, true).await;
    answers_within(&b, &t, true, "role given again on A").await;
    assert!(check(&b, &t, PATH, None).await, "B's cache warm again");

    ok(&e.api.patch(&app, &json!({"enabled": false})).await);
    let took = answers_within(&b, &t, false, "application disabled on A").await;
    println!("application disabling seen by B after {took:?}");
    ok(&e.api.patch(&app, &json!({"enabled": true})).await);
    answers_within(&b, &t, true, "application enabled again on A").await;

    drop(b);
    drop_keys(&url, &prefix).await;
}

#[tokio::test]
async fn r10_code_from_a_redeemed_and_logged_out_on_b_is_refused_by_a_at_once() {
    let Some((url, prefix)) = backends() else {
        return;
    };
    let env = [
        ("GATEHOUSE_REDIS_URL", url.as_str()),
        ("GATEHOUSE_REDIS_PREFIX", prefix.as_str()),
        ("GATEHOUSE_ISSUER", ISSUER),
    ];
    let f = fixture_env(Backend::Postgres, &env).await;
    let a = &f.server;
    let b = second_instance(a).await;

    let browser = a.browser();
    let authz = Authz::new(&f.client);
    let cb = a.code(&browser, &authz, &f.user).await;
    let t = Tokens::from_resp(b.redeem(&f.client, &authz, cb.code()).await);
    let r = a.userinfo(&t.access).await;
    assert_eq!(r.status, 200, "A accepts B's token\n{}", r.describe());

    // The browser session, carried to B.
    let cookie = browser.cookie("gatehouse_session").expect("session cookie");
    let on_b = Browser::new(&b.base);
    on_b.set_cookie("gatehouse_session", &cookie);
    let logout = format!(
        "/oauth/logout?{}",
        form_encode(&[
            ("id_token_hint", t.id_token()),
            ("post_logout_redirect_uri", POST_LOGOUT)
        ])
    );
    let r = on_b.get(&logout).await;
    assert_eq!(r.status, 303, "{}", r.describe());

    let r = a.userinfo(&t.access).await;
    assert_eq!(r.status, 401, "A after logout on B\n{}", r.describe());
    assert_eq!(
        browser.prompt_none(&f.client).await.get("error"),
        Some("login_required"),
        "prompt=none on A after logout on B"
    );

    drop(b);
    drop_keys(&url, &prefix).await;
}
