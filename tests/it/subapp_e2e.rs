//! End to end: Gatehouse plus the example sub-application (`examples/subapp`, built on
//! `gatehouse-client`) as two processes, walked by a cookie-keeping browser across both origins:
//! login by redirect, an allowed API call, a forbidden one, a role grant that flips it (with the
//! session and with a bearer token), logout through the app, and logout at Gatehouse reaching
//! the app (single logout).

mod subapp;

use std::time::Duration;

use serde_json::{Value, json};
use url::Url;

use crate::common::api::{Api, expect, ok};
use crate::common::{
    ALICE_PASSWORD, Authz, Backend, Browser, Outcome, Resp, TestClient, TestServer, TestUser,
    is_login_form,
};
use subapp::SubApp;

matrix!(subapp_login_api_permissions_and_logout);

/// The layer's default decision cache lifetime (`GatehouseConfig::decision_ttl`), plus margin.
const DECISION_TTL: Duration = Duration::from_millis(1200);

/// The example app's client with a two-item API catalogue and one role per item.
struct Setup {
    client_id: String,
    secret: String,
    viewer_role: String,
    settings_role: String,
}

async fn setup(api: &Api) -> Setup {
    // Redirect URIs are set once the app has bound its port (see `register_app_urls`).
    let app = ok(&api
        .post(
            "/api/v1/applications",
            &json!({"name": "Reports", "redirect_uris": ["http://127.0.0.1/auth/callback"]}),
        )
        .await);
    let client_id = app["id"].as_str().expect("application id").to_owned();
    let secret = app["client_secret"].as_str().expect("secret").to_owned();
    let item =
        |code: &str, path: &str| json!({"code": code, "kind": "api", "apis": [{"path": path}]});
    let perms = format!("/api/v1/applications/{client_id}/permissions");
    let reports = ok(&api.post(&perms, &item("reports", "/api/reports")).await);
    let settings = ok(&api
        .post(&perms, &item("admin-settings", "/api/admin/settings"))
        .await);
    let mut roles = Vec::new();
    for (code, perm) in [("REPORTS_VIEWER", &reports), ("SETTINGS_ADMIN", &settings)] {
        let role = ok(&api.post("/api/v1/roles", &json!({"code": code})).await);
        let role_id = role["id"].as_str().expect("role id").to_owned();
        let perm_id = perm["id"].as_str().expect("permission id");
        let r = api
            .put(
                &format!("/api/v1/roles/{role_id}/permissions/{perm_id}"),
                &json!({}),
            )
            .await;
        expect(&r, 204, None);
        roles.push(role_id);
    }
    let settings_role = roles.pop().expect("settings role");
    let viewer_role = roles.pop().expect("viewer role");
    Setup {
        client_id,
        secret,
        viewer_role,
        settings_role,
    }
}

async fn register_app_urls(api: &Api, client_id: &str, app: &SubApp) {
    ok(&api
        .patch(
            &format!("/api/v1/applications/{client_id}"),
            &json!({
                "redirect_uris": [app.url("/auth/callback")],
                "post_logout_redirect_uris": [app.url("/")],
            }),
        )
        .await);
}

/// A GET with `Authorization: Bearer` and no cookies.
async fn bearer_get(server: &TestServer, url: &str, token: &str) -> Resp {
    Resp::send(server.http.get(url).bearer_auth(token)).await
}

async fn grant(api: &Api, role_id: &str, user: &TestUser) {
    let r = api
        .put(
            &format!("/api/v1/roles/{role_id}/members/{}", user.id),
            &json!({}),
        )
        .await;
    assert!((200..300).contains(&r.status), "{}", r.describe());
}

#[track_caller]
fn assert_status(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.describe());
    let json = r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"));
    if json { r.json() } else { Value::Null }
}

#[track_caller]
fn assert_redirect_to(r: &Resp, prefix: &str) -> Url {
    assert!(r.is_redirect(), "expected a redirect\n{}", r.describe());
    let loc = r.location().expect("Location");
    assert!(
        loc.as_str().starts_with(prefix),
        "redirect to {loc}, expected {prefix}…"
    );
    loc
}

/// Signs in through the app: app `/login` → Gatehouse login form → app callback → app `/`.
async fn login(browser: &Browser, server: &TestServer, app: &SubApp, user: &TestUser) {
    let start = browser.get(&app.url("/login")).await;
    assert_redirect_to(&start, &format!("{}/oauth/authorize?", server.issuer));
    let callback = match browser.navigate(start, Some(user), None).await {
        Outcome::Left(cb) => cb,
        Outcome::Page(p) => panic!("login stopped on a Gatehouse page\n{}", p.describe()),
    };
    assert!(
        callback
            .url
            .as_str()
            .starts_with(&app.url("/auth/callback?")),
        "Gatehouse sent the browser to {}",
        callback.url
    );
    assert!(callback.get("code").is_some() && callback.get("state").is_some());
    let done = browser.get(callback.url.as_str()).await;
    assert_eq!(
        assert_redirect_to(&done, &app.url("/")).as_str(),
        app.url("/")
    );
    assert!(
        browser.cookie("subapp_session").is_some(),
        "the app keeps its own session"
    );
}

