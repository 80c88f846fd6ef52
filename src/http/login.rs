//! The unified login page: `GET|POST /login`, `GET /` (who is signed in), the forced password
//! change after an administrator's reset (`GET|POST /password/change`) and single-use reset
//! links (`GET|POST /password/reset?token=…`).

use std::net::SocketAddr;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, Form, FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use super::authorize::active_user;
use super::errors::{csrf_failed, error_page, render};
use super::session;
use crate::accounts::password::MAX_PASSWORD_BYTES;
use crate::clock;
use crate::crypto::{random_token, sha256_b64};
use crate::oauth::OAuthError;
use crate::oauth::authorize::SessionUser;
use crate::state::AppState;
use crate::store::credentials::{self, SignIn};
use crate::store::tenants::DEFAULT_TENANT;
use crate::store::{audit, users};

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

/// Verifies the credentials; on success rotates the session and resumes the authorization, or
/// first asks for a new password when an administrator reset the old one.
pub async fn post_login(
    State(app): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
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
    let result = async {
        match check_credentials(&app, &form).await? {
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
                audit_failure(&app, &form.username, account.as_ref(), reason, ip).await?;
                login_page(&app, &session, StatusCode::UNAUTHORIZED, Some(LOGIN_FAILED)).await
            }
        }
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}

/// The client's address as the server sees it (the TCP peer).
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
        ))
    }
}

/// The outcome of a credential check.
enum Check {
    /// Right password, and the account may sign in.
    Accepted(SignIn),
    /// Anything else; `reason` goes to the audit log only (L-01).
    Refused {
        account: Option<SignIn>,
        reason: &'static str,
    },
}

/// Verifies the password, then the account's state. Unknown users, accounts without a password
/// and malformed input cost the same Argon2 work as a wrong password (L-02); a disabled,
/// deleted or trial-expired account is refused after the same work, whatever the password.
async fn check_credentials(app: &AppState, form: &LoginForm) -> Result<Check, OAuthError> {
    let well_formed = !form.username.is_empty()
        && form.username.len() <= 256
        && form.password.len() <= MAX_PASSWORD_BYTES;
    let db = &app.provider.db;
    let account = if well_formed {
        credentials::find_by_username(db, DEFAULT_TENANT, &form.username).await?
    } else {
        None
    };
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    // Oversized passwords are not hashed at all: the dummy check runs on an empty one.
    let presented = if well_formed {
        form.password.clone()
    } else {
        String::new()
    };
    let verified = app
        .passwords
        .verify(presented, stored)
        .await
        .map_err(OAuthError::server_error)?;
    let now = clock::now();
    let refused = |account: Option<SignIn>, reason: &'static str| {
        Ok::<_, OAuthError>(Check::Refused { account, reason })
    };
    let Some(account) = account else {
        return refused(
            None,
            if well_formed {
                "unknown_user"
            } else {
                "invalid_input"
            },
        );
    };
    if account.password_hash.is_none() {
        return refused(Some(account), "no_password");
    }
    if !verified.ok {
        return refused(Some(account), "bad_password");
    }
    if let Some(refusal) = account.refusal(now) {
        return refused(Some(account), refusal.as_str());
    }
    if verified.needs_rehash && !account.must_change_password() {
        let hash = app
            .passwords
            .hash(form.password.clone())
            .await
            .map_err(OAuthError::server_error)?;
        credentials::upgrade_hash(db, &account.id, &hash).await?;
    }
    Ok(Check::Accepted(account))
}

/// Audits a failed login: anonymous actor, the attempted username in the details, never the
/// password.
async fn audit_failure(
    app: &AppState,
    username: &str,
    account: Option<&SignIn>,
    reason: &str,
    ip: Option<String>,
) -> Result<(), OAuthError> {
    let username: String = username.chars().take(64).collect();
    let entry = audit::NewEntry {
        tenant_id: Some(DEFAULT_TENANT.into()),
        actor_type: "anonymous".into(),
        ip,
        module: "auth".into(),
        target_type: "user".into(),
        target_id: account.map(|a| a.id.clone()),
        operation: "login_failed".into(),
        outcome: "failure".into(),
        details: json!({ "username": username, "reason": reason }),
        ..Default::default()
    };
    audit::insert(&app.provider.db, &entry, clock::now()).await?;
    Ok(())
}

