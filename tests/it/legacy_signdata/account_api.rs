//! Seed 001's account endpoints: `POST /auth/login` (JSON), `GET /auth/self`, `POST /auth/logout`,
//! with the seed's error codes and messages.

use serde_json::{Value, json};

use super::{CALLBACK, PASSWORD, legacy_app, redeem, seed_error, self_with_token, url_encode};
use crate::common::api::ok;
use crate::common::{Backend, Browser, Resp, TestServer};

matrix!(
    l01_auth_login_json_variants_and_error_codes,
    a06_auth_self_credentials_and_logout,
);

async fn post_json(server: &TestServer, path: &str, body: &Value) -> Resp {
    Resp::send(server.http.post(server.url(path)).json(body)).await
}

async fn browser_json(browser: &Browser, server: &TestServer, path: &str, body: &Value) -> Resp {
    browser
        .send(browser.http.post(server.url(path)).json(body))
        .await
}

/// Seed 001's user object, without credentials.
#[track_caller]
fn user_object(v: &Value, username: &str) {
    assert_eq!(v["username"], username, "{v}");
    for key in [
        "id", "created", "updated", "state", "company", "roles", "isAdmin", "isOwner",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    assert!(v.get("token").is_none() && v.get("md5sum").is_none(), "{v}");
    assert!(
        !v.to_string().contains("ghk_") && !v.to_string().contains("argon2"),
        "{v}"
    );
}

async fn l01_auth_login_json_variants_and_error_codes(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let app = legacy_app(&api, json!({})).await;
    let user = server.user("erin", PASSWORD).await;

    // Username + password: the user object, and the browser session is signed in.
    let browser = server.browser();
    let r = browser_json(
        &browser,
        &server,
        "/auth/login",
        &json!({"username": "erin", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    user_object(&v, "erin");
    assert_eq!(v["id"], user.id.as_str());
    assert_eq!(v["company"]["id"], "default");
    assert_eq!(v["isAdmin"], false);
    assert_eq!(v["state"], "active");
    assert!(
        v["created"].as_str().is_some_and(|d| d.ends_with(".000Z")),
        "{v}"
    );
    assert!(v.get("code").is_none());
    let me = browser.get("/auth/self").await;
    assert_eq!(me.status, 200, "{}", me.describe());
    assert_eq!(me.json()["username"], "erin");
    // The shared SSO session: the signdata hand-off needs no form now.
    let h = browser
        .get(&super::views_login(&app.id, CALLBACK, ""))
        .await;
    super::open(&app, &super::handoff(&h));

    // With response_type=code and client_id: a code for that application, redeemable once.
    let r = post_json(
        &server,
        "/auth/login",
        &json!({"username": "erin", "password": PASSWORD, "response_type": "code", "client_id": app.id, "scope": "device"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let v = r.json();
    assert!(v["permissions"].get(&app.id).is_some(), "{v}");
    let code = v["code"].as_str().expect("code").to_owned();
    assert_eq!(redeem(&server, &app, &code).await.status, 200);
    assert_eq!(redeem(&server, &app, &code).await.status, 400);
    seed_error(
        &post_json(
            &server,
            "/auth/login",
            &json!({"username": "erin", "password": PASSWORD, "response_type": "code"}),
        )
        .await,
        400,
        104001,
        "Miss required parameter",
    );

    // The same answer for an unknown user and a wrong password (L-01: never 300301).
    let unknown = post_json(
        &server,
        "/auth/login",
        &json!({"username": "nobody", "password": PASSWORD}),
    )
    .await;
    let wrong = post_json(
        &server,
        "/auth/login",
        &json!({"username": "erin", "password": "wrong-Password-1"}),
    )
    .await;
    for r in [&unknown, &wrong] {
        seed_error(r, 401, 300308, "Wrong account or password");
        assert!(r.header("set-cookie").is_none());
    }
    assert_eq!(unknown.body, wrong.body);
    // Missing and malformed parameters.
    for body in [
        json!({}),
        json!({"username": "erin"}),
        json!({"password": PASSWORD}),
        json!({"username": "", "password": PASSWORD}),
        json!({"token": ""}),
    ] {
        seed_error(
            &post_json(&server, "/auth/login", &body).await,
            400,
            104001,
            "Miss required parameter",
        );
    }
    for body in [
        json!({"username": "erin", "password": PASSWORD, "extra": 1}),
        json!({"username": 5, "password": PASSWORD}),
        json!({"username": "erin", "password": PASSWORD, "token": "x"}),
        json!({"username": "erin", "password": PASSWORD, "response_type": "token"}),
        json!([1, 2]),
    ] {
        seed_error(
            &post_json(&server, "/auth/login", &body).await,
            400,
            104002,
            "Parameter error",
        );
    }
    let raw = Resp::send(
        server
            .http
            .post(server.url("/auth/login"))
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    seed_error(&raw, 400, 104002, "Parameter error");
    // A form (what a cross-site page could send without preflight) is refused: no login CSRF.
    let form = server
        .post_form(
            "/auth/login",
            &[("username", "erin"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(form.status, 415, "{}", form.describe());
    assert_eq!(form.json()["code"], 104002);
    assert!(form.header("set-cookie").is_none());

    // An API key as `token`: the user object, no session; never the key in the answer.
    let key = server.api_key_for("erin", "default").await;
    let r = post_json(&server, "/auth/login", &json!({"token": key})).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    user_object(&r.json(), "erin");
    assert!(!r.body.contains(&key));
    assert!(r.header("set-cookie").is_none(), "{}", r.describe());
    seed_error(
        &post_json(&server, "/auth/login", &json!({"token": "ghk_not-a-key"})).await,
        401,
        100401,
        "Unauthorized",
    );

    // A disabled account: 100403 with the right password, 300308 with a wrong one.
    ok(&api
        .post(&format!("/api/v1/users/{}/disable", user.id), &json!({}))
        .await);
    seed_error(
        &post_json(
            &server,
            "/auth/login",
            &json!({"username": "erin", "password": PASSWORD}),
        )
        .await,
        403,
        100403,
        "Permission denied",
    );
    seed_error(
        &post_json(
            &server,
            "/auth/login",
            &json!({"username": "erin", "password": "wrong-Password-1"}),
        )
        .await,
        401,
        300308,
        "Wrong account or password",
    );
}

async fn a06_auth_self_credentials_and_logout(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let app = legacy_app(&api, json!({})).await;
    let _user = server.user("frank", PASSWORD).await;
    let key = server.api_key_for("frank", "default").await;

    seed_error(&server.get("/auth/self").await, 401, 100401, "Unauthorized");
    // API-Key header.
    let r = Resp::send(
        server
            .http
            .get(server.url("/auth/self"))
            .header("API-Key", &key),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let v = r.json();
    assert_eq!(v["username"], "frank");
    assert!(v.get("token").is_none() && v.get("md5sum").is_none(), "{v}");
    assert!(v["permissions"].is_array(), "{v}");
    let bad = Resp::send(
        server
            .http
            .get(server.url("/auth/self"))
            .header("API-Key", "ghk_nope"),
    )
    .await;
    seed_error(&bad, 401, 100401, "Unauthorized");
    // `token` parameter with an API key.
    assert_eq!(self_with_token(&server, &key).await.status, 200);
    // `api-key` query: refused unless the application enabled it; the key is never logged.
    let q = |client: Option<&str>| match client {
        Some(c) => format!(
            "/auth/self?api-key={}&client_id={}",
            url_encode(&key),
            url_encode(c)
        ),
        None => format!("/auth/self?api-key={}", url_encode(&key)),
    };
    seed_error(&server.get(&q(None)).await, 401, 100401, "Unauthorized");
    seed_error(
        &server.get(&q(Some(&app.id))).await,
        401,
        100401,
        "Unauthorized",
    );
    let patched = ok(&api
        .patch(
            &format!("/api/v1/applications/{}", app.id),
            &json!({"api_key_in_query": true}),
        )
        .await);
    assert_eq!(patched["api_key_in_query"], true);
    assert!(
        patched["warnings"].to_string().contains("api-key"),
        "{patched}"
    );
    let r = server.get(&q(Some(&app.id))).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json()["username"], "frank");
    assert!(
        !server.stderr().contains(&key),
        "the API key must never be logged"
    );
    // response_type=code with an application: a code.
    let r = server
        .get(&format!(
            "/auth/self?token={}&client_id={}&response_type=code",
            url_encode(&key),
            url_encode(&app.id)
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.json()["code"].is_string());

    // Logout with an API key: accepted, but the key keeps working (a long-lived credential).
    let out = post_json(&server, "/auth/logout", &json!({"token": key})).await;
    assert_eq!(out.status, 200, "{}", out.describe());
    assert_eq!(out.json(), json!({"code": 0, "message": "User logged out"}));
    assert_eq!(self_with_token(&server, &key).await.status, 200);
    // Nobody signed in.
    seed_error(
        &post_json(&server, "/auth/logout", &json!({})).await,
        401,
        100401,
        "Unauthorized",
    );

    // Cookie session: /auth/self, then /auth/logout ends the SSO session.
    let browser = server.browser();
    assert_eq!(browser.login("frank", PASSWORD).await.status, 303);
    let me = browser.get("/auth/self").await;
    assert_eq!(me.status, 200, "{}", me.describe());
    let out = browser
        .send(browser.http.post(server.url("/auth/logout")))
        .await;
    assert_eq!(out.status, 200, "{}", out.describe());
    assert_eq!(out.json(), json!({"code": 0, "message": "User logged out"}));
    seed_error(
        &browser.get("/auth/self").await,
        401,
        100401,
        "Unauthorized",
    );
    // The next hand-off asks for the password again.
    let r = browser
        .get(&super::views_login(&app.id, CALLBACK, ""))
        .await;
    assert_eq!(r.header("location"), Some("/login"), "{}", r.describe());

    // A disabled user's key: 100403.
    let other = server.user("gina", PASSWORD).await;
    let gkey = server.api_key_for("gina", "default").await;
    ok(&api
        .post(&format!("/api/v1/users/{}/disable", other.id), &json!({}))
        .await);
    let r = self_with_token(&server, &gkey).await;
    assert!(matches!(r.status, 401 | 403), "{}", r.describe());
}
