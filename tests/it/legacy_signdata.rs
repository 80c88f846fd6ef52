//! Seed 001's signdata dialect: `GET /views/login` → login → registered callback with `signdata`,
//! `sign` (and `code`, `scope`); `/auth/access_token`; `/auth/signdata/verify`. The account
//! endpoints (`/auth/login`, `/auth/self`, `/auth/logout`) are in `legacy_signdata/account_api.rs`.

mod account_api;
mod md5;

use gatehouse::dialects::signdata::{self, Claims};
use serde_json::{Value, json};

use crate::common::api::{Api, ok};
use crate::common::{
    Backend, Browser, Callback, ClientAuth, REDIRECT, Resp, TestServer, TestUser, is_login_form,
};

matrix!(
    g03_browser_flow_signdata_code_and_single_use,
    g01_unregistered_callbacks_get_no_redirect,
    unsealed_secret_is_refused_until_rotated,
);

/// The registered callback (with a query of its own, which must be kept).
pub const CALLBACK: &str = "https://app.example/s/auth/callback?tab=1";
pub const PASSWORD: &str = "Correct-Horse-Battery-7";

/// A confidential application with [`CALLBACK`] registered.
#[derive(Debug, Clone)]
pub struct App {
    pub id: String,
    pub secret: String,
}

impl App {
    pub fn auth(&self) -> ClientAuth {
        ClientAuth::Post(self.id.clone(), self.secret.clone())
    }
}

