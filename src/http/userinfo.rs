//! `GET|POST /oauth/userinfo` (OIDC Core §5.3), a protected resource (RFC 6750).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};

use super::errors::BearerError;
use super::extract::{RawParams, authorization};
use crate::clock;
use crate::oauth::{OAuthError, userinfo};
use crate::state::AppState;

/// RFC 6750 §2.1 header, or §2.2 form body on POST — never the query (§2.3 leaks into logs).
fn bearer_token(
    headers: &HeaderMap,
    form: Option<&crate::oauth::Params>,
) -> Result<String, OAuthError> {
    let from_header = authorization(headers).map(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
            .map(str::trim)
            .map(str::to_owned)
    });
    let from_form = form.and_then(|f| f.get("access_token")).map(str::to_owned);
    match (from_header, from_form) {
        (Some(Some(token)), None) => Ok(token),
        (None, Some(token)) => Ok(token),
        (Some(Some(_)), Some(_)) => Err(OAuthError::invalid_request("more than one access token")),
        (Some(None), _) => Err(OAuthError::invalid_token(
            "unsupported authorization scheme",
        )),
        (None, None) => Err(OAuthError::invalid_token("an access token is required")),
    }
}

/// Claims about the token's user.
pub async fn userinfo(
    State(app): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawParams(params): RawParams,
) -> Response {
    let result = async {
        let params = params.map_err(|e| OAuthError::invalid_request(e.to_string()))?;
        // RFC 6750 §2.3 query tokens leak into logs and Referer headers: only the header or a
        // POST body count.
        let form =
            (method == Method::POST && params.get("access_token").is_some()).then_some(&params);
        let token = bearer_token(&headers, form)?;
        userinfo::userinfo(&app.provider, &token, clock::now()).await
    };
    match result.await {
        Ok(claims) => {
            let mut res = Json(claims).into_response();
            res.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            res
        }
        Err(e) => BearerError(e).into_response(),
    }
}
