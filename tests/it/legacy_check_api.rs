//! Seed 002 `POST /api/auth/checkApiByToken` (G-07, G-08, A-11, A-12) and the profile APIs
//! `getUser` / `getUserDataPerm`, against an application registered through the admin API with a
//! permission catalogue, a role granting some of its items, and OIDC access tokens obtained by
//! the code flow.
//!
//! - `decisions`: allowed/denied, methods, the batch form, bad requests, token kinds, app scope.
//! - `bypass`: the path-normalisation bypass corpus.
//! - `staleness`: every directory or token change is seen by the very next call.
//! - `profile`: `getUser` fields and types, `getUserDataPerm`, store failures.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::common::api::{Api, expect, ok};
use crate::common::{
    ALICE_PASSWORD, Authz, Backend, POST_LOGOUT, REDIRECT, Resp, TestClient, TestServer, TestUser,
    Tokens,
};

mod bypass;
mod decisions;
mod profile;
mod staleness;

pub const CHECK: &str = "/api/auth/checkApiByToken";

/// The catalogue of the test application: `(code, kind, name, apis, granted to ROLE)`.
fn catalogue() -> Vec<(&'static str, &'static str, &'static str, Value, bool)> {
    vec![
        (
            "orders.read",
            "api",
            "Read orders",
            json!([{"method": "GET", "path": "/api/orders/**"}]),
            true,
        ),
        (
            "orders.write",
            "api",
            "Write orders",
            json!([{"method": "POST,PUT", "path": "/api/orders/{id}"}]),
            true,
        ),
        (
            "user.get",
            "api",
            "Get a user",
            json!([{"path": "/api/user/get"}]),
            true,
        ),
        (
            "public",
            "api",
            "Public area",
            json!([{"path": "/api/public/**"}]),
            true,
        ),
        ("/role", "menu", "Roles menu", json!([]), true),
        (
            "/role/user-edit",
            "action",
            "Edit role users",
            json!([{"method": "POST", "path": "/api/role/user/edit"}]),
            true,
        ),
        (
            "rule.a",
            "data",
            "规则aaaa",
            json!([{"path": "/test/aaaaaaaaaa"}]),
            true,
        ),
        (
            "admin.only",
            "api",
            "Administration",
            json!([{"path": "/api/admin/**"}]),
            false,
        ),
    ]
}

/// A server, its admin API, the application with its catalogue, and `alice` holding ROLE
/// directly (ROLE grants every catalogue item but `admin.only`).
pub struct Env {
    pub server: TestServer,
    pub api: Api,
    pub app: TestClient,
    pub user: TestUser,
    pub role: String,
    /// Item ids by code.
    pub items: HashMap<&'static str, String>,
}

pub fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// Registers an application through the admin API.
pub async fn application(api: &Api, name: &str, grant_types: &[&str]) -> TestClient {
    let v = ok(&api
        .post(
            "/api/v1/applications",
            &json!({
                "name": name,
                "redirect_uris": [REDIRECT],
                "post_logout_redirect_uris": [POST_LOGOUT],
                "grant_types": grant_types,
            }),
        )
        .await);
    TestClient {
        id: id(&v),
        secret: v["client_secret"].as_str().map(str::to_owned),
        json: v,
    }
}

/// Adds a catalogue item; returns its id.
pub async fn item(api: &Api, app: &str, body: Value) -> String {
    id(&ok(&api
        .post(&format!("/api/v1/applications/{app}/permissions"), &body)
        .await))
}

pub async fn role(api: &Api, code: &str, name: &str) -> String {
    id(&ok(&api
        .post("/api/v1/roles", &json!({"code": code, "name": name}))
        .await))
}

/// `PUT` (or `DELETE` when `on` is false) on an admin relation path, expecting 204.
pub async fn link(api: &Api, path: &str, on: bool) {
    let r = if on {
        api.put(path, &json!({})).await
    } else {
        api.delete(path).await
    };
    expect(&r, 204, None);
}

pub async fn env(b: Backend) -> Env {
    env_with(b, &[]).await
}

pub async fn env_with(b: Backend, server_env: &[(&str, &str)]) -> Env {
    let server = TestServer::start(b, server_env).await;
    let api = server.admin_api().await;
    let app = application(
        &api,
        "Orders",
        &["authorization_code", "refresh_token", "client_credentials"],
    )
    .await;
    let role = role(&api, "APP_USER", "App user").await;
    let mut items = HashMap::new();
    for (code, kind, name, apis, granted) in catalogue() {
        let mut body = json!({"code": code, "kind": kind, "name": name, "apis": apis});
        if kind == "data" {
            body["data_scope"] = json!({"orgs": "mine"});
        }
        let item_id = item(&api, &app.id, body).await;
        if granted {
            link(
                &api,
                &format!("/api/v1/roles/{role}/permissions/{item_id}"),
                true,
            )
            .await;
        }
        items.insert(code, item_id);
    }
    let user = server.user("alice", ALICE_PASSWORD).await;
    link(
        &api,
        &format!("/api/v1/roles/{role}/members/{}", user.id),
        true,
    )
    .await;
    Env {
        server,
        api,
        app,
        user,
        role,
        items,
    }
}

impl Env {
    /// Tokens of `user` at `app` through the code flow (a fresh browser each time).
    pub async fn tokens_for(&self, app: &TestClient, user: &TestUser) -> Tokens {
        let browser = self.server.browser();
        self.server
            .tokens(app, &browser, &Authz::new(app), user)
            .await
    }

    /// An access token of alice at the application.
    pub async fn token(&self) -> String {
        self.tokens_for(&self.app, &self.user).await.access
    }

    pub async fn check(&self, token: &str, path: &str, method: Option<&str>) -> bool {
        check(&self.server, token, path, method).await
    }
}

/// `POST` a raw body to a dialect endpoint.
pub async fn post_raw(s: &TestServer, path: &str, body: impl Into<reqwest::Body>) -> Resp {
    Resp::send(
        s.http
            .post(s.url(path))
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

pub async fn post_json(s: &TestServer, path: &str, body: &Value) -> Resp {
    Resp::send(s.http.post(s.url(path)).json(body)).await
}

/// Asserts a seed 002 success envelope and returns `data`.
#[track_caller]
pub fn data(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.describe());
    let v = r.json();
    assert_eq!(v["code"], 0, "{}", r.describe());
    assert_eq!(v["msg"], "SUCCESS", "{}", r.describe());
    v["data"].clone()
}

/// Asserts a refusal envelope with `code` (and `data: null`) and HTTP `status`.
#[track_caller]
pub fn refused(r: &Resp, status: u16, code: i64) {
    assert_eq!(r.status, status, "{}", r.describe());
    let v = r.json();
    assert_eq!(v["code"], code, "{}", r.describe());
    assert!(v["data"].is_null(), "{}", r.describe());
    assert!(v["msg"].is_string(), "{}", r.describe());
}

/// One `checkApiByToken` answer (which must be a well-formed success envelope).
pub async fn check(s: &TestServer, token: &str, path: &str, method: Option<&str>) -> bool {
    let mut body = json!({"token": token, "apiPath": path});
    if let Some(m) = method {
        body["method"] = json!(m);
    }
    let r = post_json(s, CHECK, &body).await;
    data(&r)
        .as_bool()
        .unwrap_or_else(|| panic!("data is not a boolean\n{}", r.describe()))
}
