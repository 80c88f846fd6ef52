//! `GET|POST /oauth/authorize` and `GET /oauth/authorize/resume` (after login or consent).

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::errors::error_page;
use super::extract::RawParams;
use super::session;
use crate::clock;
use crate::ephemeral::RevocationKind;
use crate::oauth::authorize::{self, Next, SessionUser, ValidAuthorize};
use crate::oauth::params::ParamsError;
use crate::oauth::{AuthorizeError, OAuthError};
use crate::state::AppState;
use crate::store::users;

/// Validates the request, then logs in, asks consent or issues a code.
pub async fn authorize(
    State(app): State<AppState>,
    session: Session,
    RawParams(params): RawParams,
) -> Response {
    let now = clock::now();
    let params = match params {
        Ok(p) => p,
        Err(ParamsError::Duplicated(name, first)) => {
            return authorize_error(
                &app,
                authorize::duplicated(&app.provider, &first, &name).await,
            );
        }
        // Oversized parameters: nothing is trustworthy enough to redirect to.
        Err(e) => return error_page(&app, &OAuthError::invalid_request(e.to_string())),
    };
    match authorize::validate(&app.provider, &params, now).await {
        Ok(req) => proceed(&app, &session, req, now).await,
        Err(e) => authorize_error(&app, e),
    }
}

fn authorize_error(app: &AppState, e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Page(e) => error_page(app, &e),
        AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
        } => {
            let url = authorize::error_url(
                &redirect_uri,
                state.as_deref(),
                &error,
                &app.provider.issuer,
            );
            Redirect::to(&url).into_response()
        }
    }
}

/// Continues the parked request once the user has logged in.
pub async fn resume(State(app): State<AppState>, session: Session) -> Response {
    match session::pending(&session).await {
        Ok(Some(req)) => proceed(&app, &session, req, clock::now()).await,
        Ok(None) => error_page(
            &app,
            &OAuthError::invalid_request("There is no sign-in request to continue."),
        ),
        Err(e) => error_page(&app, &e),
    }
}

/// The signed-in user, if the account still exists, may sign in now (active, not past its
/// trial), was not told to drop sessions older than its `not_before`, and the session was not
/// ended elsewhere. Any other session is
/// ended here: its tokens bound to the session are revoked and the cookie's record is deleted.
/// Every browser route (authorize, consent, `/`) goes through this check.
pub async fn active_user(
    app: &AppState,
    session: &Session,
) -> Result<Option<SessionUser>, OAuthError> {
    let Some(user) = session::user(session).await? else {
        return Ok(None);
    };
    let now = clock::now();
    // S-05: the absolute timeout, counted from the last authentication. Only the browser
    // session ends; tokens already issued keep their own lifetimes.
    if now - user.auth_time >= app.config.session_max_age {
        tracing::info!(user = %user.user_id, "session reached its maximum age");
        session::forget_user(session).await?;
        return Ok(None);
    }
    let allowed = match users::find(&app.provider.db, &user.user_id).await? {
        Some(u) => u.may_sign_in(now) && user.auth_time >= u.not_before,
        None => false,
    };
    // A session ended elsewhere (a dialect's token logout, another instance) is over here too.
    let allowed = allowed
        && !app
            .provider
            .ephemeral
            .is_revoked(&[(RevocationKind::Session, user.sid.as_str())])
            .await?;
    if allowed {
        session::touch(session, now, app.config.session_ttl).await?;
        return Ok(Some(user));
    }
    tracing::info!(user = %user.user_id, "session ended: the account may no longer sign in");
    app.provider.end_session(&user.sid, now).await?;
    session::destroy(session).await?;
    Ok(None)
}

async fn proceed(app: &AppState, session: &Session, req: ValidAuthorize, now: i64) -> Response {
    match decide(app, session, &req, now).await {
        Ok(response) => response,
        // Past validation the redirect URI is trusted: errors go back to the client.
        Err(e)
            if e.code.as_str() != "temporarily_unavailable"
                && e.code.as_str() != "server_error" =>
        {
            let _ = session::clear_pending(session).await;
            Redirect::to(&authorize::error_url(
                &req.redirect_uri,
                req.state.as_deref(),
                &e,
                &app.provider.issuer,
            ))
            .into_response()
        }
        Err(e) => error_page(app, &e),
    }
}

async fn decide(
    app: &AppState,
    session: &Session,
    req: &ValidAuthorize,
    now: i64,
) -> Result<Response, OAuthError> {
    let user = active_user(app, session).await?;
    let consented = match &user {
        Some(u) => authorize::has_consent(&app.provider, req, &u.user_id).await?,
        None => false,
    };
    let target = match authorize::next_step(req, user.as_ref(), consented, now)? {
        Next::Login => "/login",
        Next::Consent => "/consent",
        Next::Issue => {
            let Some(user) = user else {
                return Ok(Redirect::to("/login").into_response());
            };
            session::clear_pending(session).await?;
            let url = authorize::issue_code(&app.provider, req, &user, now).await?;
            return Ok(Redirect::to(&url).into_response());
        }
    };
    session::set_pending(session, req).await?;
    Ok(Redirect::to(target).into_response())
}
