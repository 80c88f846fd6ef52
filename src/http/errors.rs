//! Where every error becomes a response: OAuth JSON (RFC 6749 §5.2), Bearer challenges
//! (RFC 6750 §3) and HTML error pages. Details are logged here and never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;
use serde::Serialize;

use crate::oauth::{ErrorCode, OAuthError};
use crate::state::AppState;

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

fn log(e: &OAuthError) {
    match e.code {
        ErrorCode::ServerError => {
            tracing::error!(code = e.code.as_str(), detail = ?e.detail, "request failed")
        }
        ErrorCode::TemporarilyUnavailable => {
            tracing::warn!(detail = ?e.detail, "dependency unavailable")
        }
        _ => tracing::debug!(code = e.code.as_str(), detail = ?e.detail, "request refused"),
    }
}

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// Back-channel endpoints (token, introspection, revocation): JSON error body.
impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        log(&self);
        let status = status_of(self.code);
        let body = Json(Body {
            error: self.code.as_str(),
            error_description: &self.description,
        });
        let mut res = no_store((status, body).into_response());
        match self.code {
            ErrorCode::InvalidClient => {
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"gatehouse\""),
                );
            }
            ErrorCode::TemporarilyUnavailable => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        res
    }
}

/// A protected-resource error (userinfo): RFC 6750 §3 `WWW-Authenticate: Bearer …`.
pub struct BearerError(pub OAuthError);

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let e = self.0;
        if matches!(
            e.code,
            ErrorCode::TemporarilyUnavailable | ErrorCode::ServerError
        ) {
            return e.into_response();
        }
        log(&e);
        let code = match e.code {
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InvalidRequest => "invalid_request",
            _ => "invalid_token",
        };
        let status = if code == "insufficient_scope" {
            StatusCode::FORBIDDEN
        } else if code == "invalid_request" {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNAUTHORIZED
        };
        // The description is one of our static sentences: no quotes or control characters.
        let challenge = format!(
            "Bearer realm=\"gatehouse\", error=\"{code}\", error_description=\"{}\"",
            e.description
        );
        let mut res = (
            status,
            Json(Body {
                error: code,
                error_description: &e.description,
            }),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        no_store(res)
    }
}

/// Renders a page, or a plain error if the template itself fails.
pub fn render(app: &AppState, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    match app.templates.render(name, ctx) {
        Ok(html) => no_store((status, Html(html)).into_response()),
        Err(e) => {
            tracing::error!(template = name, error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Our own error page: used whenever redirecting the error would be unsafe.
pub fn error_page(app: &AppState, e: &OAuthError) -> Response {
    log(e);
    let status = match e.code {
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    };
    let title = match e.code {
        ErrorCode::TemporarilyUnavailable => "Temporarily unavailable",
        ErrorCode::ServerError => "Something went wrong",
        ErrorCode::AccessDenied => "Access denied",
        _ => "This sign-in request is invalid",
    };
    render(
        app,
        status,
        "error.html",
        context! { title, error => e.code.as_str(), description => &*e.description },
    )
}

/// A browser form failed its CSRF check (S-06).
pub fn csrf_failed(app: &AppState) -> Response {
    let e = OAuthError::new(
        ErrorCode::AccessDenied,
        "The form expired or was not sent by this site. Go back and try again.",
    );
    error_page(app, &e)
}
