//! Seed 001 ("Account API" V3.2): the unified login page with its `signdata` + `sign` hand-off,
//! the OAuth-like code exchange, and the account endpoints sub-applications call. Paths are the
//! seed's (relative to its blank prefix) plus the deployed prefixes of its flow diagrams
//! (`/account/…`, `GET /v2/account/auth/login`).
//!
//! - `GET /views/login` (browser): hand-off to a registered callback — [`views`].
//! - `POST /auth/login` — [`login`]; `POST /auth/logout`, `GET /auth/self` — [`api`].
//! - `GET|POST /auth/access_token`, `POST /auth/signdata/verify` (server to server) — [`token`].
//!
//! Errors use seed 001's envelope `{"code": <number>, "message": "<seed message>"}` with the
//! seed's exact messages and HTTP 401 / 403 / 400 (`100503`, HTTP 503, when the store is
//! unavailable). The format of `signdata` is in `docs/dialects.md`.

mod api;
mod login;
mod token;
mod views;

use axum::Json;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::dialects::handoff::Handoff;
use crate::oauth::authorize::SessionUser;
use crate::oauth::{ErrorCode, OAuthError};
use crate::state::AppState;

/// Routes that need the browser session.
pub fn browser_routes() -> Router<AppState> {
    Router::new()
        .route("/views/login", get(views::login))
        .route("/v2/account/auth/login", get(views::login))
        .route("/account/auth/login", get(views::login).post(login::login))
        .route("/auth/login", post(login::login))
        .route("/auth/logout", post(api::logout))
        .route("/account/auth/logout", post(api::logout))
        .route("/auth/self", get(api::me))
        .route("/account/auth/self", get(api::me))
}

/// Server-to-server routes.
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/auth/access_token",
            get(token::access_token).post(token::access_token),
        )
        .route(
            "/account/auth/access_token",
            get(token::access_token).post(token::access_token),
        )
        .route("/auth/signdata/verify", post(token::verify))
}

/// Completes a hand-off of this dialect for the signed-in `user`: the redirect to the app.
pub(super) async fn complete(
    app: &AppState,
    user: &SessionUser,
    handoff: Handoff,
) -> Result<Response, OAuthError> {
    views::complete(app, user, handoff).await
}

/// Seed 001's error codes (seed 001 L1490–1500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    /// `100401 Unauthorized`: not signed in, or the credential is not valid.
    Unauthorized,
    /// `100403 Permission denied`: e.g. the account is inactive.
    PermissionDenied,
    /// `104001 Miss required parameter`.
    MissingParameter,
    /// `104002 Parameter error`.
    ParameterError,
    /// `300308 Wrong account or password` (also for unknown users: never `300301`, L-01).
    WrongAccount,
    /// `100429 Too many requests` (Gatehouse addition, HTTP 429 + `Retry-After`): login
    /// throttled (L-04); seed 001 has no code for it.
    TooManyRequests,
}

impl Code {
    fn parts(self) -> (StatusCode, i64, &'static str) {
        match self {
            Code::Unauthorized => (StatusCode::UNAUTHORIZED, 100401, "Unauthorized"),
            Code::PermissionDenied => (StatusCode::FORBIDDEN, 100403, "Permission denied"),
            Code::MissingParameter => (StatusCode::BAD_REQUEST, 104001, "Miss required parameter"),
            Code::ParameterError => (StatusCode::BAD_REQUEST, 104002, "Parameter error"),
            Code::WrongAccount => (
                StatusCode::UNAUTHORIZED,
                300308,
                "Wrong account or password",
            ),
            Code::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, 100429, "Too many requests"),
        }
    }
}

/// A refusal in seed 001's envelope.
pub(crate) fn fail(code: Code) -> Response {
    let (status, code, message) = code.parts();
    no_store((status, Json(json!({ "code": code, "message": message }))).into_response())
}

/// A refusal with a machine-readable reason next to the seed's fields (non-seed endpoints).
pub(crate) fn fail_with(code: Code, error: &str) -> Response {
    let (status, code, message) = code.parts();
    no_store(
        (
            status,
            Json(json!({ "code": code, "message": message, "error": error })),
        )
            .into_response(),
    )
}

/// An internal failure: 503 when the store is unavailable, 500 otherwise.
pub(crate) fn failure(e: &OAuthError) -> Response {
    let status = match e.code {
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    tracing::warn!(error = %e.description, detail = ?e.detail, "seed 001 request failed");
    no_store(
        (
            status,
            Json(json!({ "code": 100503, "message": "Service unavailable" })),
        )
            .into_response(),
    )
}

/// A JSON success body that must not be cached (it carries credentials or personal data).
pub(crate) fn ok(body: impl serde::Serialize) -> Response {
    no_store(Json(body).into_response())
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (G-04, RFC 6749 §5.1).
pub(crate) fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}
