//! `GET /views/login?client_id&redirect_uri&scope&response_type` (also `callback=` for
//! `redirect_uri`, and the flow diagram's `GET /v2/account/auth/login`, `/account/auth/login`):
//! validates the application and its exact registered callback — anything else is an error
//! page, never a redirect (G-01) — then parks the hand-off for the login form, or completes it
//! at once for a browser already signed in.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use crate::clock;
use crate::dialects::handoff::Handoff;
use crate::dialects::signdata::flow;
use crate::http::authorize::active_user;
use crate::http::errors::error_page;
use crate::http::extract::RawParams;
use crate::http::session;
use crate::oauth::authorize::{SessionUser, callback_url};
use crate::oauth::{OAuthError, Params};
use crate::state::AppState;
use crate::store::clients::Client;

/// The entry point of the hand-off.
pub async fn login(
    State(app): State<AppState>,
    session: Session,
    RawParams(params): RawParams,
) -> Response {
    let result = async {
        let params = params.map_err(|e| OAuthError::invalid_request(e.to_string()))?;
        let (client, handoff) = validate(&app, &params).await?;
        if let Some(user) = active_user(&app, &session).await? {
            return finish(&app, &client, &user, handoff).await;
        }
        session::set_handoff(&session, &handoff).await?;
        Ok(Redirect::to("/login").into_response())
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}

/// Checks the request; every failure is shown on our page (no redirect to an unchecked URL).
async fn validate(app: &AppState, params: &Params) -> Result<(Client, Handoff), OAuthError> {
    let bad = OAuthError::invalid_request;
    let client_id = params
        .get("client_id")
        .ok_or_else(|| bad("client_id is missing"))?;
    let callback = match (params.get("redirect_uri"), params.get("callback")) {
        (Some(a), Some(b)) if a != b => {
            return Err(bad("redirect_uri and callback differ"));
        }
        (Some(u), _) | (None, Some(u)) => u,
        (None, None) => return Err(bad("redirect_uri is missing")),
    };
    let client = app
        .provider
        .client(client_id)
        .await?
        .filter(|c| c.enabled)
        .ok_or_else(|| bad("unknown application"))?;
    if !flow::registered_callback(&client, callback) {
        tracing::info!(client_id = %client.id, "signdata refused: callback not registered");
        return Err(bad("redirect_uri is not registered for this application"));
    }
    let response_type = match params.get("response_type") {
        None => None,
        Some("code") => Some("code".to_owned()),
        Some(_) => return Err(bad("response_type must be code or absent")),
    };
    // Refuse now rather than after the user typed a password.
    if let Err(e) = flow::app_secret(&app.provider, &client) {
        tracing::warn!(client_id = %client.id, reason = ?e, "signdata refused: no usable secret");
        return Err(bad(e.describe()));
    }
    let handoff = Handoff::Signdata {
        client_id: client.id.clone(),
        callback: callback.to_owned(),
        scope: params.get("scope").map(str::to_owned),
        response_type,
    };
    Ok((Client::clone(&client), handoff))
}

/// Completes a parked hand-off after login (`/sso/resume`): the application is checked again,
/// it may have been disabled or changed meanwhile (G-05).
pub async fn complete(
    app: &AppState,
    user: &SessionUser,
    handoff: Handoff,
) -> Result<Response, OAuthError> {
    let Handoff::Signdata {
        client_id,
        callback,
        ..
    } = &handoff
    else {
        return Err(OAuthError::invalid_request("not a signdata hand-off"));
    };
    let client = app
        .provider
        .client(client_id)
        .await?
        .filter(|c| c.enabled && flow::registered_callback(c, callback))
        .ok_or_else(|| OAuthError::invalid_request("the application is no longer available"))?;
    finish(app, &client, user, handoff).await
}

/// Mints the hand-off and sends the browser to the callback (303): `signdata`, `sign`, then
/// `code` and `scope` when present, after the callback's own query.
async fn finish(
    app: &AppState,
    client: &Client,
    user: &SessionUser,
    handoff: Handoff,
) -> Result<Response, OAuthError> {
    let Handoff::Signdata {
        callback,
        scope,
        response_type,
        ..
    } = handoff
    else {
        return Err(OAuthError::invalid_request("not a signdata hand-off"));
    };
    let want_code = response_type.as_deref() == Some("code");
    let now = clock::now();
    let minted = flow::mint(
        &app.provider,
        client,
        user,
        &callback,
        scope.as_deref(),
        want_code,
        now,
    )
    .await?;
    tracing::info!(client_id = %client.id, user = %user.user_id, code = want_code, "signdata issued");
    let url = callback_url(
        &callback,
        &[
            ("signdata", Some(&minted.sealed.signdata)),
            ("sign", Some(&minted.sealed.sign)),
            ("code", minted.code.as_deref()),
            ("scope", scope.as_deref()),
        ],
    );
    let mut res = Redirect::to(&url).into_response();
    let h = res.headers_mut();
    // The URL carries the hand-off: keep it out of caches and Referer headers (G-04).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(res)
}
