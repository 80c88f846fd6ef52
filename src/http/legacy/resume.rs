//! `GET /sso/resume`: completes the parked hand-off once the user has signed in (the login page
//! sends the browser here).

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use crate::dialects::handoff::Handoff;
use crate::http::authorize::active_user;
use crate::http::errors::error_page;
use crate::http::session;
use crate::oauth::OAuthError;
use crate::state::AppState;

/// Continues the parked hand-off in its dialect.
pub async fn resume(State(app): State<AppState>, session: Session) -> Response {
    let result = async {
        let Some(handoff) = session::handoff(&session).await? else {
            return Err(OAuthError::invalid_request(
                "There is no sign-in request to continue.",
            ));
        };
        let Some(user) = active_user(&app, &session).await? else {
            return Ok(Redirect::to("/login").into_response());
        };
        session::clear_handoff(&session).await?;
        match handoff {
            h @ Handoff::Signdata { .. } => super::account::complete(&app, &user, h).await,
            h @ Handoff::Tk { .. } => super::inc_session::complete(&app, &user, h).await,
        }
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}
