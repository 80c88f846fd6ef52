//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database answers, and
//! Redis too when configured; with Redis it also says whether the cache-invalidation
//! subscription is up, `events: subscribed | reconnecting`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::state::AppState;

/// Always 200 while the process serves requests.
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the database (and Redis, when configured) answers, 503 with the reason otherwise.
pub async fn readyz(State(app): State<AppState>) -> Response {
    let redis_configured = app
        .config
        .redis_url
        .as_deref()
        .is_some_and(|u| !u.trim().is_empty());
    let database = app.provider.db.ping();
    // An empty revocation check is one Redis round trip that also fails while the revocations
    // are not loaded: exactly "can this instance answer requests that need Redis".
    let redis = async {
        if redis_configured {
            Some(app.provider.ephemeral.is_revoked(&[]).await)
        } else {
            None
        }
    };
    let (database, redis) = tokio::join!(database, redis);

    let mut body = Map::new();
    let mut ready = true;
    match database {
        Ok(()) => {
            body.insert("database".into(), json!("ok"));
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed: database");
            body.insert("database".into(), json!("unreachable"));
            ready = false;
        }
    }
    match redis {
        None => {}
        Some(Ok(_)) => {
            body.insert("redis".into(), json!("ok"));
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed: redis");
            body.insert("redis".into(), json!("unavailable"));
            body.insert("redis_error".into(), json!(e.0));
            ready = false;
        }
    }
    // Not hearing the other instances leaves caches up to 5 s stale: reported, still ready.
    if let Some(up) = app.provider.events.subscribed() {
        let events = if up { "subscribed" } else { "reconnecting" };
        body.insert("events".into(), json!(events));
    }
    let status = if ready { "ready" } else { "unavailable" };
    body.insert("status".into(), json!(status));
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(Value::Object(body))).into_response()
}