/// Records and audits a successful sign-in, then signs the session in.
async fn complete_sign_in(
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

/// How long after the old password was verified the new one may be set.
const PASSWORD_CHANGE_WINDOW: i64 = 10 * 60;

/// Shortest new password, in characters.
const MIN_PASSWORD_CHARS: usize = 8;

/// Fields of the new-password forms (forced change and reset link).
#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    csrf_token: String,
    /// The reset link's token (reset form only).
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
}

/// Checks a new password and its repetition; the message to show when they are not acceptable.
fn new_password_problem(form: &NewPasswordForm) -> Option<&'static str> {
    if form.new_password.chars().count() < MIN_PASSWORD_CHARS {
        Some("The new password must have at least 8 characters.")
    } else if form.new_password.len() > MAX_PASSWORD_BYTES {
        Some("The new password is too long.")
    } else if form.new_password != form.new_password_confirm {
        Some("The two passwords do not match.")
    } else {
        None
    }
}

async fn change_password_page(
    app: &AppState,
    session: &Session,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, OAuthError> {
    let csrf_token = session::csrf_token(session).await?;
    Ok(render(
        app,
        status,
        "change_password.html",
        context! { csrf_token, error },
    ))
}

/// The pending forced change if it is recent, else `None` (and it is dropped).
async fn live_password_change(
    session: &Session,
    now: i64,
) -> Result<Option<session::PasswordChange>, OAuthError> {
    match session::password_change(session).await? {
        Some(c) if now - c.verified_at <= PASSWORD_CHANGE_WINDOW => Ok(Some(c)),
        Some(_) => {
            session::clear_password_change(session).await?;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// `GET /password/change`: the form again (reload), or back to the login page.
pub async fn get_change_password(State(app): State<AppState>, session: Session) -> Response {
    let result = async {
        if live_password_change(&session, clock::now())
            .await?
            .is_none()
        {
            return Ok(Redirect::to("/login").into_response());
        }
        change_password_page(&app, &session, StatusCode::OK, None).await
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}

/// `POST /password/change`: sets the new password of an account whose password was just
/// verified and must change, then completes the sign-in.
pub async fn post_change_password(
    State(app): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    form: Result<Form<NewPasswordForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            &app,
            &OAuthError::invalid_request("The password form is malformed."),
        );
    };
    match session::csrf_ok(&session, Some(&form.csrf_token)).await {
        Ok(true) => {}
        Ok(false) => return csrf_failed(&app),
        Err(e) => return error_page(&app, &e),
    }
    let result = async {
        let now = clock::now();
        let Some(change) = live_password_change(&session, now).await? else {
            return Ok(Redirect::to("/login").into_response());
        };
        let db = &app.provider.db;
        let account = credentials::find_by_id(db, &change.user_id)
            .await?
            .filter(|a| a.refusal(now).is_none());
        let Some(account) = account else {
            session::clear_password_change(&session).await?;
            return Ok(Redirect::to("/login").into_response());
        };
        if let Some(problem) = new_password_problem(&form) {
            return change_password_page(&app, &session, StatusCode::BAD_REQUEST, Some(problem))
                .await;
        }
        let same = app
            .passwords
            .verify(form.new_password.clone(), account.password_hash.clone())
            .await
            .map_err(OAuthError::server_error)?;
        if same.ok {
            return change_password_page(
                &app,
                &session,
                StatusCode::BAD_REQUEST,
                Some("The new password must differ from the old one."),
            )
            .await;
        }
        let hash = app
            .passwords
            .hash(form.new_password.clone())
            .await
            .map_err(OAuthError::server_error)?;
        credentials::set_password(db, &account.id, &hash, now).await?;
        audit_own(
            &app,
            &account,
            "change_password",
            json!({}),
            ip.clone(),
            now,
        )
        .await?;
        session::clear_password_change(&session).await?;
        complete_sign_in(&app, &session, &account, ip).await
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}

/// Audits an operation of a user on their own account (module `auth`).
async fn audit_own(
    app: &AppState,
    account: &SignIn,
    operation: &str,
    details: serde_json::Value,
    ip: Option<String>,
    now: i64,
) -> Result<(), OAuthError> {
    let entry = audit::NewEntry {
        tenant_id: Some(account.tenant_id.clone()),
        actor_type: "user".into(),
        actor_id: Some(account.id.clone()),
        actor_name: Some(account.username.clone()),
        ip,
        module: "auth".into(),
        target_type: "user".into(),
        target_id: Some(account.id.clone()),
        operation: operation.into(),
        outcome: "success".into(),
        details,
    };
    audit::insert(&app.provider.db, &entry, now).await?;
    Ok(())
}

/// `?token=` of a reset link.
#[derive(Deserialize)]
pub struct ResetQuery {
    #[serde(default)]
    token: String,
}

/// The account a reset token may still reset, if any.
async fn reset_account(
    app: &AppState,
    token: &str,
    now: i64,
) -> Result<Option<SignIn>, OAuthError> {
    if token.is_empty() || token.len() > 256 {
        return Ok(None);
    }
    let db = &app.provider.db;
    let Some(reset) = credentials::find_reset(db, &sha256_b64(token.as_bytes())).await? else {
        return Ok(None);
    };
    if !reset.usable(now) {
        return Ok(None);
    }
    Ok(credentials::find_by_id(db, &reset.user_id).await?)
}

async fn reset_page(
    app: &AppState,
    session: &Session,
    status: StatusCode,
    token: &str,
    error: Option<&str>,
) -> Result<Response, OAuthError> {
    let csrf_token = session::csrf_token(session).await?;
    Ok(render(
        app,
        status,
        "password_reset.html",
        context! { csrf_token, token, error },
    ))
}

fn invalid_reset_link(app: &AppState) -> Response {
    render(
        app,
        StatusCode::BAD_REQUEST,
        "password_reset.html",
        context! { invalid => true },
    )
}

/// `GET /password/reset?token=…`: the form of a valid, unused, unexpired reset link.
pub async fn get_reset(
    State(app): State<AppState>,
    session: Session,
    query: Result<Query<ResetQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return invalid_reset_link(&app);
    };
    let result = async {
        if reset_account(&app, &q.token, clock::now()).await?.is_none() {
            return Ok(invalid_reset_link(&app));
        }
        reset_page(&app, &session, StatusCode::OK, &q.token, None).await
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}

/// `POST /password/reset`: uses the link once, sets the new password, clears
/// `must_change_password` and ends the account's other sessions.
pub async fn post_reset(
    State(app): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    form: Result<Form<NewPasswordForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            &app,
            &OAuthError::invalid_request("The password form is malformed."),
        );
    };
    match session::csrf_ok(&session, Some(&form.csrf_token)).await {
        Ok(true) => {}
        Ok(false) => return csrf_failed(&app),
        Err(e) => return error_page(&app, &e),
    }
    let result = async {
        let now = clock::now();
        if reset_account(&app, &form.token, now).await?.is_none() {
            return Ok(invalid_reset_link(&app));
        }
        if let Some(problem) = new_password_problem(&form) {
            return reset_page(
                &app,
                &session,
                StatusCode::BAD_REQUEST,
                &form.token,
                Some(problem),
            )
            .await;
        }
        let hash = app
            .passwords
            .hash(form.new_password.clone())
            .await
            .map_err(OAuthError::server_error)?;
        let db = &app.provider.db;
        // Single use, even under concurrent submissions: only one UPDATE marks the link used.
        let Some(user_id) =
            credentials::consume_reset(db, &sha256_b64(form.token.as_bytes()), now).await?
        else {
            return Ok(invalid_reset_link(&app));
        };
        let Some(account) = credentials::find_by_id(db, &user_id).await? else {
            return Ok(invalid_reset_link(&app));
        };
        credentials::set_password(db, &account.id, &hash, now).await?;
        // Every grant and token ends; browser sessions that signed in before now die at their
        // next request (`active_user` compares `not_before`).
        let revoked_grants = app.provider.revoke_user(&account.id, now).await?;
        if session::user(&session)
            .await?
            .is_some_and(|u| u.user_id == account.id)
        {
            session::destroy(&session).await?;
        }
        let details = json!({ "revoked_grants": revoked_grants });
        audit_own(&app, &account, "reset_password", details, ip, now).await?;
        Ok(render(
            &app,
            StatusCode::OK,
            "password_reset.html",
            context! { done => true },
        ))
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}
