//! Server-to-server endpoints of seed 001's hand-off.
//!
//! `GET|POST /auth/access_token` (seed 001 L322–337): `code`, `client_id`, `client_secret`,
//! `grant_type=authorization_code` (query, form, or HTTP Basic for the client) →
//! `{"access_token", "refresh_token", "expires_in"}`. The client must authenticate with its
//! secret (the seed marks it optional; here it is required); the code is single use and bound
//! to the client. Prefer POST: a secret in a query string ends up in logs.
//!
//! `POST /auth/signdata/verify` (Gatehouse addition, form): `client_id`, `client_secret`,
//! `signdata`, `sign` → the claims, once: a second presentation of the same `signdata` is
//! refused (G-03), which a sub-application verifying locally cannot detect across instances.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::{Code, fail, fail_with, failure, ok};
use crate::clock;
use crate::dialects::signdata::flow::{self, VerifyError};
use crate::http::extract::{RawParams, authorization};
use crate::oauth::client_auth::{self, AuthMethod};
use crate::oauth::{ErrorCode, OAuthError, Params};
use crate::state::AppState;
use crate::store::clients::Client;

/// The client of the request, authenticated with its secret; `Err` is the reply.
async fn client(
    app: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<std::sync::Arc<Client>, Response> {
    match client_auth::authenticate(&app.provider, authorization(headers), params).await {
        Ok(c) if c.method != AuthMethod::None => Ok(c.client),
        Ok(_) => Err(fail_with(Code::Unauthorized, "invalid_client")),
        Err(e) if is_internal(&e) => Err(failure(&e)),
        Err(e) => {
            tracing::debug!(error = %e.description, "seed 001 client authentication failed");
            Err(fail_with(Code::Unauthorized, "invalid_client"))
        }
    }
}

fn is_internal(e: &OAuthError) -> bool {
    matches!(
        e.code,
        ErrorCode::TemporarilyUnavailable | ErrorCode::ServerError
    )
}

/// `/auth/access_token`.
pub async fn access_token(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawParams(params): RawParams,
) -> Response {
    let Ok(params) = params else {
        return fail(Code::ParameterError);
    };
    if params
        .get("grant_type")
        .is_some_and(|g| g != "authorization_code")
    {
        return fail_with(Code::ParameterError, "unsupported_grant_type");
    }
    let Some(code) = params.get("code") else {
        return fail(Code::MissingParameter);
    };
    let client = match client(&app, &headers, &params).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    match flow::redeem(&app.provider, &client, code, clock::now()).await {
        Ok(tokens) => ok(tokens),
        Err(e) if is_internal(&e) => failure(&e),
        Err(e) => {
            tracing::info!(client_id = %client.id, error = %e.description, "code refused");
            fail_with(Code::ParameterError, "invalid_grant")
        }
    }
}

/// `/auth/signdata/verify`.
pub async fn verify(
    State(app): State<AppState>,
    headers: HeaderMap,
    // a `signdata` is longer than an OAuth parameter (many roles): its own bound
    RawParams(params): RawParams<{ crate::dialects::signdata::MAX_SIGNDATA }>,
) -> Response {
    let Ok(params) = params else {
        return fail(Code::ParameterError);
    };
    let (Some(signdata), Some(sign)) = (params.get("signdata"), params.get("sign")) else {
        return fail(Code::MissingParameter);
    };
    let client = match client(&app, &headers, &params).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    match flow::verify(&app.provider, &client, signdata, sign, clock::now()).await {
        Ok(claims) => ok(claims),
        Err(VerifyError::NotReady(e)) => {
            tracing::warn!(client_id = %client.id, reason = ?e, "signdata verify: no usable secret");
            fail_with(Code::PermissionDenied, "secret_not_sealed")
        }
        Err(VerifyError::Invalid(e)) => {
            tracing::info!(client_id = %client.id, error = %e, "signdata refused");
            fail_with(Code::ParameterError, "invalid_signdata")
        }
        Err(VerifyError::Replayed) => {
            tracing::warn!(client_id = %client.id, "signdata replayed");
            fail_with(Code::ParameterError, "replayed")
        }
        Err(VerifyError::Store(e)) => failure(&e),
    }
}