pub async fn legacy_app(api: &Api, extra: Value) -> App {
    let mut body = json!({
        "name": "Legacy App",
        "redirect_uris": [REDIRECT],
        "legacy_callback_urls": [CALLBACK],
    });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let created = ok(&api.post("/api/v1/applications", &body).await);
    App {
        id: created["id"].as_str().expect("id").to_owned(),
        secret: created["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    }
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn views_login(client_id: &str, callback: &str, extra: &str) -> String {
    format!(
        "/views/login?client_id={}&redirect_uri={}{extra}",
        url_encode(client_id),
        url_encode(callback)
    )
}

pub async fn signed_in(server: &TestServer, user: &TestUser) -> Browser {
    let browser = server.browser();
    let r = browser.login(&user.username, &user.password).await;
    assert_eq!(r.status, 303, "login\n{}", r.describe());
    browser
}

/// A 303 to the registered callback, carrying the hand-off with its protective headers (G-04).
#[track_caller]
pub fn handoff(r: &Resp) -> Callback {
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(
        r.header("cache-control"),
        Some("no-store"),
        "{}",
        r.describe()
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let cb = Callback::new(r.location().expect("Location"));
    assert!(
        cb.url
            .as_str()
            .starts_with("https://app.example/s/auth/callback?tab=1&signdata="),
        "{}",
        cb.url
    );
    cb
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

pub fn open(app: &App, cb: &Callback) -> Claims {
    let (data, sign) = (
        cb.get("signdata").unwrap_or(""),
        cb.get("sign").unwrap_or(""),
    );
    signdata::open(&app.secret, &app.id, data, sign, now())
        .unwrap_or_else(|e| panic!("open failed: {e}"))
}

pub async fn redeem(server: &TestServer, app: &App, code: &str) -> Resp {
    server
        .client_post(
            "/auth/access_token",
            &app.auth(),
            &[("grant_type", "authorization_code"), ("code", code)],
        )
        .await
}

pub async fn verify(server: &TestServer, app: &App, cb: &Callback) -> Resp {
    server
        .client_post(
            "/auth/signdata/verify",
            &app.auth(),
            &[
                ("signdata", cb.get("signdata").unwrap_or("")),
                ("sign", cb.get("sign").unwrap_or("")),
            ],
        )
        .await
}

pub async fn self_with_token(server: &TestServer, token: &str) -> Resp {
    server
        .get(&format!("/auth/self?token={}", url_encode(token)))
        .await
}

/// Whether the server's log shows `needle` (its output is read asynchronously).
pub async fn logged(server: &TestServer, needle: &str) -> bool {
    for _ in 0..50 {
        if server.stderr().contains(needle) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

#[track_caller]
pub fn seed_error(r: &Resp, status: u16, code: i64, message: &str) {
    assert_eq!(r.status, status, "{}", r.describe());
    let v = r.json();
    assert_eq!(v["code"], code, "{}", r.describe());
    assert_eq!(v["message"], message, "{}", r.describe());
}

async fn g03_browser_flow_signdata_code_and_single_use(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let app = legacy_app(&api, json!({})).await;
    let user = server.user("alice", PASSWORD).await;
    let browser = server.browser();

    // Not signed in: the hand-off is parked and the login form shown.
    let path = views_login(&app.id, CALLBACK, "&scope=device&response_type=code");
    let r = browser.get(&path).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(r.header("location"), Some("/login"));
    let page = browser.get("/login").await;
    assert!(is_login_form(&page.body), "{}", page.describe());
    let r = browser
        .submit_login(&page, &user.username, &user.password)
        .await;
    assert_eq!(
        r.header("location"),
        Some("/sso/resume"),
        "{}",
        r.describe()
    );
    let cb = handoff(&browser.get("/sso/resume").await);
    assert_eq!(cb.get("tab"), Some("1"));
    assert_eq!(cb.get("scope"), Some("device"));
    let code = cb.code().to_owned();
    let sign = cb.get("sign").expect("sign");
    assert_eq!(sign.len(), 43, "HMAC-SHA256, base64url");

    let claims = open(&app, &cb);
    assert_eq!(claims.aud, app.id);
    assert_eq!(
        (claims.sub.as_str(), claims.id.as_str()),
        (user.id.as_str(), user.id.as_str())
    );
    assert_eq!(claims.username, "alice");
    assert_eq!(claims.name, "Alice Example");
    assert_eq!(claims.tenant.id, "default");
    assert_eq!(claims.iss, server.issuer);
    assert_eq!(claims.scope.as_deref(), Some("device"));
    assert!(
        claims.exp - claims.iat <= 120 && claims.exp > now(),
        "{claims:?}"
    );
    assert!(!claims.jti.is_empty());
    // Another application's secret does not open it (G-03 audience).
    let other = legacy_app(&api, json!({"name": "Other"})).await;
    assert!(
        signdata::open(
            &other.secret,
            &other.id,
            cb.get("signdata").unwrap_or(""),
            sign,
            now()
        )
        .is_err()
    );

    // The provider-side verify consumes jti: a replay is refused (G-03).
    let v = verify(&server, &app, &cb).await;
    assert_eq!(v.status, 200, "{}", v.describe());
    assert_eq!(v.json()["jti"], claims.jti.as_str());
    let again = verify(&server, &app, &cb).await;
    seed_error(&again, 400, 104002, "Parameter error");
    assert_eq!(again.json()["error"], "replayed");
    // At another application: refused.
    let elsewhere = verify(&server, &other, &cb).await;
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.describe());

    // The code: once, for this client only.
    let stolen = redeem(&server, &other, &code).await;
    seed_error(&stolen, 400, 104002, "Parameter error");
    let app2 = legacy_app(&api, json!({"name": "Third"})).await;
    let cb2 = handoff(
        &browser
            .get(&views_login(&app2.id, CALLBACK, "&response_type=code"))
            .await,
    );
    let t = redeem(&server, &app2, cb2.code()).await;
    assert_eq!(t.status, 200, "{}", t.describe());
    let tokens = t.json();
    assert!(tokens["expires_in"].is_i64(), "{tokens}");
    assert!(tokens["expires_in"].as_i64().unwrap_or_default() > 0);
    let access = tokens["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    assert_eq!(t.header("cache-control"), Some("no-store"));
    let me = self_with_token(&server, &access).await;
    assert_eq!(me.status, 200, "{}", me.describe());
    assert_eq!(me.json()["username"], "alice");
    // The refresh token works at the OAuth token endpoint, once.
    let rt = server
        .token(
            &app2.auth(),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(rt.status, 200, "{}", rt.describe());
    // Replay of the code: refused, and the first redemption's grant is revoked (RFC 6749 §4.1.2).
    let replay = redeem(&server, &app2, cb2.code()).await;
    seed_error(&replay, 400, 104002, "Parameter error");
    seed_error(
        &self_with_token(&server, &access).await,
        401,
        100401,
        "Unauthorized",
    );
    // A code without a client secret or with a wrong one: 100401.
    let cb3 = handoff(
        &browser
            .get(&views_login(&app.id, CALLBACK, "&response_type=code"))
            .await,
    );
    let anon = server
        .client_post(
            "/auth/access_token",
            &ClientAuth::Public(app.id.clone()),
            &[("code", cb3.code())],
        )
        .await;
    seed_error(&anon, 401, 100401, "Unauthorized");
    let wrong = server
        .client_post(
            "/auth/access_token",
            &ClientAuth::Post(app.id.clone(), "nope".into()),
            &[("code", cb3.code())],
        )
        .await;
    seed_error(&wrong, 401, 100401, "Unauthorized");
    seed_error(
        &redeem(&server, &app, "").await,
        400,
        104001,
        "Miss required parameter",
    );

    // Already signed in: no form, straight to the callback; without response_type no code.
    let direct = browser.get(&views_login(&app.id, CALLBACK, "")).await;
    let cb5 = handoff(&direct);
    assert!(
        cb5.get("code").is_none() && cb5.get("scope").is_none(),
        "{}",
        cb5.url
    );
    open(&app, &cb5);
    // The callback alias and the flow diagram's path.
    let alias = format!(
        "/v2/account/auth/login?client_id={}&callback={}",
        url_encode(&app.id),
        url_encode(CALLBACK)
    );
    open(&app, &handoff(&browser.get(&alias).await));
    // GET with query parameters (the seed's form) works too. Logging out with the app token
    // ends it and the SSO session it came from: the browser must sign in again.
    let cb4 = handoff(
        &browser
            .get(&views_login(&app.id, CALLBACK, "&response_type=code"))
            .await,
    );
    let q = format!(
        "/auth/access_token?code={}&client_id={}&client_secret={}&grant_type=authorization_code",
        url_encode(cb4.code()),
        url_encode(&app.id),
        url_encode(&app.secret)
    );
    let t4 = server.get(&q).await;
    assert_eq!(t4.status, 200, "{}", t4.describe());
    let access4 = t4.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let out = server
        .http
        .post(server.url("/auth/logout"))
        .json(&json!({ "token": access4 }))
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 200);
    seed_error(
        &self_with_token(&server, &access4).await,
        401,
        100401,
        "Unauthorized",
    );
    seed_error(
        &browser.get("/auth/self").await,
        401,
        100401,
        "Unauthorized",
    );
    let again = browser.get(&views_login(&app.id, CALLBACK, "")).await;
    assert_eq!(
        again.header("location"),
        Some("/login"),
        "{}",
        again.describe()
    );
}

async fn g01_unregistered_callbacks_get_no_redirect(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let app = legacy_app(&api, json!({})).await;
    let user = server.user("bob", PASSWORD).await;
    // Signed in, so that nothing else than the callback check stands in the way.
    let browser = signed_in(&server, &user).await;
    let bad = [
        "https://app.example/s/auth/callback",
        "https://app.example/s/auth/callback?tab=1&x=2",
        "https://app.example/s/auth/callback?tab=12",
        "https://app.example/s/auth/callbackX?tab=1",
        "https://app.example/s/auth/callback/?tab=1",
        "https://APP.example/s/auth/callback?tab=1",
        "https://evil.example/s/auth/callback?tab=1",
        "https://app.example@evil.com/s/auth/callback?tab=1",
        "https://app.example.evil.com/s/auth/callback?tab=1",
        "http://app.example/s/auth/callback?tab=1",
        "//evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "https:evil.example",
        "%2F%2Fevil.example",
        "https://app.example/s/auth/callback?tab=1#frag",
        "javascript:alert(1)",
    ];
    for cb in bad {
        for param in ["redirect_uri", "callback"] {
            let path = format!(
                "/views/login?client_id={}&{param}={}",
                url_encode(&app.id),
                url_encode(cb)
            );
            let r = browser.get(&path).await;
            assert_eq!(r.status, 400, "{cb}\n{}", r.describe());
            assert!(r.header("location").is_none(), "{cb}: {}", r.describe());
            assert!(!r.body.contains("signdata="), "{cb}");
        }
    }
    // Unknown or disabled application, missing or conflicting parameters: 400, no redirect.
    let mut cases = vec![
        views_login("no-such-app", CALLBACK, ""),
        format!("/views/login?client_id={}", url_encode(&app.id)),
        format!("/views/login?redirect_uri={}", url_encode(CALLBACK)),
        format!(
            "{}&callback={}",
            views_login(&app.id, CALLBACK, ""),
            url_encode("https://evil.example/")
        ),
        views_login(&app.id, CALLBACK, "&response_type=token"),
        format!("{}&client_id=again", views_login(&app.id, CALLBACK, "")),
    ];
    let disabled = legacy_app(&api, json!({"name": "Off", "enabled": false})).await;
    cases.push(views_login(&disabled.id, CALLBACK, ""));
    for path in cases {
        let r = browser.get(&path).await;
        assert_eq!(r.status, 400, "{path}\n{}", r.describe());
        assert!(r.header("location").is_none(), "{path}");
    }
    // The registered one works.
    open(
        &app,
        &handoff(&browser.get(&views_login(&app.id, CALLBACK, "")).await),
    );
}

async fn unsealed_secret_is_refused_until_rotated(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let app = legacy_app(&api, json!({})).await;
    // A secret from before sealing existed: only the hash is stored.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&server.db_url).await.expect("db");
    sqlx::query("UPDATE clients SET secret_sealed = NULL WHERE id = $1")
        .bind(&app.id)
        .execute(&pool)
        .await
        .expect("update");
    pool.close().await;
    let shown = ok(&api.get(&format!("/api/v1/applications/{}", app.id)).await);
    assert_eq!(shown["secret_sealed"], false);
    assert!(shown["warnings"].to_string().contains("rotate"), "{shown}");

    let user = server.user("dave", PASSWORD).await;
    let browser = signed_in(&server, &user).await;
    let r = browser.get(&views_login(&app.id, CALLBACK, "")).await;
    assert_eq!(r.status, 400, "{}", r.describe());
    assert!(r.header("location").is_none());
    assert!(r.body.contains("rotate"), "{}", r.body);
    assert!(logged(&server, "no usable secret").await, "logged");

    let rotated = ok(&api
        .post(
            &format!("/api/v1/applications/{}/rotate-secret", app.id),
            &json!({}),
        )
        .await);
    let app = App {
        id: app.id,
        secret: rotated["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    };
    let shown = ok(&api.get(&format!("/api/v1/applications/{}", app.id)).await);
    assert_eq!(shown["secret_sealed"], true);
    open(
        &app,
        &handoff(&browser.get(&views_login(&app.id, CALLBACK, "")).await),
    );
}
