//! `ApiError`: the error of the native JSON API (`/api/v1`), rendered once, here, as RFC 9457
//! problem details with a stable machine-readable `code`. Internals are logged, never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ephemeral::EphemeralError;
use crate::oauth::{ErrorCode, OAuthError};
use crate::store::StoreError;

/// A failed API request. Each variant documents its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no credentials, or credentials that are not valid (expired, revoked, unknown).
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 403: authenticated, but not allowed to do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: no such object, or one the caller may not see (never tells which, A-02).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 400: malformed input; `code` names the rule broken.
    #[error("{code}: {detail}")]
    BadRequest { code: &'static str, detail: String },
    /// 409: the change conflicts with existing data (taken name, members left, …).
    #[error("{code}: {detail}")]
    Conflict { code: &'static str, detail: String },
    /// 413: request body too large.
    #[error("payload too large")]
    TooLarge,
    /// 415: the body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 503: the database or the ephemeral store cannot answer now; retry later (fail closed).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or corrupt data; the detail goes to the log only.
    #[error("internal: {0}")]
    Internal(String),
}

/// Result alias for API handlers and directory services.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 400 with a rule name and a human-readable explanation.
    pub fn bad(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    /// 400 `invalid_field`: a field's value breaks its rule.
    pub fn invalid(field: &str, rule: &str) -> Self {
        Self::bad("invalid_field", format!("{field}: {rule}"))
    }

    /// 409 with a rule name.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    /// 403 with an explanation.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Forbidden(detail.into())
    }

    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::TooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The HTTP status of the variant.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn public_detail(&self) -> String {
        match self {
            ApiError::Unauthorized(d) => (*d).to_owned(),
            ApiError::Forbidden(d) => d.clone(),
            ApiError::NotFound(what) => format!("no such {what}"),
            ApiError::BadRequest { detail, .. } | ApiError::Conflict { detail, .. } => {
                detail.clone()
            }
            ApiError::TooLarge => "the request body is too large".into(),
            ApiError::UnsupportedMediaType => "send the body as application/json".into(),
            ApiError::Unavailable(_) => "a backing service is unavailable; retry later".into(),
            ApiError::Internal(_) => "internal error".into(),
        }
    }
}

/// RFC 9457 problem details, plus `code`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`urn:gatehouse:problem:<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// Stable machine-readable code (`not_found`, `invalid_field`, `forbidden`, …).
    pub code: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(d) => tracing::error!(detail = %d, "api request failed"),
            ApiError::Unavailable(d) => tracing::warn!(detail = %d, "dependency unavailable"),
            other => tracing::debug!(error = %other, "api request refused"),
        }
        let status = self.status();
        let problem = Problem {
            kind: format!("urn:gatehouse:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.public_detail(),
            code: self.code().to_owned(),
        };
        let mut res = (status, Json(problem)).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse\""),
            );
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(e) => ApiError::Unavailable(e.to_string()),
            StoreError::Conflict(d) => ApiError::conflict("conflict", d),
            StoreError::Corrupt(d) => ApiError::Internal(d),
            StoreError::Other(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<EphemeralError> for ApiError {
    fn from(e: EphemeralError) -> Self {
        ApiError::Unavailable(e.0)
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        match e.code {
            ErrorCode::TemporarilyUnavailable => {
                ApiError::Unavailable(e.detail.unwrap_or_default())
            }
            ErrorCode::InvalidToken | ErrorCode::InvalidClient => {
                ApiError::Unauthorized("the credentials are not valid")
            }
            ErrorCode::ServerError => {
                ApiError::Internal(e.detail.unwrap_or_else(|| e.description.to_string()))
            }
            _ => ApiError::bad("invalid_request", e.description.to_string()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(format!("{e:#}"))
    }
}
