//! The unified login page: `GET|POST /login` and `GET /` (who is signed in). The credential
//! check lives in [`check`], the new-password pages in [`password`].

pub(crate) mod check;
mod password;

pub use crate::http::client_ip::ClientIp;
pub use password::{get_change_password, get_reset, post_change_password, post_reset};

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use super::authorize::active_user;
use super::errors::{error_page, render};
use super::session;
use crate::clock;
use crate::crypto::random_token;
use crate::http::forms;
use crate::oauth::OAuthError;
use crate::oauth::authorize::SessionUser;
use crate::state::AppState;
use crate::store::credentials::{self, SignIn};
use crate::store::{audit, users};
use check::Check;
use password::change_password_page;

/// The one message for every failed login, whatever the reason (L-01).
pub const LOGIN_FAILED: &str = "Incorrect username or password.";
/// The message of a throttled login (L-04): the same for existing and unknown accounts.
pub const LOGIN_THROTTLED: &str =
    "Too many sign-in attempts for this account. Wait a few minutes, then try again.";

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// Tenant code; empty = the tenant of the application asking, else the default tenant.
    #[serde(default)]
    organization: String,
}

/// Shows the form (or skips it when already signed in with nothing pending).
pub async fn get_login(State(app): State<AppState>, session: Session) -> Response {
    match login_page(&app, &session, StatusCode::OK, None, None).await {
        Ok(r) => r,
        Err(e) => error_page(&app, &e),
    }
}

async fn login_page(
    app: &AppState,
    session: &Session,
    status: StatusCode,
    error: Option<&str>,
    organization: Option<&str>,
) -> Result<Response, OAuthError> {
    let pending = session::pending(session).await?;
    let csrf_token = session::csrf_token(session).await?;
    let username = pending
        .as_ref()
        .and_then(|p| p.login_hint.clone())
        .filter(|_| error.is_none());
    let client_name = match pending {
        Some(p) => Some(p.client_name),
        // a sub-application's hand-off (seed 001/002) names its application too
        None => match session::handoff(session).await? {
            Some(h) => app
                .provider
                .client(h.client_id())
                .await?
                .map(|c| c.name.clone()),
            None => None,
        },
    };
    Ok(render(
        app,
        status,
        "login.html",
        context! { client_name, csrf_token, error, username, organization },
    ))
}

/// Verifies the credentials; on success rotates the session and resumes the authorization, or
/// first asks for a new password when an administrator reset the old one.
pub async fn post_login(
    State(app): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let form = match forms::accept(&app, &session, form, "The login form is malformed.").await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let result = async {
        let client_id = match session::pending(&session).await? {
            Some(p) => Some(p.client_id),
            None => session::handoff(&session)
                .await?
                .map(|h| h.client_id().to_owned()),
        };
        let tenant = check::resolve_tenant(&app, &form.organization, client_id.as_deref()).await?;
        let attempt = match check::throttle(
            &app,
            tenant.as_deref(),
            &form.organization,
            &form.username,
            ip.as_deref(),
        )
        .await?
        {
            Ok(attempt) => attempt,
            Err(retry_after) => {
                let organization = Some(form.organization.trim()).filter(|o| !o.is_empty());
                let status = StatusCode::TOO_MANY_REQUESTS;
                let page =
                    login_page(&app, &session, status, Some(LOGIN_THROTTLED), organization).await?;
                return Ok(with_retry_after(page, retry_after));
            }
        };
        let checked = check::check_credentials(&app, &form, tenant.as_deref()).await?;
        if matches!(checked, Check::Accepted(_)) {
            check::throttle_passed(&app, attempt).await?;
        }
        match checked {
            Check::Accepted(account) if account.must_change_password() => {
                let change = session::PasswordChange {
                    user_id: account.id,
                    verified_at: clock::now(),
                };
                session::set_password_change(&session, &change).await?;
                change_password_page(&app, &session, StatusCode::OK, None).await
            }
            Check::Accepted(account) => complete_sign_in(&app, &session, &account, ip).await,
            Check::Refused { account, reason } => {
                tracing::info!(reason, "failed login");
                let tenant = tenant.as_deref();
                check::audit_failure(&app, tenant, &form.username, account.as_ref(), reason, ip)
                    .await?;
                let organization = Some(form.organization.trim()).filter(|o| !o.is_empty());
                login_page(
                    &app,
                    &session,
                    StatusCode::UNAUTHORIZED,
                    Some(LOGIN_FAILED),
                    organization,
                )
                .await
            }
        }
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}

/// Adds `Retry-After` (seconds) to a refusal.
pub(crate) fn with_retry_after(mut res: Response, seconds: i64) -> Response {
    if let Ok(v) = axum::http::HeaderValue::from_str(&seconds.max(1).to_string()) {
        res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    res
}

/// Records and audits a successful sign-in, then signs the session in.
pub(super) async fn complete_sign_in(
    app: &AppState,
    session: &Session,
    account: &SignIn,
    ip: Option<String>,
) -> Result<Response, OAuthError> {
    let now = clock::now();
    let db = &app.provider.db;
    credentials::record_login(db, &account.id, ip.as_deref(), now).await?;
    let details = match session::pending(session).await? {
        Some(p) => json!({ "client_id": p.client_id }),
        None => json!({}),
    };
    let entry = audit::NewEntry {
        tenant_id: Some(account.tenant_id.clone()),
        actor_type: "user".into(),
        actor_id: Some(account.id.clone()),
        actor_name: Some(account.username.clone()),
        ip,
        module: "auth".into(),
        target_type: "user".into(),
        target_id: Some(account.id.clone()),
        operation: "login".into(),
        outcome: "success".into(),
        details,
    };
    audit::insert(db, &entry, now).await?;
    // A forced change left pending by an earlier attempt in this browser must not outlive it.
    session::clear_password_change(session).await?;
    finish_login(app, session, account.id.clone()).await
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
        None if session::handoff(session).await?.is_some() => "/sso/resume",
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

crate::http::forms::csrf_form!(LoginForm);
