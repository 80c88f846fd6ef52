//! `GET|POST /consent`: the user approves or denies a third-party client's request.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use tower_sessions::Session;

use super::authorize::active_user;
use super::errors::{error_page, render};
use super::session;
use crate::clock;
use crate::http::forms;
use crate::oauth::authorize::{self, SessionUser, ValidAuthorize};
use crate::oauth::{ErrorCode, OAuthError, scope};
use crate::state::AppState;
use crate::store::{consents, users};

/// The consent form's fields.
#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    decision: String,
}

async fn context_of(
    app: &AppState,
    session: &Session,
) -> Result<Option<(ValidAuthorize, SessionUser)>, OAuthError> {
    let (Some(req), Some(user)) = (
        session::pending(session).await?,
        active_user(app, session).await?,
    ) else {
        return Ok(None);
    };
    Ok(Some((req, user)))
}

fn nothing_pending(app: &AppState) -> Response {
    error_page(
        app,
        &OAuthError::invalid_request("There is no sign-in request waiting for approval."),
    )
}

/// Shows what the client asks for.
pub async fn get_consent(State(app): State<AppState>, session: Session) -> Response {
    let result = async {
        let Some((req, user)) = context_of(&app, &session).await? else {
            return Ok(nothing_pending(&app));
        };
        let csrf_token = session::csrf_token(&session).await?;
        let user_name = users::find(&app.provider.db, &user.user_id)
            .await?
            .map(|u| u.name.unwrap_or(u.username));
        let scopes: Vec<_> = req
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| context! { name => s, description => scope::describe(s) })
            .collect();
        Ok::<_, OAuthError>(render(
            &app,
            StatusCode::OK,
            "consent.html",
            context! {
                client_name => req.client_name, user_name, scopes, csrf_token,
            },
        ))
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}

/// Records the decision and finishes the authorization.
pub async fn post_consent(
    State(app): State<AppState>,
    session: Session,
    form: Result<Form<ConsentForm>, FormRejection>,
) -> Response {
    let form = match forms::accept(&app, &session, form, "The consent form is malformed.").await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let result = async {
        let Some((req, user)) = context_of(&app, &session).await? else {
            return Ok(nothing_pending(&app));
        };
        session::clear_pending(&session).await?;
        let now = clock::now();
        let url = if form.decision == "allow" {
            consents::upsert(
                &app.provider.db,
                &user.user_id,
                &req.client_id,
                &req.scope,
                now,
            )
            .await?;
            authorize::issue_code(&app.provider, &req, &user, now).await?
        } else {
            let denied = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
            authorize::error_url(
                &req.redirect_uri,
                req.state.as_deref(),
                &denied,
                &app.provider.issuer,
            )
        };
        Ok::<_, OAuthError>(Redirect::to(&url).into_response())
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}

crate::http::forms::csrf_form!(ConsentForm);
