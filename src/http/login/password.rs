//! Setting a new password from the browser: the forced change after an administrator's reset
//! (`GET|POST /password/change`) and single-use reset links (`GET|POST /password/reset?token=…`).

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use super::{ClientIp, complete_sign_in};
use crate::accounts::password;
use crate::clock;
use crate::crypto::sha256_b64;
use crate::http::errors::{error_page, render};
use crate::http::forms;
use crate::http::session;
use crate::oauth::OAuthError;
use crate::state::AppState;
use crate::store::audit;
use crate::store::credentials::{self, SignIn};

/// How long after the old password was verified the new one may be set.
const PASSWORD_CHANGE_WINDOW: i64 = 10 * 60;

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
    password::new_password_problem(&form.new_password, &form.new_password_confirm)
}

pub(super) async fn change_password_page(
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
    let form = match forms::accept(&app, &session, form, "The password form is malformed.").await {
        Ok(form) => form,
        Err(page) => return page,
    };
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
    let form = match forms::accept(&app, &session, form, "The password form is malformed.").await {
        Ok(form) => form,
        Err(page) => return page,
    };
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

crate::http::forms::csrf_form!(NewPasswordForm);
