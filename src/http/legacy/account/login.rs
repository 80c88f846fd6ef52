//! `POST /auth/login` (seed 001 L124–184): username + password (signs this browser session in,
//! like the login form), or `token` = an API key (no session: the caller already holds a
//! credential). Answers seed 001's user object, plus `code` when `response_type=code`.
//!
//! JSON only (`Content-Type: application/json`): a cross-site HTML form cannot send that type
//! without a CORS preflight, which this server never grants, so the endpoint cannot be used
//! for login CSRF. Errors: `104001` missing parameter, `104002` malformed, `300308` for an
//! unknown user, a wrong password or an account without password alike (never `300301`, L-01),
//! `100403` for a correct password of an inactive, trial-expired or must-change-password
//! account, `100401` for an unknown API key, `100429` (HTTP 429, `Retry-After`) when the
//! account's login attempts are throttled (L-05: the same budget as the login page).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use super::{Code, fail, failure, ok};
use crate::accounts::password::MAX_PASSWORD_BYTES;
use crate::clock;
use crate::crypto::{random_token, sha256_b64};
use crate::dialects::signdata::{flow, profile};
use crate::http::login::{self, ClientIp};
use crate::http::session;
use crate::oauth::OAuthError;
use crate::oauth::authorize::SessionUser;
use crate::state::AppState;
use crate::store::credentials::{self, SignIn};
use crate::store::tenants::{self, DEFAULT_TENANT};
use crate::store::{api_keys, audit};

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: Option<String>,
    password: Option<String>,
    /// An API key (`ghk_…`).
    token: Option<String>,
    /// Seed 001 "authentication scope" (echoed nowhere; accepted for compatibility).
    #[allow(dead_code)]
    scope: Option<String>,
    /// `code`: also return a code for `client_id`, redeemable at `/auth/access_token`.
    response_type: Option<String>,
    /// The application asking (Gatehouse addition): required with `response_type=code`; its
    /// tenant is where the username is looked up, and `permissions` lists its items.
    client_id: Option<String>,
    /// Tenant code of the user (Gatehouse addition; default: the application's tenant, else
    /// the default tenant).
    organization: Option<String>,
}

/// Whether the request declares a JSON body.
pub(super) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// `POST /auth/login`.
pub async fn login(
    State(app): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_json(&headers) {
        let mut res = fail(Code::ParameterError);
        *res.status_mut() = axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return res;
    }
    let Ok(b) = serde_json::from_slice::<LoginBody>(&body) else {
        return fail(Code::ParameterError);
    };
    match run(&app, &session, ip, b).await {
        Ok(res) => res,
        Err(e) => failure(&e),
    }
}

async fn run(
    app: &AppState,
    session: &Session,
    ip: Option<String>,
    b: LoginBody,
) -> Result<Response, OAuthError> {
    let want_code = match b.response_type.as_deref() {
        None | Some("") => false,
        Some("code") => true,
        Some(_) => return Ok(fail(Code::ParameterError)),
    };
    let client = match b.client_id.as_deref().filter(|c| !c.is_empty()) {
        Some(id) => match app.provider.client(id).await?.filter(|c| c.enabled) {
            Some(c) => Some(c),
            None => return Ok(fail(Code::ParameterError)),
        },
        None if want_code => return Ok(fail(Code::MissingParameter)),
        None => None,
    };
    if want_code && client.as_ref().is_some_and(|c| c.is_public()) {
        return Ok(fail(Code::ParameterError));
    }
    let now = clock::now();
    let user = match (&b.username, &b.password, &b.token) {
        (None, None, Some(token)) if token.is_empty() => return Ok(fail(Code::MissingParameter)),
        (None, None, Some(token)) => {
            let Some(user_id) = api_key_user(app, token, now).await? else {
                return Ok(fail(Code::Unauthorized));
            };
            // An API key signs no browser session in: no sid.
            SessionUser {
                user_id,
                auth_time: now,
                sid: String::new(),
            }
        }
        (Some(u), Some(p), None) if !u.is_empty() && !p.is_empty() => {
            let organization = b.organization.as_deref().unwrap_or_default().trim();
            let tenant = if !organization.is_empty() {
                tenants::id_by_code(&app.provider.db, organization).await?
            } else {
                Some(
                    client
                        .as_ref()
                        .map_or(DEFAULT_TENANT.to_owned(), |c| c.tenant_id.clone()),
                )
            };
            let throttled =
                login::check::throttle(app, tenant.as_deref(), organization, u, ip.as_deref())
                    .await?;
            let attempt = match throttled {
                Ok(attempt) => attempt,
                Err(retry_after) => {
                    let refusal = fail(Code::TooManyRequests);
                    return Ok(login::with_retry_after(refusal, retry_after));
                }
            };
            match check_password(app, tenant.as_deref(), u, p, now).await? {
                Ok(account) => {
                    login::check::throttle_passed(app, attempt).await?;
                    record_success(app, &account, ip, now).await?;
                    sign_in(app, session, account.id, now).await?
                }
                Err((account, reason)) => {
                    audit_failure(app, tenant.as_deref(), u, account.as_ref(), reason, ip).await?;
                    return Ok(fail(if account.is_some() && is_state_refusal(reason) {
                        Code::PermissionDenied
                    } else {
                        Code::WrongAccount
                    }));
                }
            }
        }
        (None, None, None) | (Some(_), None, None) | (None, Some(_), None) => {
            return Ok(fail(Code::MissingParameter));
        }
        (Some(u), Some(p), None) if u.is_empty() || p.is_empty() => {
            return Ok(fail(Code::MissingParameter));
        }
        _ => return Ok(fail(Code::ParameterError)),
    };
    let app_id = client.as_ref().map(|c| c.id.as_str());
    let Some(account) = profile::load(&app.provider.db, &user.user_id, app_id).await? else {
        return Ok(fail(Code::Unauthorized));
    };
    if !account.user.may_sign_in(now) {
        return Ok(fail(Code::PermissionDenied));
    }
    let code = match (&client, want_code) {
        (Some(c), true) => Some(flow::issue_code(&app.provider, &c.id, &user, "", now).await?),
        _ => None,
    };
    Ok(ok(account.login_object(code.as_deref())))
}

