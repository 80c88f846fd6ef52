//! Seed 002's reply envelope `{"code": 0, "msg": "SUCCESS", "data": …}` and the token a request
//! carries.
//!
//! Codes (numbers; seed 002 documents only 0, the others reuse seed 001's table so one list
//! serves both dialects):
//! `0` success · `100401` login required (token missing, unknown, expired or revoked) ·
//! `104001` missing parameter · `104002` parameter error ·
//! `100503` store unavailable (HTTP 503; never a `true`).

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::oauth::OAuthError;

/// Success.
pub const OK: i64 = 0;
/// The token is missing, unknown, expired or revoked.
pub const LOGIN_REQUIRED: i64 = 100401;
/// A required parameter is missing.
pub const MISSING_PARAMETER: i64 = 104001;
/// A parameter is malformed.
pub const PARAMETER_ERROR: i64 = 104002;
/// The store is unreachable; try again.
pub const UNAVAILABLE: i64 = 100503;

/// A successful reply.
pub fn ok<T: Serialize>(data: T) -> Response {
    Json(json!({ "code": OK, "msg": "SUCCESS", "data": data })).into_response()
}

/// A refusal with HTTP 200 (the SDKs read `code`), `data: null`.
pub fn fail(code: i64, msg: &str) -> Response {
    Json(json!({ "code": code, "msg": msg, "data": Value::Null })).into_response()
}

/// An internal failure: 503 for an unavailable store, 500 otherwise; never a partial answer.
pub fn from_oauth(e: &OAuthError) -> Response {
    let status = if e.code == crate::oauth::ErrorCode::TemporarilyUnavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    tracing::warn!(error = %e.description, detail = ?e.detail, "dialect request failed");
    (
        status,
        Json(json!({ "code": UNAVAILABLE, "msg": "service unavailable", "data": Value::Null })),
    )
        .into_response()
}

/// The token of a seed 002 request: the body's `token`, else `Authorization: Bearer`, else the
/// `token` header. Never the query string (it leaks into logs).
pub fn token<'a>(body_token: Option<&'a str>, headers: &'a HeaderMap) -> Option<&'a str> {
    if let Some(t) = body_token.filter(|t| !t.is_empty()) {
        return Some(t);
    }
    if let Some(t) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty())
    {
        return Some(t);
    }
    headers
        .get("token")
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
}