async fn subapp_login_api_permissions_and_logout(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let alice = server.user("alice", ALICE_PASSWORD).await;
    let s = setup(&api).await;
    grant(&api, &s.viewer_role, &alice).await;
    let app = SubApp::start(&server, &s.client_id, &s.secret).await;
    register_app_urls(&api, &s.client_id, &app).await;
    let browser = server.browser();

    // Anonymous: a login link, and the layer refuses the APIs itself.
    let home = browser.get(&app.url("/")).await;
    assert_status(&home, 200);
    assert!(home.body.contains("href=\"/login\""), "{}", home.describe());
    let r = browser.get(&app.url("/api/reports")).await;
    assert_status(&r, 401);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer")),
        "{}",
        r.describe()
    );
    let r = browser
        .get_with(
            &app.url("/api/reports"),
            &[("authorization", "Bearer not-a-token")],
        )
        .await;
    assert_status(&r, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\""),
        "a forged token is refused as invalid\n{}",
        r.describe()
    );

    login(&browser, &server, &app, &alice).await;
    let home = browser.get(&app.url("/")).await;
    assert_status(&home, 200);
    assert!(home.body.contains("Alice Example"), "{}", home.describe());
    assert!(
        home.body.contains("action=\"/logout\""),
        "{}",
        home.describe()
    );

    // Allowed by REPORTS_VIEWER; the handler sees the user.
    let r = browser.get(&app.url("/api/reports")).await;
    let body = assert_status(&r, 200);
    assert_eq!(body["viewer"]["sub"], alice.id.as_str());
    assert_eq!(body["viewer"]["username"], "alice");
    // Not covered by any role of alice's.
    let r = browser.get(&app.url("/api/admin/settings")).await;
    assert_eq!(assert_status(&r, 403)["error"], "forbidden");

    // The same APIs with a bearer token (a script of the same application): the layer asks
    // Gatehouse the same way, and the handler's user comes from UserInfo.
    let client = TestClient {
        id: s.client_id.clone(),
        secret: Some(s.secret.clone()),
        json: Value::Null,
    };
    let authz = Authz::new(&client).set("redirect_uri", &app.url("/auth/callback"));
    let tokens = server
        .tokens(&client, &server.browser(), &authz, &alice)
        .await;
    let r = bearer_get(&server, &app.url("/api/reports"), &tokens.access).await;
    assert_eq!(assert_status(&r, 200)["viewer"]["username"], "alice");
    let r = bearer_get(&server, &app.url("/api/admin/settings"), &tokens.access).await;
    assert_status(&r, 403);

    // A role grant flips it (once the app's short decision cache has expired).
    grant(&api, &s.settings_role, &alice).await;
    tokio::time::sleep(DECISION_TTL).await;
    let r = browser.get(&app.url("/api/admin/settings")).await;
    assert_eq!(assert_status(&r, 200)["admin"]["username"], "alice");
    let r = bearer_get(&server, &app.url("/api/admin/settings"), &tokens.access).await;
    assert_status(&r, 200);

    // A revoked bearer token is refused as invalid (401), not as forbidden.
    let r = server.revoke(&client.auth(), &tokens.access).await;
    assert_status(&r, 200);
    tokio::time::sleep(DECISION_TTL).await;
    let r = bearer_get(&server, &app.url("/api/reports"), &tokens.access).await;
    assert_status(&r, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );

    // Logout: the app's session, then Gatehouse's (RP-initiated, id_token_hint: no prompt).
    let old_cookie = browser.cookie("subapp_session").expect("session cookie");
    // GET does not log out (a link or image on another site must not end the session)
    assert_status(&browser.get(&app.url("/logout")).await, 405);
    let r = browser.post_form(&app.url("/logout"), &[]).await;
    let to_gatehouse = assert_redirect_to(&r, &format!("{}/oauth/logout?", server.issuer));
    let q: Vec<(String, String)> = to_gatehouse.query_pairs().into_owned().collect();
    assert!(
        q.iter().any(|(k, _)| k == "id_token_hint"),
        "{to_gatehouse}"
    );
    let r = browser.get(to_gatehouse.as_str()).await;
    assert_redirect_to(&r, &app.url("/"));
    assert!(browser.cookie("subapp_session").is_none(), "cookie cleared");
    let home = browser.get(&app.url("/")).await;
    assert!(home.body.contains("href=\"/login\""), "{}", home.describe());
    let r = browser.get(&app.url("/api/reports")).await;
    assert_status(&r, 401);
    // The old session id is dead on the server too.
    browser.set_cookie("subapp_session", &old_cookie);
    let r = browser.get(&app.url("/api/reports")).await;
    assert_status(&r, 401);
    // And the SSO session is over: logging in again shows Gatehouse's form.
    let start = browser.get(&app.url("/login")).await;
    match browser.navigate(start, None, None).await {
        Outcome::Page(p) => assert!(is_login_form(&p.body), "{}", p.describe()),
        Outcome::Left(cb) => panic!("signed in without a form after logout: {}", cb.url),
    }

    // Single logout: signing out at Gatehouse (not through the app) revokes the app's token; the
    // next API call is refused and the app forgets the login.
    login(&browser, &server, &app, &alice).await;
    assert_status(&browser.get(&app.url("/api/reports")).await, 200);
    let confirm = browser.get("/oauth/logout").await;
    assert_status(&confirm, 200);
    let r = browser
        .post_form(
            "/oauth/logout",
            &[("csrf_token", &confirm.csrf()), ("confirm", "yes")],
        )
        .await;
    assert!(r.status < 400, "{}", r.describe());
    tokio::time::sleep(DECISION_TTL).await;
    let r = browser.get(&app.url("/api/reports")).await;
    assert_status(&r, 401);
    let home = browser.get(&app.url("/")).await;
    assert!(home.body.contains("href=\"/login\""), "{}", home.describe());
}
