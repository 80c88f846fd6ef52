//! `GET /auth/self` (seed 001 L272–312) and `POST /auth/logout` (L185–198).
//!
//! Credentials of `/auth/self`, the first present wins (an invalid one is not skipped):
//! the `API-Key` header (an API key); the `token` parameter or `Authorization: Bearer` (an API
//! key, an app token from `/auth/access_token` or `parseTk`, or an OIDC access token); the
//! `api-key` query parameter, only together with `client_id` of an application whose
//! administrator enabled `api_key_in_query` (it leaks into logs; refused with `100401`
//! otherwise, and never logged); the browser session cookie.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use super::login::{api_key_user, is_json};
use super::{Code, fail, failure, ok};
use crate::clock;
use crate::dialects::signdata::{flow, profile};
use crate::dialects::tokens::{self, TokenKind};
use crate::http::authorize::active_user;
use crate::http::extract::RawParams;
use crate::http::legacy::envelope;
use crate::http::session;
use crate::oauth::authorize::SessionUser;
use crate::oauth::{OAuthError, Params};
use crate::state::AppState;

/// API keys start with this (see `crate::accounts::api_keys`).
const API_KEY_PREFIX: &str = "ghk_";

/// Who a request stands for, and for which application.
struct Caller {
    user: SessionUser,
    /// The application of the token, if the credential names one.
    client_id: Option<String>,
}

/// `GET /auth/self`: the signed-in user, `100401` (HTTP 401) when nobody is.
pub async fn me(
    State(app): State<AppState>,
    session: Session,
    headers: HeaderMap,
    RawParams(params): RawParams,
) -> Response {
    let Ok(params) = params else {
        return fail(Code::ParameterError);
    };
    match self_reply(&app, &session, &headers, &params).await {
        Ok(res) => res,
        Err(e) => failure(&e),
    }
}

async fn self_reply(
    app: &AppState,
    session: &Session,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, OAuthError> {
    let now = clock::now();
    let Some(caller) = caller(app, session, headers, params, now).await? else {
        return Ok(fail(Code::Unauthorized));
    };
    // The token's application, else the one named by `client_id`.
    let client_id = match (caller.client_id, params.get("client_id")) {
        (Some(c), _) => Some(c),
        (None, Some(id)) => match app.provider.client(id).await?.filter(|c| c.enabled) {
            Some(c) => Some(c.id.clone()),
            None => return Ok(fail(Code::ParameterError)),
        },
        (None, None) => None,
    };
    let db = &app.provider.db;
    let Some(account) = profile::load(db, &caller.user.user_id, client_id.as_deref()).await? else {
        return Ok(fail(Code::Unauthorized));
    };
    if !account.user.may_sign_in(now) {
        return Ok(fail(Code::PermissionDenied));
    }
    let code = match params.get("response_type") {
        None => None,
        Some("code") => {
            let Some(client_id) = &client_id else {
                return Ok(fail(Code::MissingParameter));
            };
            Some(flow::issue_code(&app.provider, client_id, &caller.user, "", now).await?)
        }
        Some(_) => return Ok(fail(Code::ParameterError)),
    };
    Ok(ok(account.self_object(code.as_deref())))
}

/// The caller of `/auth/self`, if any credential is valid (see the module doc for the order).
async fn caller(
    app: &AppState,
    session: &Session,
    headers: &HeaderMap,
    params: &Params,
    now: i64,
) -> Result<Option<Caller>, OAuthError> {
    let header_key = headers.get("api-key").and_then(|v| v.to_str().ok());
    if let Some(key) = header_key {
        return Ok(api_key_user(app, key, now).await?.map(|u| keyed(u, now)));
    }
    if let Some(token) = envelope::token(params.get("token"), headers) {
        return token_caller(app, token, now).await;
    }
    if let Some(key) = params.get("api-key") {
        let allowed = match params.get("client_id") {
            Some(id) => app
                .provider
                .client(id)
                .await?
                .is_some_and(|c| c.enabled && c.api_key_in_query),
            None => false,
        };
        if !allowed {
            // The key itself is never logged.
            tracing::info!(
                client_id = params.get("client_id").unwrap_or_default(),
                "api-key query parameter refused (not enabled for this application)"
            );
            return Ok(None);
        }
        return Ok(api_key_user(app, key, now).await?.map(|u| keyed(u, now)));
    }
    Ok(active_user(app, session).await?.map(|user| Caller {
        user,
        client_id: None,
    }))
}

/// An API key's user: no browser session, no application.
fn keyed(user_id: String, now: i64) -> Caller {
    Caller {
        user: SessionUser {
            user_id,
            auth_time: now,
            sid: String::new(),
        },
        client_id: None,
    }
}

/// A `token`: an API key, or an app/access token of an enabled application.
async fn token_caller(app: &AppState, token: &str, now: i64) -> Result<Option<Caller>, OAuthError> {
    if token.starts_with(API_KEY_PREFIX) {
        return Ok(api_key_user(app, token, now).await?.map(|u| keyed(u, now)));
    }
    let Some(p) = tokens::resolve(&app.provider, &app.checker.tokens, token, now).await? else {
        return Ok(None);
    };
    if !app
        .provider
        .client(&p.client_id)
        .await?
        .is_some_and(|c| c.enabled)
    {
        return Ok(None);
    }
    Ok(Some(Caller {
        user: SessionUser {
            user_id: p.user_id,
            auth_time: now,
            sid: p.sid.unwrap_or_default(),
        },
        client_id: Some(p.client_id),
    }))
}

/// Body of `POST /auth/logout` (JSON; a form with the same field is accepted too).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogoutBody {
    token: Option<String>,
}

