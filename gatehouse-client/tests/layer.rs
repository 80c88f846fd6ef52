//! The layer and the extractor against a fake Gatehouse (discovery, checkApiByToken, UserInfo)
//! served on a loopback port: 401/403/503 answers, fail-closed behaviour and the decision cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_client::{Decision, Gatehouse, GatehouseConfig, GatehouseUser};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower::ServiceExt;

#[derive(Clone, Default)]
struct Fake {
    base: Arc<std::sync::OnceLock<String>>,
    checks: Arc<AtomicUsize>,
}

/// Tokens: `good` may call `/api/reports` only; `dead` is revoked (code 100401); `broken`
/// meets a store outage; `slow` never gets an answer; any other is not live (`false`, and
/// `islogin` says so).
async fn check_api(State(f): State<Fake>, Json(b): Json<Value>) -> Response {
    f.checks.fetch_add(1, Ordering::SeqCst);
    let ok = |data: bool| Json(json!({"code": 0, "msg": "SUCCESS", "data": data})).into_response();
    match b["token"].as_str().unwrap_or_default() {
        "good" => ok(b["apiPath"] == "/api/reports" && b["method"] == "GET"),
        "dead" => {
            Json(json!({"code": 100401, "msg": "login required", "data": null})).into_response()
        }
        "broken" => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"code": 100503, "msg": "service unavailable", "data": null})),
        )
            .into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            ok(true)
        }
        _ => ok(false),
    }
}

async fn islogin(Json(b): Json<Value>) -> Json<Value> {
    let live = matches!(b["token"].as_str(), Some("good" | "broken" | "slow"));
    Json(json!({"code": 0, "msg": "SUCCESS", "data": live}))
}

async fn userinfo(headers: HeaderMap) -> Response {
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some("Bearer good") => Json(json!({
            "sub": "u-1", "preferred_username": "alice", "name": "Alice Example"
        }))
        .into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn discovery(State(f): State<Fake>) -> Json<Value> {
    let base = f.base.get().cloned().unwrap_or_default();
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "userinfo_endpoint": format!("{base}/oauth/userinfo"),
        "jwks_uri": format!("{base}/jwks"),
        "end_session_endpoint": format!("{base}/oauth/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

/// Starts the fake; the sender stops it (connections are closed, later calls are refused).
async fn fake() -> (String, Fake, oneshot::Sender<()>) {
    let f = Fake::default();
    let router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(|| async { Json(json!({"keys": []})) }))
        .route("/api/auth/checkApiByToken", post(check_api))
        .route("/api/auth/islogin", post(islogin))
        .route("/oauth/userinfo", get(userinfo))
        .with_state(f.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    f.base.set(base.clone()).expect("base set once");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (base, f, tx)
}

async fn client(base: &str, ttl: Duration) -> Gatehouse {
    let mut config = GatehouseConfig::new(base, "app-1", "http://127.0.0.1:9")
        .with_client_secret("s3cret")
        .with_decision_ttl(ttl);
    config.http_timeout = Duration::from_millis(500);
    Gatehouse::discover(config).await.expect("discovery")
}

fn subapp(gh: &Gatehouse) -> Router {
    async fn show(u: GatehouseUser) -> Json<Value> {
        Json(json!({"sub": u.sub, "username": u.username, "name": u.display_name()}))
    }
    Router::new()
        .route("/api/reports", get(show))
        .route("/api/admin/settings", get(show))
        .route_layer(gh.layer())
}

async fn call(app: &Router, path: &str, auth: Option<&str>) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::get(path);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, parts.headers, v)
}

#[tokio::test]
async fn missing_or_malformed_token_is_401_with_bearer_challenge() {
    let (base, f, _stop) = fake().await;
    let app = subapp(&client(&base, Duration::from_secs(1)).await);
    for auth in [None, Some("Basic YTpi"), Some("Bearer ")] {
        let (status, headers, _) = call(&app, "/api/reports", auth).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        let challenge = headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok());
        assert!(
            challenge.is_some_and(|c| c.starts_with("Bearer")),
            "{auth:?}: {challenge:?}"
        );
    }
    assert_eq!(
        f.checks.load(Ordering::SeqCst),
        0,
        "nothing to ask Gatehouse"
    );
}

#[tokio::test]
async fn allowed_forbidden_and_revoked() {
    let (base, _f, _stop) = fake().await;
    let app = subapp(&client(&base, Duration::from_secs(1)).await);
    let (status, _, body) = call(&app, "/api/reports", Some("Bearer good")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sub"], "u-1");
    assert_eq!(body["username"], "alice");
    assert_eq!(body["name"], "Alice Example");
    let (status, _, body) = call(&app, "/api/admin/settings", Some("Bearer good")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "forbidden");
    let (status, headers, _) = call(&app, "/api/reports", Some("Bearer dead")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer error=\"invalid_token\"")
    );
    // A plain `false` for a token islogin calls dead is a 401, not a 403.
    let (status, headers, _) = call(&app, "/api/reports", Some("Bearer unknown")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn outage_timeout_and_unreachable_fail_closed_with_503() {
    let (base, f, stop) = fake().await;
    let gh = client(&base, Duration::from_secs(5)).await;
    let app = subapp(&gh);
    let (status, headers, _) = call(&app, "/api/reports", Some("Bearer broken")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key("retry-after"));
    let (status, _, _) = call(&app, "/api/reports", Some("Bearer slow")).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a timeout is no answer"
    );
    // Outages are not cached: asked again.
    let before = f.checks.load(Ordering::SeqCst);
    let (status, _, _) = call(&app, "/api/reports", Some("Bearer broken")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(f.checks.load(Ordering::SeqCst), before + 1);
    // Gatehouse gone: refused connections are 503, never a cached or default "allowed".
    let _ = stop.send(());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _, _) = call(&app, "/api/admin/settings", Some("Bearer good")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        gh.check("good", "GET", "/api/reports").await,
        Decision::Unavailable
    );
}

#[tokio::test]
async fn decisions_are_cached_for_the_ttl_only() {
    let (base, f, _stop) = fake().await;
    let gh = client(&base, Duration::from_millis(300)).await;
    let app = subapp(&gh);
    for _ in 0..3 {
        assert_eq!(
            call(&app, "/api/reports", Some("Bearer good")).await.0,
            StatusCode::OK
        );
        assert_eq!(
            call(&app, "/api/admin/settings", Some("Bearer good"))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        f.checks.load(Ordering::SeqCst),
        2,
        "one call per (token, method, path)"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        call(&app, "/api/reports", Some("Bearer good")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        f.checks.load(Ordering::SeqCst),
        3,
        "asked again after the TTL"
    );

    let (base, f, _stop2) = fake().await;
    let app = subapp(&client(&base, Duration::ZERO).await);
    for _ in 0..3 {
        assert_eq!(
            call(&app, "/api/reports", Some("Bearer good")).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(
        f.checks.load(Ordering::SeqCst),
        3,
        "TTL 0 disables the cache"
    );
}

#[tokio::test]
async fn discovery_failure_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let config = GatehouseConfig::new(base, "app-1", "http://127.0.0.1:9");
    assert!(Gatehouse::discover(config).await.is_err());
}
