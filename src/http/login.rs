//! The unified login page: `GET|POST /login`, and `GET /` (who is signed in).

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use tower_sessions::Session;

use super::authorize::active_user;
use super::errors::{csrf_failed, error_page, render};
use super::session;
use crate::accounts::password::MAX_PASSWORD_BYTES;
use crate::clock;
use crate::crypto::random_token;
use crate::oauth::OAuthError;
use crate::oauth::authorize::SessionUser;
use crate::state::AppState;
use crate::store::tenants::DEFAULT_TENANT;
use crate::store::users;

/// The one message for every failed login, whatever the reason (L-01).
pub const LOGIN_FAILED: &str = "Incorrect username or password.";

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// Shows the form (or skips it when already signed in with nothing pending).
pub async fn get_login(State(app): State<AppState>, session: Session) -> Response {
    match login_page(&app, &session, StatusCode::OK, None).await {
        Ok(r) => r,
        Err(e) => error_page(&app, &e),
    }
}

async fn login_page(
    app: &AppState,
    session: &Session,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, OAuthError> {
    let pending = session::pending(session).await?;
    let csrf_token = session::csrf_token(session).await?;
    let username = pending
        .as_ref()
        .and_then(|p| p.login_hint.clone())
        .filter(|_| error.is_none());
    let client_name = pending.map(|p| p.client_name);
    Ok(render(
        app,
        status,
        "login.html",
        context! { client_name, csrf_token, error, username },
    ))
}

/// Verifies the credentials; on success rotates the session and resumes the authorization.
pub async fn post_login(
    State(app): State<AppState>,
    session: Session,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            &app,
            &OAuthError::invalid_request("The login form is malformed."),
        );
    };
    match session::csrf_ok(&session, Some(&form.csrf_token)).await {
        Ok(true) => {}
        Ok(false) => return csrf_failed(&app),
        Err(e) => return error_page(&app, &e),
    }
    match check_credentials(&app, &form).await {
        Ok(Some(user_id)) => match finish_login(&app, &session, user_id).await {
            Ok(r) => r,
            Err(e) => error_page(&app, &e),
        },
        Ok(None) => {
            tracing::info!("failed login");
            login_page(&app, &session, StatusCode::UNAUTHORIZED, Some(LOGIN_FAILED))
                .await
                .unwrap_or_else(|e| error_page(&app, &e))
        }
        Err(e) => error_page(&app, &e),
    }
}

/// The user id when the password is right and the account active. Unknown users and disabled
/// accounts cost the same Argon2 work as a wrong password (L-02).
async fn check_credentials(app: &AppState, form: &LoginForm) -> Result<Option<String>, OAuthError> {
    if form.username.is_empty()
        || form.username.len() > 256
        || form.password.len() > MAX_PASSWORD_BYTES
    {
        return Ok(None);
    }
    let db = &app.provider.db;
    let creds = users::find_credentials(db, DEFAULT_TENANT, &form.username).await?;
    let stored = creds.as_ref().and_then(|c| c.password_hash.clone());
    let verified = app
        .passwords
        .verify(form.password.clone(), stored)
        .await
        .map_err(OAuthError::server_error)?;
    let Some(creds) = creds.filter(|c| verified.ok && c.state == "active") else {
        return Ok(None);
    };
    let now = clock::now();
    if verified.needs_rehash {
        let hash = app
            .passwords
            .hash(form.password.clone())
            .await
            .map_err(OAuthError::server_error)?;
        users::update_password_hash(db, &creds.id, &hash, now).await?;
    }
    users::record_login(db, &creds.id, now).await?;
    Ok(Some(creds.id))
}

async fn finish_login(
    app: &AppState,
    session: &Session,
    user_id: String,
) -> Result<Response, OAuthError> {
    let now = clock::now();
    let previous = session::user(session).await?;
    // Re-authentication of the same user keeps the session id (`sid`) so logout still ends
    // everything; a different user gets a new one and the old session ends.
    let sid = match previous {
        Some(p) if p.user_id == user_id => p.sid,
        Some(p) => {
            app.provider.end_session(&p.sid, now).await?;
            random_token()
        }
        None => random_token(),
    };
    session::sign_in(
        session,
        &SessionUser {
            user_id,
            auth_time: now,
            sid,
        },
    )
    .await?;
    let next = match session::pending(session).await? {
        Some(mut pending) => {
            pending.reauthenticated = true;
            session::set_pending(session, &pending).await?;
            "/oauth/authorize/resume"
        }
        None => "/",
    };
    Ok(Redirect::to(next).into_response())
}

/// `GET /`: who is signed in, with a sign-out button.
pub async fn home(State(app): State<AppState>, session: Session) -> Response {
    let result = async {
        let Some(user) = active_user(&app, &session).await? else {
            return Ok(Redirect::to("/login").into_response());
        };
        let csrf_token = session::csrf_token(&session).await?;
        let user = users::find(&app.provider.db, &user.user_id).await?;
        let user_name = user.map(|u| u.name.unwrap_or(u.username));
        Ok::<_, OAuthError>(render(
            &app,
            StatusCode::OK,
            "home.html",
            context! { user_name, csrf_token },
        ))
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}
