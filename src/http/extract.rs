//! Request parameter extraction shared by the OAuth endpoints: the query for GET, an
//! `application/x-www-form-urlencoded` body for POST, parsed with duplicate detection.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::oauth::params::{MAX_PARAM_BYTES, ParamsError};
use crate::oauth::{OAuthError, Params};

/// Parsed parameters, or why they were refused; handlers decide how to report it (a page for
/// /authorize, JSON elsewhere).
pub struct RawParams<const MAX: usize = MAX_PARAM_BYTES>(pub Result<Params, ParamsError>);

/// A body that is not a form, or is larger than the limit.
pub struct BodyRejection(StatusCode, &'static str);

impl IntoResponse for BodyRejection {
    fn into_response(self) -> Response {
        let mut res = OAuthError::invalid_request(self.1).into_response();
        *res.status_mut() = self.0;
        res
    }
}

impl<S: Send + Sync, const MAX: usize> FromRequest<S> for RawParams<MAX> {
    type Rejection = BodyRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            let query = req.uri().query().unwrap_or("").as_bytes().to_vec();
            return Ok(RawParams(Params::parse_limited(&query, MAX)));
        }
        let declared = req.headers().contains_key(header::CONTENT_TYPE);
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| BodyRejection(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"))?;
        // A POST without a body (e.g. userinfo with only a bearer header) has no parameters.
        if !is_form && (declared || !body.is_empty()) {
            return Err(BodyRejection(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected application/x-www-form-urlencoded",
            ));
        }
        Ok(RawParams(Params::parse_limited(&body, MAX)))
    }
}

/// The value of `Authorization`, if it is valid text.
pub fn authorization(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}
