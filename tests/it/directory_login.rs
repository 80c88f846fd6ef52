//! Sign-in rules of the directory: imported bcrypt hashes upgraded to Argon2id (L-06), disabled,
//! deleted and trial-expired accounts refused with the one generic failure (L-01) and their live
//! browser sessions ended, the forced password change after an administrator's reset and the
//! single-use reset link, and `import users` / `export users`.

use serde_json::{Value, json};

use crate::common::api::{expect, ok};
use crate::common::*;

matrix!(
    l06_imported_bcrypt_user_logs_in_and_hash_becomes_argon2id,
    import_reports_bad_lines_and_export_hides_hashes,
    l01_disabled_deleted_and_trial_expired_users_cannot_log_in,
    s12_live_session_dies_when_the_account_is_disabled_or_expires,
    a10_must_change_password_before_sign_in_completes,
    a10_reset_link_is_single_use_and_ends_sessions,
);

/// `correctbatteryhorsestapler` hashed by Python's bcrypt (`$2b$`, cost 4).
const BCRYPT_2B: &str = "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie";
/// The same password hashed by node's bcrypt (`$2a$`).
const BCRYPT_2A: &str = "$2a$04$n4Uy0eSnMfvnESYL.bLwuuj0U/ETSsoTpRT9GVk5bektyVVa5xnIi";
const BCRYPT_PASSWORD: &str = "correctbatteryhorsestapler";
const OUR_ARGON2ID: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// `import users - --json` with `lines` on stdin: the exit status and the summary.
async fn import(server: &TestServer, lines: &[Value]) -> (bool, Value) {
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    import_raw(server, &input).await
}

async fn import_raw(server: &TestServer, input: &str) -> (bool, Value) {
    let out = server
        .cli_raw(&["import", "users", "-", "--json"], Some(input))
        .await;
    let summary = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON summary ({e})\n{}", out.describe()));
    (out.status.success(), summary)
}