/// `POST /auth/logout`: with `token` (body, `Authorization: Bearer` or `token` header), that
/// token ends, and the SSO session it was obtained in; without one, the browser's SSO session
/// ends. Either way every token bound to that session ends too.
/// An API key is a long-lived credential: logging out with one ends nothing (revoke the key
/// through the admin API). `100401` when nobody is signed in.
pub async fn logout(
    State(app): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = if body.is_empty() {
        LogoutBody::default()
    } else if is_json(&headers) {
        match serde_json::from_slice::<LogoutBody>(&body) {
            Ok(b) => b,
            Err(_) => return fail(Code::ParameterError),
        }
    } else {
        match Params::parse(&body) {
            Ok(p) => LogoutBody {
                token: p.get("token").map(str::to_owned),
            },
            Err(_) => return fail(Code::ParameterError),
        }
    };
    let result = async {
        let now = clock::now();
        if let Some(token) = envelope::token(b.token.as_deref(), &headers) {
            return end_token(&app, token, now).await;
        }
        let Some(user) = session::user(&session).await? else {
            return Ok(false);
        };
        app.provider.end_session(&user.sid, now).await?;
        session::destroy(&session).await?;
        tracing::info!(user = %user.user_id, "signed out (seed 001 /auth/logout)");
        Ok::<_, OAuthError>(true)
    };
    match result.await {
        Ok(true) => ok(json!({ "code": 0, "message": "User logged out" })),
        Ok(false) => fail(Code::Unauthorized),
        Err(e) => failure(&e),
    }
}

/// Ends one token and the SSO session it was obtained in (if any); false when it is not a
/// live credential.
async fn end_token(app: &AppState, token: &str, now: i64) -> Result<bool, OAuthError> {
    if token.starts_with(API_KEY_PREFIX) {
        return Ok(api_key_user(app, token, now).await?.is_some());
    }
    let Some(p) = tokens::resolve(&app.provider, &app.checker.tokens, token, now).await? else {
        return Ok(false);
    };
    match (p.kind, &p.grant_id) {
        (TokenKind::App, _) => {
            tokens::end(&app.provider, &app.checker.tokens, token, now).await?;
        }
        (TokenKind::Access, Some(grant)) => app.provider.revoke_grant(grant, now).await?,
        // A grant-less access token (client credentials) has no user to log out.
        (TokenKind::Access, None) => return Ok(false),
    }
    // "Logged out immediately": the browser session behind the token ends too (the browser
    // routes check session revocation), with every other token bound to it.
    if let Some(sid) = p.sid.as_deref().filter(|s| !s.is_empty()) {
        app.provider.end_session(sid, now).await?;
    }
    tracing::info!(user = %p.user_id, "signed out by token (seed 001 /auth/logout)");
    Ok(true)
}
