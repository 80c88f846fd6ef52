//! Login throttling (L-04, L-05) and the trusted-proxy setting that decides which address a
//! guess comes from. Limits under test: 10 evaluated password checks per account and source,
//! 25 per account, 200 failures per address, per 15-minute window (the defaults), unless a
//! test sets its own. "Evaluated" is observable: a checked wrong password answers 401, a
//! throttled attempt 429 without looking at the password.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::api::ok;
use crate::common::*;
use crate::multi_instance::{backends, drop_keys, second_instance};

matrix!(
    l04_sequential_guesses_are_bounded_and_unknown_users_alike,
    l04_concurrent_guesses_evaluate_at_most_the_limit,
    l05_every_password_path_shares_one_budget,
    l05_the_lock_is_soft_and_ends_with_its_window,
    l05_another_address_is_not_locked_out_by_a_guesser,
    forwarded_for_is_ignored_unless_the_proxy_is_trusted,
);

/// The proxy setting every test but one uses to place guesses at chosen addresses.
const TRUST_LOOPBACK: (&str, &str) = ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1, ::1");

/// Posts the login form (after a GET for the CSRF token), optionally "from" `xff`.
async fn login_from(browser: &Browser, user: &str, password: &str, xff: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = xff.map(|x| ("X-Forwarded-For", x)).into_iter().collect();
    let page = browser.get_with("/login", &headers).await;
    assert_eq!(page.status, 200, "{}", page.describe());
    let csrf = page.csrf();
    browser
        .post_form_with(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", user),
                ("password", password),
            ],
            &headers,
        )
        .await
}

/// The statuses of `n` sequential wrong-password logins.
async fn guesses(server: &TestServer, user: &str, n: usize, xff: Option<&str>) -> Vec<u16> {
    let browser = server.browser();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(
            login_from(&browser, user, "not the password", xff)
                .await
                .status,
        );
    }
    out
}

