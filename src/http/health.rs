//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database answers).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// Always 200 while the process serves requests.
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the database answers, 503 (with the reason) otherwise.
pub async fn readyz(State(app): State<AppState>) -> Response {
    match app.provider.db.ping().await {
        Ok(()) => Json(json!({ "status": "ready", "database": "ok" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": "unreachable" })),
            )
                .into_response()
        }
    }
}
