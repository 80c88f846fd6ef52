//! Seed 002 ("inc" SDK) login hand-off and session: `/api/auth/getSSO` → login → `referer?tk=`,
//! `/api/auth/parseTk`, `islogin`, `logout`, `getChangePasswordUri` (and the self-service
//! password page it points to), and the operation log `/api/log/save` + `listWithPaging`.
//! Applications come from the admin API, users from the CLI; every scenario on both backends.

mod flow;
mod input;
mod logs;

use serde_json::{Value, json};

use crate::common::api::{Api, ok};
use crate::common::{ALICE_PASSWORD, Browser, Outcome, Resp, TestServer, TestUser, form_encode};

/// The registered legacy callback URL of the test application (origin + path prefix).
pub const REFERER_BASE: &str = "https://app.example/app/";
/// A page of the application under that prefix, with a query of its own.
pub const REFERER: &str = "https://app.example/app/page?x=1";

/// A seed 002 application: its id (`appId`) and secret.
pub struct IncApp {
    pub id: String,
    pub secret: String,
}

/// A server, the admin API, one application and the user `alice`.
pub struct Env {
    pub server: TestServer,
    pub api: Api,
    pub app: IncApp,
    pub user: TestUser,
}

pub async fn env(b: crate::common::Backend) -> Env {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let app = inc_app(&api, "Inc App", &[REFERER_BASE], json!({})).await;
    let user = server.user("alice", ALICE_PASSWORD).await;
    Env {
        server,
        api,
        app,
        user,
    }
}

/// Registers an application with these legacy callback URLs (plus `extra` fields).
pub async fn inc_app(api: &Api, name: &str, callbacks: &[&str], extra: Value) -> IncApp {
    let mut body = json!({
        "name": name,
        "redirect_uris": ["https://app.example/cb"],
        "legacy_callback_urls": callbacks,
    });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let created = ok(&api.post("/api/v1/applications", &body).await);
    IncApp {
        id: created["id"].as_str().expect("id").to_owned(),
        secret: created["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_owned(),
    }
}

/// `/api/auth/getSSO?appId=…&referer=…`.
pub fn sso(app_id: &str, referer: &str) -> String {
    format!(
        "/api/auth/getSSO?{}",
        form_encode(&[("appId", app_id), ("referer", referer)])
    )
}

/// POSTs a JSON body (no cookies).
pub async fn call(server: &TestServer, path: &str, body: &Value) -> Resp {
    call_with(server, path, &[], body).await
}

pub async fn call_with(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Resp {
    let mut req = server.http.post(server.url(path)).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Resp::send(req).await
}

/// The `data` of a successful envelope (HTTP 200, `code` 0, `msg` "SUCCESS").
#[track_caller]
pub fn data(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.describe());
    let v = r.json();
    assert_eq!(v["code"], 0, "{}", r.describe());
    assert_eq!(v["msg"], "SUCCESS", "{}", r.describe());
    v["data"].clone()
}

/// A refusal with envelope `code`: never a 5xx, `data` null.
#[track_caller]
pub fn refused(r: &Resp, code: i64) {
    assert!(r.status < 500, "{}", r.describe());
    let v = r.json();
    assert_eq!(v["code"], code, "{}", r.describe());
    assert!(v["data"].is_null(), "{}", r.describe());
    assert!(v["msg"].is_string(), "{}", r.describe());
}

/// Signs in through getSSO (logging in when the form shows) and returns the `tk` the browser
/// brought back to the referer; the rest of the referer is kept.
pub async fn tk_via_browser(e: &Env, browser: &Browser, app_id: &str) -> String {
    let first = browser.get(&sso(app_id, REFERER)).await;
    let cb = match browser.navigate(first, Some(&e.user), None).await {
        Outcome::Left(cb) => cb,
        Outcome::Page(p) => panic!("getSSO stopped on a page\n{}", p.describe()),
    };
    assert!(
        cb.url
            .as_str()
            .starts_with("https://app.example/app/page?x=1&tk="),
        "back at {}",
        cb.url
    );
    cb.get("tk").expect("tk").to_owned()
}

/// `parseTk` → the token.
pub async fn parse_tk(server: &TestServer, tk: &str) -> String {
    let d = data(&call(server, "/api/auth/parseTk", &json!({ "tk": tk })).await);
    d["token"].as_str().expect("data.token").to_owned()
}

/// A token of `alice` at the application, through a fresh browser.
pub async fn app_token(e: &Env) -> String {
    let tk = tk_via_browser(e, &e.server.browser(), &e.app.id).await;
    parse_tk(&e.server, &tk).await
}

/// `islogin` of a token.
pub async fn is_login(server: &TestServer, token: &str) -> bool {
    data(&call(server, "/api/auth/islogin", &json!({ "token": token })).await)
        .as_bool()
        .expect("boolean data")
}
