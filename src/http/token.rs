//! Back-channel endpoints: `POST /oauth/token`, `/oauth/introspect`, `/oauth/revoke`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::extract::{RawParams, authorization};
use crate::clock;
use crate::oauth::client_auth::{self, AuthenticatedClient};
use crate::oauth::{ErrorCode, OAuthError, Params, grants, introspect};
use crate::state::AppState;

async fn authenticated(
    app: &AppState,
    headers: &HeaderMap,
    params: Result<Params, crate::oauth::params::ParamsError>,
) -> Result<(AuthenticatedClient, Params), OAuthError> {
    let params = params.map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let client = client_auth::authenticate(&app.provider, authorization(headers), &params).await?;
    Ok((client, params))
}

fn json_no_store(body: impl serde::Serialize) -> Response {
    let mut res = Json(body).into_response();
    let h = res.headers_mut();
    // RFC 6749 §5.1: responses carrying tokens must not be cached.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// RFC 6749 §3.2.
pub async fn post_token(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawParams(params): RawParams,
) -> Response {
    let result = async {
        let (client, form) = authenticated(&app, &headers, params).await?;
        let now = clock::now();
        let p = &app.provider;
        match form.get("grant_type") {
            Some("authorization_code") => grants::authorization_code(p, &client, &form, now).await,
            Some("refresh_token") => grants::refresh_token(p, &client, &form, now).await,
            Some("client_credentials") => grants::client_credentials(p, &client, &form, now).await,
            Some(_) => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "unsupported grant_type",
            )),
            None => Err(OAuthError::invalid_request("grant_type is required")),
        }
    };
    match result.await {
        Ok(tokens) => json_no_store(tokens),
        Err(e) => e.into_response(),
    }
}

/// RFC 7662.
pub async fn post_introspect(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawParams(params): RawParams,
) -> Response {
    let result = async {
        let (client, form) = authenticated(&app, &headers, params).await?;
        introspect::introspect(&app.provider, &client, &form, clock::now()).await
    };
    match result.await {
        Ok(body) => json_no_store(body),
        Err(e) => e.into_response(),
    }
}

/// RFC 7009.
pub async fn post_revoke(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawParams(params): RawParams,
) -> Response {
    let result = async {
        let (client, form) = authenticated(&app, &headers, params).await?;
        introspect::revoke(&app.provider, &client, &form, clock::now()).await
    };
    match result.await {
        Ok(()) => json_no_store(serde_json::json!({})),
        Err(e) => e.into_response(),
    }
}