/// The user of a usable API key (the key is never logged).
pub(super) async fn api_key_user(
    app: &AppState,
    key: &str,
    now: i64,
) -> Result<Option<String>, OAuthError> {
    if key.is_empty() || key.len() > 256 {
        return Ok(None);
    }
    let db = &app.provider.db;
    let Some((key_id, user_id)) = api_keys::user_of(db, &sha256_b64(key.as_bytes()), now).await?
    else {
        return Ok(None);
    };
    api_keys::touch(db, &key_id, now).await?;
    Ok(Some(user_id))
}

fn is_state_refusal(reason: &str) -> bool {
    matches!(
        reason,
        "disabled" | "trial_expired" | "must_change_password"
    )
}

/// The login form's check (`crate::http::login::check`): unknown users, accounts without a
/// password and oversized input cost the same Argon2 work as a wrong password (L-02); the
/// account's state is looked at only after a correct password.
async fn check_password(
    app: &AppState,
    tenant: Option<&str>,
    username: &str,
    password: &str,
    now: i64,
) -> Result<Result<SignIn, (Option<SignIn>, &'static str)>, OAuthError> {
    let well_formed = username.len() <= 256 && password.len() <= MAX_PASSWORD_BYTES;
    let db = &app.provider.db;
    let account = match tenant {
        Some(t) if well_formed => credentials::find_by_username(db, t, username).await?,
        _ => None,
    };
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    let presented = if well_formed { password } else { "" };
    let verified = app
        .passwords
        .verify(presented.to_owned(), stored)
        .await
        .map_err(OAuthError::server_error)?;
    let Some(account) = account else {
        return Ok(Err((
            None,
            if well_formed {
                "unknown_user"
            } else {
                "invalid_input"
            },
        )));
    };
    if account.password_hash.is_none() {
        return Ok(Err((Some(account), "no_password")));
    }
    if !verified.ok {
        return Ok(Err((Some(account), "bad_password")));
    }
    match account.refusal(now) {
        // A deleted account is answered like an unknown one.
        Some(credentials::Refusal::Deleted) => Ok(Err((Some(account), "deleted"))),
        Some(r) => Ok(Err((Some(account), r.as_str()))),
        // A forced password change happens on the login page, not here.
        None if account.must_change_password() => Ok(Err((Some(account), "must_change_password"))),
        None => {
            if verified.needs_rehash {
                let hash = app
                    .passwords
                    .hash(password.to_owned())
                    .await
                    .map_err(OAuthError::server_error)?;
                credentials::upgrade_hash(db, &account.id, &hash).await?;
            }
            Ok(Ok(account))
        }
    }
}

/// Signs the browser session in (fresh cookie id, S-03); a different user's session ends.
async fn sign_in(
    app: &AppState,
    session: &Session,
    user_id: String,
    now: i64,
) -> Result<SessionUser, OAuthError> {
    let sid = match session::user(session).await? {
        Some(p) if p.user_id == user_id => p.sid,
        Some(p) => {
            app.provider.end_session(&p.sid, now).await?;
            random_token()
        }
        None => random_token(),
    };
    let user = SessionUser {
        user_id,
        auth_time: now,
        sid,
    };
    session::sign_in(session, &user).await?;
    Ok(user)
}

async fn record_success(
    app: &AppState,
    account: &SignIn,
    ip: Option<String>,
    now: i64,
) -> Result<(), OAuthError> {
    let db = &app.provider.db;
    credentials::record_login(db, &account.id, ip.as_deref(), now).await?;
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
        details: json!({ "via": "seed001 /auth/login" }),
    };
    audit::insert(db, &entry, now).await?;
    Ok(())
}

/// Audits a failed login: the attempted username, never the password.
async fn audit_failure(
    app: &AppState,
    tenant: Option<&str>,
    username: &str,
    account: Option<&SignIn>,
    reason: &str,
    ip: Option<String>,
) -> Result<(), OAuthError> {
    tracing::info!(reason, "failed login (seed 001 /auth/login)");
    let username: String = username.chars().take(64).collect();
    let entry = audit::NewEntry {
        tenant_id: Some(tenant.unwrap_or(DEFAULT_TENANT).to_owned()),
        actor_type: "anonymous".into(),
        ip,
        module: "auth".into(),
        target_type: "user".into(),
        target_id: account.map(|a| a.id.clone()),
        operation: "login_failed".into(),
        outcome: "failure".into(),
        details: json!({ "username": username, "reason": reason, "via": "seed001 /auth/login" }),
        ..Default::default()
    };
    audit::insert(&app.provider.db, &entry, clock::now()).await?;
    Ok(())
}