/// Every exported user, by username.
async fn export(server: &TestServer, flags: &[&str]) -> Vec<Value> {
    let mut args = vec!["export", "users"];
    args.extend_from_slice(flags);
    let out = server.cli_raw(&args, None).await;
    assert!(out.status.success(), "{}", out.describe());
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

async fn exported(server: &TestServer, username: &str) -> Value {
    export(server, &["--with-password-hashes"])
        .await
        .into_iter()
        .find(|u| u["username"] == username)
        .unwrap_or_else(|| panic!("{username} not exported"))
}

/// Logs in from a fresh browser; returns the browser and the POST response.
async fn fresh_login(server: &TestServer, username: &str, password: &str) -> (Browser, Resp) {
    let browser = server.browser();
    let r = browser.login(username, password).await;
    (browser, r)
}

#[track_caller]
pub(crate) fn assert_signed_in(r: &Resp) {
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(r.header("location"), Some("/"), "{}", r.describe());
}

#[track_caller]
pub(crate) fn assert_refused(r: &Resp) {
    assert_eq!(r.status, 401, "{}", r.describe());
    assert!(r.body.contains(INCORRECT_LOGIN), "{}", r.describe());
    assert!(is_login_form(&r.body), "{}", r.describe());
}

/// The page without its CSRF token (the only per-session difference allowed by L-01).
fn without_csrf(r: &Resp) -> String {
    r.body.replace(&r.csrf(), "")
}

/// Whether the browser's session is signed in (`/` shows the account, else sends to /login).
async fn signed_in(browser: &Browser) -> bool {
    let r = browser.get("/").await;
    match r.status {
        200 => true,
        303 => {
            assert_eq!(r.header("location"), Some("/login"), "{}", r.describe());
            false
        }
        _ => panic!("unexpected / response\n{}", r.describe()),
    }
}

async fn l06_imported_bcrypt_user_logs_in_and_hash_becomes_argon2id(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let (success, summary) = import(
        &server,
        &[
            json!({"username": "bob2b", "password_hash": BCRYPT_2B, "email": "bob@example.com",
                   "nickname": "Bob", "attrs": {"team": "blue"}}),
            json!({"username": "ann2a", "password_hash": BCRYPT_2A, "type": "MEMBER"}),
        ],
    )
    .await;
    assert!(success, "{summary}");
    assert_eq!(summary, json!({"imported": 2, "failed": []}));
    let before = exported(&server, "bob2b").await;
    assert_eq!(before["password_hash"], BCRYPT_2B, "kept as is: {before}");
    assert_eq!(before["attrs"], json!({"team": "blue"}));
    assert_eq!(before["logins_count"], 0);

    let (_, r) = fresh_login(&server, "bob2b", "correctbatteryhorsestaplerX").await;
    assert_refused(&r);
    let (browser, r) = fresh_login(&server, "bob2b", BCRYPT_PASSWORD).await;
    assert_signed_in(&r);
    assert!(signed_in(&browser).await);

    let after = exported(&server, "bob2b").await;
    let hash = after["password_hash"].as_str().expect("hash");
    assert!(hash.starts_with(OUR_ARGON2ID), "upgraded: {hash}");
    assert_eq!(after["logins_count"], 1);
    assert_eq!(after["last_ip"], "127.0.0.1");
    assert_eq!(after["id"], before["id"], "same account");
    // the upgraded hash verifies the same password
    let (_, r) = fresh_login(&server, "bob2b", BCRYPT_PASSWORD).await;
    assert_signed_in(&r);
    assert_eq!(exported(&server, "bob2b").await["logins_count"], 2);
    // $2a$ too
    let (_, r) = fresh_login(&server, "ann2a", BCRYPT_PASSWORD).await;
    assert_signed_in(&r);
    let ann = exported(&server, "ann2a").await;
    assert!(
        ann["password_hash"]
            .as_str()
            .is_some_and(|h| h.starts_with(OUR_ARGON2ID)),
        "{ann}"
    );
}

async fn import_reports_bad_lines_and_export_hides_hashes(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let input = [
        json!({"username": "ok1", "password": "long-enough-pw", "phone": "+1 555-0100"})
            .to_string(),
        json!({"username": "md5", "password_hash": "5f4dcc3b5aa765d61d8327deb882cf99"}).to_string(),
        String::new(),
        "{not json".to_owned(),
        json!({"username": "ok2", "id": "legacy-42", "sys_attrs": {"erp": {"no": 7}}}).to_string(),
        json!({"username": "ok1"}).to_string(),
        json!({"username": "both", "password": "long-enough-pw", "password_hash": BCRYPT_2B})
            .to_string(),
        json!({"username": "admin2", "is_admin": 1}).to_string(),
        json!({"username": "elsewhere", "tenant_id": "no-such-tenant"}).to_string(),
    ]
    .join("\n");
    let (success, summary) = import_raw(&server, &input).await;
    assert!(!success, "failed lines make the command fail: {summary}");
    assert_eq!(summary["imported"], 2, "{summary}");
    let failed: Vec<i64> = summary["failed"]
        .as_array()
        .expect("failed")
        .iter()
        .map(|f| f["line"].as_i64().expect("line"))
        .collect();
    assert_eq!(failed, vec![2, 4, 6, 7, 8, 9], "{summary}");
    let error_of = |line: i64| {
        summary["failed"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["line"] == line))
            .map(|f| f["error"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    assert!(error_of(2).contains("password_hash"), "{summary}");
    assert!(error_of(6).contains("taken"), "{summary}");
    assert!(error_of(8).contains("is_admin"), "{summary}");

    // a plain password was hashed with Argon2id and works
    let ok1 = exported(&server, "ok1").await;
    assert!(
        ok1["password_hash"]
            .as_str()
            .is_some_and(|h| h.starts_with(OUR_ARGON2ID)),
        "{ok1}"
    );
    assert_eq!(ok1["register_source"], "import");
    let (_, r) = fresh_login(&server, "ok1", "long-enough-pw").await;
    assert_signed_in(&r);
    // the id is kept; a user without password cannot sign in
    let ok2 = exported(&server, "ok2").await;
    assert_eq!(ok2["id"], "legacy-42");
    assert_eq!(ok2["sys_attrs"], json!({"erp": {"no": 7}}));
    assert!(ok2.get("password_hash").is_none(), "{ok2}");
    let (_, r) = fresh_login(&server, "ok2", "").await;
    assert_eq!(r.status, 401, "{}", r.describe());

    // without the flag, no hash at all; the API sees the imported users
    let plain = export(&server, &[]).await;
    assert!(plain.len() >= 3, "admin, ok1, ok2: {plain:?}");
    assert!(plain.iter().all(|u| u.get("password_hash").is_none()));
    assert!(plain.iter().all(|u| u.get("password").is_none()));
    let api = server.admin_api().await;
    let got = ok(&api.get("/api/v1/users/legacy-42").await);
    assert_eq!(got["username"], "ok2");
    assert!(got.get("password_hash").is_none());
    // --tenant filters
    assert_eq!(
        export(&server, &["--tenant", "default"]).await.len(),
        plain.len()
    );
    let out = server
        .cli_raw(&["export", "users", "--tenant", "no-such-tenant"], None)
        .await;
    assert!(!out.status.success(), "{}", out.describe());
    // imports and exports are audited, without hashes
    let log = ok(&api
        .get("/api/v1/audit-logs?module=account&target_type=user&operation=add")
        .await);
    let cli_adds: Vec<&Value> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["actor_type"] == "cli")
        .collect();
    assert_eq!(cli_adds.len(), 2, "{log}");
    assert!(!log.to_string().contains("$argon2id$"), "{log}");
    let exports = ok(&api.get("/api/v1/audit-logs?operation=export").await);
    assert!(exports["total"].as_i64().expect("total") >= 3, "{exports}");
}

async fn l01_disabled_deleted_and_trial_expired_users_cannot_log_in(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let dis = server.user("dis", "dis-Password-1").await;
    let trial = server.user("trial", "trial-Password-1").await;
    let gone = server.user("gone", "gone-Password-1").await;

    let (_, wrong) = fresh_login(&server, "dis", "not-the-password").await;
    assert_refused(&wrong);
    ok(&api
        .post(&format!("/api/v1/users/{}/disable", dis.id), &json!({}))
        .await);
    let (_, disabled) = fresh_login(&server, "dis", &dis.password).await;
    assert_refused(&disabled);
    // L-01: the right password of a disabled account looks exactly like a wrong password
    assert_eq!(without_csrf(&disabled), without_csrf(&wrong));
    ok(&api
        .post(&format!("/api/v1/users/{}/enable", dis.id), &json!({}))
        .await);
    let (_, r) = fresh_login(&server, "dis", &dis.password).await;
    assert_signed_in(&r);

    // a trial that ends in the future still allows sign-in; one that ended does not
    ok(&api
        .put(
            &format!("/api/v1/users/{}/trial", trial.id),
            &json!({"trial_end_at": now() + 3600}),
        )
        .await);
    let (_, r) = fresh_login(&server, "trial", &trial.password).await;
    assert_signed_in(&r);
    ok(&api
        .put(
            &format!("/api/v1/users/{}/trial", trial.id),
            &json!({"trial_end_at": now() - 1}),
        )
        .await);
    let (_, r) = fresh_login(&server, "trial", &trial.password).await;
    assert_refused(&r);
    assert_eq!(without_csrf(&r), without_csrf(&wrong));
    // 0 clears the trial
    ok(&api
        .put(
            &format!("/api/v1/users/{}/trial", trial.id),
            &json!({"trial_end_at": 0}),
        )
        .await);
    let (_, r) = fresh_login(&server, "trial", &trial.password).await;
    assert_signed_in(&r);

    expect(
        &api.delete(&format!("/api/v1/users/{}", gone.id)).await,
        204,
        None,
    );
    let (_, r) = fresh_login(&server, "gone", &gone.password).await;
    assert_refused(&r);

    // the audit log tells the administrators why (and never the password)
    let log = ok(&api
        .get("/api/v1/audit-logs?module=auth&operation=login_failed&limit=100")
        .await);
    let reasons: Vec<(String, String)> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            assert_eq!(e["outcome"], "failure");
            assert_eq!(e["actor_type"], "anonymous");
            (
                e["details"]["username"].as_str().unwrap_or("").to_owned(),
                e["details"]["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for expected in [
        ("dis", "bad_password"),
        ("dis", "disabled"),
        ("trial", "trial_expired"),
        ("gone", "unknown_user"),
    ] {
        assert!(
            reasons
                .iter()
                .any(|(u, r)| u == expected.0 && r == expected.1),
            "{expected:?} not in {reasons:?}"
        );
    }
    for pw in [&dis.password, &trial.password, &gone.password] {
        assert!(!log.to_string().contains(pw.as_str()), "{log}");
    }
}

async fn s12_live_session_dies_when_the_account_is_disabled_or_expires(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let carol = server.user("carol", "carol-Password-1").await;
    let dave = server.user("dave", "dave-Password-1").await;
    let erin = server.user("erin", "erin-Password-1").await;
    let (carol_browser, r) = fresh_login(&server, "carol", &carol.password).await;
    assert_signed_in(&r);
    let (dave_browser, r) = fresh_login(&server, "dave", &dave.password).await;
    assert_signed_in(&r);
    let (erin_browser, r) = fresh_login(&server, "erin", &erin.password).await;
    assert_signed_in(&r);
    assert!(signed_in(&carol_browser).await);
    assert!(signed_in(&dave_browser).await);

    ok(&api
        .post(&format!("/api/v1/users/{}/disable", carol.id), &json!({}))
        .await);
    assert!(!signed_in(&carol_browser).await, "disabled: session ended");
    // re-enabling does not bring the ended session back
    ok(&api
        .post(&format!("/api/v1/users/{}/enable", carol.id), &json!({}))
        .await);
    assert!(!signed_in(&carol_browser).await);

    ok(&api
        .put(
            &format!("/api/v1/users/{}/trial", dave.id),
            &json!({"trial_end_at": now() - 1}),
        )
        .await);
    assert!(!signed_in(&dave_browser).await, "trial over: session ended");

    // "revoke sessions" ends sessions that signed in before it (second granularity)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    ok(&api
        .post(
            &format!("/api/v1/users/{}/revoke-sessions", erin.id),
            &json!({}),
        )
        .await);
    assert!(!signed_in(&erin_browser).await, "revoked: session ended");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (erin_browser, r) = fresh_login(&server, "erin", &erin.password).await;
    assert_signed_in(&r);
    assert!(signed_in(&erin_browser).await, "a new sign-in works");
}

async fn a10_must_change_password_before_sign_in_completes(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let (success, summary) = import(
        &server,
        &[json!({"username": "mcp", "password": "initial-Pw-1", "must_change_password": 1})],
    )
    .await;
    assert!(success, "{summary}");
    // no change pending: the form sends back to the login page
    let stray = server.browser();
    let page = stray.get("/login").await;
    let r = stray
        .post_form(
            "/password/change",
            &[
                ("csrf_token", &page.csrf()),
                ("new_password", "whatever-pw-1"),
                ("new_password_confirm", "whatever-pw-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(r.header("location"), Some("/login"));

    let (_, r) = fresh_login(&server, "mcp", "wrong-Pw-1").await;
    assert_refused(&r);
    let (browser, form) = fresh_login(&server, "mcp", "initial-Pw-1").await;
    assert_eq!(form.status, 200, "{}", form.describe());
    assert!(
        form.body.contains("name=\"new_password\""),
        "{}",
        form.describe()
    );
    assert!(!is_login_form(&form.body));
    assert!(
        !signed_in(&browser).await,
        "not signed in before the change"
    );
    let submit = |csrf: String, a: &'static str, b: &'static str| {
        let browser = &browser;
        async move {
            browser
                .post_form(
                    "/password/change",
                    &[
                        ("csrf_token", &csrf),
                        ("new_password", a),
                        ("new_password_confirm", b),
                    ],
                )
                .await
        }
    };
    let csrf = form.csrf();
    let r = submit("forged".into(), "brand-new-Pw-2", "brand-new-Pw-2").await;
    assert_eq!(r.status, 403, "CSRF: {}", r.describe());
    for (a, b, message) in [
        ("brand-new-Pw-2", "brand-new-Pw-3", "do not match"),
        ("short", "short", "at least 8"),
        ("initial-Pw-1", "initial-Pw-1", "differ"),
    ] {
        let r = submit(csrf.clone(), a, b).await;
        assert_eq!(r.status, 400, "{}", r.describe());
        assert!(r.body.contains(message), "{message}: {}", r.describe());
    }
    assert!(!signed_in(&browser).await);
    let r = submit(csrf.clone(), "brand-new-Pw-2", "brand-new-Pw-2").await;
    assert_signed_in(&r);
    assert!(signed_in(&browser).await);

    let user = exported(&server, "mcp").await;
    assert_eq!(user["must_change_password"], 0);
    assert_eq!(user["logins_count"], 1);
    let (_, r) = fresh_login(&server, "mcp", "initial-Pw-1").await;
    assert_refused(&r);
    let (_, r) = fresh_login(&server, "mcp", "brand-new-Pw-2").await;
    assert_signed_in(&r);
    let api = server.admin_api().await;
    let log = ok(&api
        .get(&format!(
            "/api/v1/audit-logs?module=auth&operation=change_password&target_id={}",
            user["id"].as_str().expect("id")
        ))
        .await);
    assert_eq!(log["total"], 1, "{log}");
}

async fn a10_reset_link_is_single_use_and_ends_sessions(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let frank = server.user("frank", "frank-Old-Pw-1").await;
    let (old_browser, r) = fresh_login(&server, "frank", &frank.password).await;
    assert_signed_in(&r);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let link = ok(&api
        .post(
            &format!("/api/v1/users/{}/reset-password", frank.id),
            &json!({}),
        )
        .await);
    let url = url::Url::parse(link["reset_url"].as_str().expect("reset_url")).expect("URL");
    assert_eq!(url.path(), "/password/reset");
    let path = format!("{}?{}", url.path(), url.query().expect("token"));
    assert!(!signed_in(&old_browser).await, "reset ends live sessions");
    let (_, r) = fresh_login(&server, "frank", &frank.password).await;
    assert_refused(&r);

    let browser = server.browser();
    let form = browser.get(&path).await;
    assert_eq!(form.status, 200, "{}", form.describe());
    let token = input_value(&form.body, "token").expect("token field");
    let post = |csrf: String, token: String, a: &'static str, b: &'static str| {
        let browser = &browser;
        async move {
            browser
                .post_form(
                    "/password/reset",
                    &[
                        ("csrf_token", &csrf),
                        ("token", &token),
                        ("new_password", a),
                        ("new_password_confirm", b),
                    ],
                )
                .await
        }
    };
    let r = post(
        "forged".into(),
        token.clone(),
        "frank-New-Pw-2",
        "frank-New-Pw-2",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.describe());
    let r = post(
        form.csrf(),
        token.clone(),
        "frank-New-Pw-2",
        "mismatch-Pw-9",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.describe());
    assert!(r.body.contains("do not match"), "{}", r.describe());
    let r = post(
        form.csrf(),
        format!("{token}x"),
        "frank-New-Pw-2",
        "frank-New-Pw-2",
    )
    .await;
    assert_eq!(r.status, 400, "a wrong token: {}", r.describe());
    assert!(r.body.contains("cannot be used"), "{}", r.describe());
    // still usable after the failed attempts
    let r = post(
        form.csrf(),
        token.clone(),
        "frank-New-Pw-2",
        "frank-New-Pw-2",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(
        r.body.contains("password has been changed"),
        "{}",
        r.describe()
    );

    // used: both the page and the form refuse it now
    let again = browser.get(&path).await;
    assert_eq!(again.status, 400, "{}", again.describe());
    assert!(!again.body.contains("name=\"new_password\""));
    let page = browser.get("/login").await;
    let r = post(
        page.csrf(),
        token.clone(),
        "frank-Third-Pw-3",
        "frank-Third-Pw-3",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.describe());

    let (_, r) = fresh_login(&server, "frank", "frank-New-Pw-2").await;
    assert_signed_in(&r);
    let (_, r) = fresh_login(&server, "frank", "frank-Third-Pw-3").await;
    assert_refused(&r);
    let user = exported(&server, "frank").await;
    assert_eq!(user["must_change_password"], 0, "{user}");
    let log = ok(&api
        .get(&format!(
            "/api/v1/audit-logs?module=auth&operation=reset_password&target_id={}",
            frank.id
        ))
        .await);
    assert_eq!(log["total"], 1, "{log}");
    assert_eq!(log["items"][0]["actor_id"], frank.id.as_str());
    assert!(!log.to_string().contains(&token), "no token in the log");
}
