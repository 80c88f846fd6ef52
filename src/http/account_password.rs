//! `GET|POST /account/password`: a signed-in user changes their own password (the page seed
//! 002's `getChangePasswordUri` points to; `/password/change` is only the forced change after
//! an administrator's reset). The current password is verified first; on success every grant
//! and every other browser session of the user ends, and this browser is signed in afresh.

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
use super::login::{self, ClientIp};
use super::session;
use crate::accounts::password::{self, MAX_PASSWORD_BYTES};
use crate::clock;
use crate::crypto::random_token;
use crate::http::forms;
use crate::oauth::OAuthError;
use crate::oauth::authorize::SessionUser;
use crate::state::AppState;
use crate::store::audit;
use crate::store::credentials::{self, SignIn};

/// Fields of the form.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
}

async fn page(
    app: &AppState,
    session: &Session,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, OAuthError> {
    let csrf_token = session::csrf_token(session).await?;
    Ok(render(
        app,
        status,
        "account_password.html",
        context! { csrf_token, error },
    ))
}

/// `GET /account/password`: the form, or the login page for a browser not signed in.
pub async fn get_password(State(app): State<AppState>, session: Session) -> Response {
    let result = async {
        if active_user(&app, &session).await?.is_none() {
            return Ok(Redirect::to("/login").into_response());
        }
        page(&app, &session, StatusCode::OK, None).await
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}

/// `POST /account/password`: verifies the current password, sets the new one.
pub async fn post_password(
    State(app): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let form = match forms::accept(&app, &session, form, "The password form is malformed.").await {
        Ok(form) => form,
        Err(page) => return page,
    };
    change(&app, &session, form, ip)
        .await
        .unwrap_or_else(|e| error_page(&app, &e))
}

async fn change(
    app: &AppState,
    session: &Session,
    form: PasswordForm,
    ip: Option<String>,
) -> Result<Response, OAuthError> {
    let now = clock::now();
    let Some(user) = active_user(app, session).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let db = &app.provider.db;
    let Some(account) = credentials::find_by_id(db, &user.user_id)
        .await?
        .filter(|a| a.refusal(now).is_none())
    else {
        return Ok(Redirect::to("/login").into_response());
    };
    // Guessing the current password here shares the login page's budget (L-05).
    let tenant = Some(account.tenant_id.as_str());
    let throttled =
        login::check::throttle(app, tenant, "", &account.username, ip.as_deref()).await?;
    let attempt = match throttled {
        Ok(attempt) => attempt,
        Err(retry_after) => {
            let msg = "Too many attempts. Wait a few minutes, then try again.";
            let res = page(app, session, StatusCode::TOO_MANY_REQUESTS, Some(msg)).await?;
            return Ok(login::with_retry_after(res, retry_after));
        }
    };
    // Oversized input is never hashed: it is checked as an empty password.
    let presented = if form.current_password.len() <= MAX_PASSWORD_BYTES {
        form.current_password.clone()
    } else {
        String::new()
    };
    let verified = app
        .passwords
        .verify(presented, account.password_hash.clone())
        .await
        .map_err(OAuthError::server_error)?;
    if !verified.ok {
        let details = json!({ "reason": "bad_password", "self_service": true });
        audit_change(app, &account, "failure", details, ip, now).await?;
        let msg = "The current password is incorrect.";
        return page(app, session, StatusCode::BAD_REQUEST, Some(msg)).await;
    }
    login::check::throttle_passed(app, attempt).await?;
    let problem = password::new_password_problem(&form.new_password, &form.new_password_confirm)
        .or((form.new_password == form.current_password)
            .then_some("The new password must differ from the old one."));
    if let Some(problem) = problem {
        return page(app, session, StatusCode::BAD_REQUEST, Some(problem)).await;
    }
    let hash = app
        .passwords
        .hash(form.new_password)
        .await
        .map_err(OAuthError::server_error)?;
    credentials::set_password(db, &account.id, &hash, now).await?;
    // Every grant ends and every browser session signed in before now dies at its next request
    // (`not_before`); this one continues under a new cookie id and a new `sid`.
    let revoked_grants = app.provider.revoke_user(&account.id, now).await?;
    app.provider.end_session(&user.sid, now).await?;
    let fresh = SessionUser {
        user_id: account.id.clone(),
        auth_time: now,
        sid: random_token(),
    };
    session::sign_in(session, &fresh).await?;
    let details = json!({ "self_service": true, "revoked_grants": revoked_grants });
    audit_change(app, &account, "success", details, ip, now).await?;
    Ok(render(
        app,
        StatusCode::OK,
        "account_password.html",
        context! { done => true },
    ))
}

/// Audits the change (module `auth`, operation `change_password` as for the forced change).
async fn audit_change(
    app: &AppState,
    account: &SignIn,
    outcome: &str,
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
        operation: "change_password".into(),
        outcome: outcome.into(),
        details,
    };
    audit::insert(&app.provider.db, &entry, now).await?;
    Ok(())
}

crate::http::forms::csrf_form!(PasswordForm);