/// The statuses of `n` concurrent wrong-password logins for alice, spread over `servers`.
async fn concurrent_guesses(servers: &[&TestServer], n: usize) -> Vec<u16> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let browser = servers[i % servers.len()].browser();
        tasks.push(tokio::spawn(async move {
            login_from(&browser, "alice", "not the password", None)
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("join"));
    }
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn l04_sequential_guesses_are_bounded_and_unknown_users_alike(b: Backend) {
    let f = fixture(b).await;
    let statuses = guesses(&f.server, "alice", 150, None).await;
    assert_eq!(&statuses[..10], &[401; 10], "the first 10 are checked");
    assert_eq!(count(&statuses, 429), 140, "{statuses:?}");

    let browser = f.server.browser();
    let r = login_from(&browser, "alice", &f.user.password, None).await;
    assert_eq!(
        r.status,
        429,
        "the right password waits too\n{}",
        r.describe()
    );
    let retry: i64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(
        r.body.contains("Too many sign-in attempts"),
        "{}",
        r.describe()
    );
    assert!(is_login_form(&r.body), "the form again\n{}", r.describe());
    assert!(r.header("location").is_none());

    // An account that does not exist is throttled exactly alike (no enumeration, L-01).
    let unknown = guesses(&f.server, "nobody-at-all", 150, None).await;
    assert_eq!(unknown, statuses);

    // One audit entry for the lock, not one per refused request.
    let api = f.server.admin_api().await;
    let page = ok(&api.get("/api/v1/audit-logs?module=auth&limit=200").await);
    let ops: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .collect();
    assert_eq!(
        ops.iter().filter(|o| **o == "login_throttled").count(),
        2,
        "{ops:?}"
    );
    assert_eq!(
        ops.iter().filter(|o| **o == "login_failed").count(),
        20,
        "{ops:?}"
    );
}

async fn l04_concurrent_guesses_evaluate_at_most_the_limit(b: Backend) {
    let f = fixture(b).await;
    let statuses = concurrent_guesses(&[&f.server], 64).await;
    assert_eq!(count(&statuses, 401), 10, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 54, "{statuses:?}");
}

/// Posts seed 001's JSON login.
async fn json_login(server: &TestServer, user: &str, password: &str) -> Resp {
    let body = json!({ "username": user, "password": password });
    Resp::send(server.http.post(server.url("/auth/login")).json(&body)).await
}

async fn l05_every_password_path_shares_one_budget(b: Backend) {
    let f = fixture(b).await;
    // Signed in first (a clean budget), then the guessing starts.
    let victim = f.server.browser();
    assert_eq!(victim.login("alice", &f.user.password).await.status, 303);

    assert_eq!(guesses(&f.server, "alice", 4, None).await, [401; 4]);
    for _ in 0..3 {
        let r = json_login(&f.server, "alice", "not the password").await;
        assert_eq!(r.status, 401, "{}", r.describe());
        assert_eq!(r.json()["code"], 300308);
    }
    // The self-service password page checks the current password: same budget.
    for expected in [400, 400, 400, 429] {
        let page = victim.get("/account/password").await;
        let r = victim
            .post_form(
                "/account/password",
                &[
                    ("csrf_token", &page.csrf()),
                    ("current_password", "not the password"),
                    ("new_password", "a brand new passphrase"),
                    ("new_password_confirm", "a brand new passphrase"),
                ],
            )
            .await;
        assert_eq!(r.status, expected, "{}", r.describe());
    }
    let r = json_login(&f.server, "alice", &f.user.password).await;
    assert_eq!(r.status, 429, "{}", r.describe());
    assert_eq!(r.json()["code"], 100429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(guesses(&f.server, "alice", 1, None).await, [429]);
}

async fn l05_the_lock_is_soft_and_ends_with_its_window(b: Backend) {
    let f = fixture_env(b, &[("GATEHOUSE_LOGIN_WINDOW", "2")]).await;
    let statuses = guesses(&f.server, "alice", 12, None).await;
    assert_eq!(count(&statuses, 429), 2, "{statuses:?}");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let browser = f.server.browser();
    let r = login_from(&browser, "alice", &f.user.password, None).await;
    assert_eq!(r.status, 303, "the window ended\n{}", r.describe());
}

async fn l05_another_address_is_not_locked_out_by_a_guesser(b: Backend) {
    let f = fixture_env(b, &[TRUST_LOOPBACK]).await;
    let attacker = guesses(&f.server, "alice", 30, Some("198.51.100.7")).await;
    assert_eq!(count(&attacker, 401), 10, "{attacker:?}");
    // The real user, elsewhere, still signs in: the account budget (25) is not spent.
    let browser = f.server.browser();
    let r = login_from(&browser, "alice", &f.user.password, Some("203.0.113.5")).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    // A guesser spread over many addresses meets the account limit: 25 checks in all.
    let mut checked = 10;
    for i in 0..30 {
        let xff = format!("192.0.2.{i}");
        checked += count(&guesses(&f.server, "alice", 1, Some(&xff)).await, 401);
    }
    assert_eq!(checked, 25);
}

async fn forwarded_for_is_ignored_unless_the_proxy_is_trusted(b: Backend) {
    // Not trusted (the default): a forged header neither escapes the limit nor reaches the log.
    let f = fixture(b).await;
    let mut statuses = Vec::new();
    for i in 0..15 {
        let xff = format!("192.0.2.{i}");
        statuses.extend(guesses(&f.server, "alice", 1, Some(&xff)).await);
    }
    assert_eq!(count(&statuses, 401), 10, "{statuses:?}");
    let ips = audit_ips(&f.server, "login_failed").await;
    assert!(ips.iter().all(|ip| ip == "127.0.0.1"), "{ips:?}");

    // Trusted: the nearest untrusted hop is the client, a forged leading hop changes nothing.
    let f = fixture_env(b, &[TRUST_LOOPBACK]).await;
    let browser = f.server.browser();
    let r = login_from(&browser, "alice", "nope", Some("1.1.1.1, 198.51.100.9")).await;
    assert_eq!(r.status, 401);
    let r = login_from(&browser, "alice", &f.user.password, Some("198.51.100.10")).await;
    assert_eq!(r.status, 303);
    assert_eq!(audit_ips(&f.server, "login_failed").await, ["198.51.100.9"]);
    assert_eq!(audit_ips(&f.server, "login").await, ["198.51.100.10"]);
}

/// The `ip` of the audit entries of one operation.
async fn audit_ips(server: &TestServer, operation: &str) -> Vec<String> {
    let api = server.admin_api().await;
    let page = ok(&api
        .get(&format!(
            "/api/v1/audit-logs?operation={operation}&limit=200"
        ))
        .await);
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["operation"] == operation)
        .map(|e| e["ip"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// L-04 (c): three instances on one PostgreSQL and one Redis prefix share the counters, so 64
/// concurrent guesses spread over them still get exactly 10 password checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn l04_three_instances_share_one_budget() {
    let Some((redis, prefix)) = backends() else {
        return;
    };
    let env = [
        ("GATEHOUSE_REDIS_URL", redis.as_str()),
        ("GATEHOUSE_REDIS_PREFIX", prefix.as_str()),
        ("GATEHOUSE_ISSUER", crate::multi_instance::ISSUER),
    ];
    let a = TestServer::start(Backend::Postgres, &env).await;
    a.user("alice", ALICE_PASSWORD).await;
    let b = second_instance(&a).await;
    let c = second_instance(&a).await;
    let servers = [&a, &b, &c];
    let statuses = concurrent_guesses(&servers, 64).await;
    assert_eq!(count(&statuses, 401), 10, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 54, "{statuses:?}");
    // The lock holds on every instance, for the JSON API too.
    for s in servers {
        let r = json_login(s, "alice", ALICE_PASSWORD).await;
        assert_eq!(r.status, 429, "{}", r.describe());
        let v: Value = r.json();
        assert_eq!(v["code"], 100429);
    }
    drop_keys(&redis, &prefix).await;
}
