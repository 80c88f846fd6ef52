//! What the browser session holds: the signed-in user, the pending authorization request, a
//! password change that must happen before sign-in completes, and the CSRF token of its forms.

use tower_sessions::Session;

use crate::crypto::{ct_eq, random_token};
use crate::dialects::handoff::Handoff;
use crate::oauth::OAuthError;
use crate::oauth::authorize::{SessionUser, ValidAuthorize};

/// The key of the signed-in user; sessions without it are anonymous (shorter-lived).
pub const USER: &str = "user";
const PENDING: &str = "pending";
const CSRF: &str = "csrf";
const PASSWORD_CHANGE: &str = "password_change";
const HANDOFF: &str = "handoff";
const SEEN: &str = "seen";

/// A correct password of an account that must choose a new one: sign-in completes only
/// after the change, within a few minutes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PasswordChange {
    pub user_id: String,
    /// When the old password was verified (unix seconds).
    pub verified_at: i64,
}

fn unavailable(e: tower_sessions::session::Error) -> OAuthError {
    OAuthError::unavailable(e)
}

/// The signed-in user.
pub async fn user(session: &Session) -> Result<Option<SessionUser>, OAuthError> {
    session.get(USER).await.map_err(unavailable)
}

/// Signs `user` in: a fresh cookie id (S-03) and a fresh CSRF token.
pub async fn sign_in(session: &Session, user: &SessionUser) -> Result<(), OAuthError> {
    session.cycle_id().await.map_err(unavailable)?;
    session.insert(USER, user).await.map_err(unavailable)?;
    session
        .insert(CSRF, random_token())
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Marks the session as used at `now` when its mark is older than a minute (or a quarter of
/// the idle timeout, if shorter): tower-sessions saves, and so extends the idle timeout of,
/// changed sessions only; plain use of a signed-in session would otherwise not count as
/// activity. One store write per minute of activity, not one per request.
pub async fn touch(session: &Session, now: i64, idle_ttl: i64) -> Result<(), OAuthError> {
    let every = (idle_ttl / 4).clamp(1, 60);
    let seen: Option<i64> = session.get(SEEN).await.map_err(unavailable)?;
    if seen.is_none_or(|t| now - t >= every) {
        session.insert(SEEN, now).await.map_err(unavailable)?;
    }
    Ok(())
}

/// Signs the browser out without ending anything else: a pending authorization or hand-off
/// stays, so the user signs in again and carries on (absolute timeout, S-05).
pub async fn forget_user(session: &Session) -> Result<(), OAuthError> {
    session
        .remove::<SessionUser>(USER)
        .await
        .map(|_| ())
        .map_err(unavailable)
}

/// Ends the session: the record is deleted, the cookie becomes useless (S-04).
pub async fn destroy(session: &Session) -> Result<(), OAuthError> {
    session.flush().await.map_err(unavailable)
}

/// The authorization request waiting for login or consent.
pub async fn pending(session: &Session) -> Result<Option<ValidAuthorize>, OAuthError> {
    session.get(PENDING).await.map_err(unavailable)
}

/// Parks an authorization request.
pub async fn set_pending(session: &Session, req: &ValidAuthorize) -> Result<(), OAuthError> {
    session.insert(PENDING, req).await.map_err(unavailable)
}

/// Drops the pending request.
pub async fn clear_pending(session: &Session) -> Result<(), OAuthError> {
    session
        .remove::<ValidAuthorize>(PENDING)
        .await
        .map_err(unavailable)
        .map(|_| ())
}

/// The sub-application hand-off waiting for login, if any.
pub async fn handoff(session: &Session) -> Result<Option<Handoff>, OAuthError> {
    session.get(HANDOFF).await.map_err(unavailable)
}

/// Parks a hand-off; a pending OIDC authorization request of the same browser is dropped (the
/// latest navigation wins).
pub async fn set_handoff(session: &Session, handoff: &Handoff) -> Result<(), OAuthError> {
    clear_pending(session).await?;
    session.insert(HANDOFF, handoff).await.map_err(unavailable)
}

/// Drops the pending hand-off.
pub async fn clear_handoff(session: &Session) -> Result<(), OAuthError> {
    session
        .remove::<Handoff>(HANDOFF)
        .await
        .map_err(unavailable)
        .map(|_| ())
}

/// The pending password change, if any.
pub async fn password_change(session: &Session) -> Result<Option<PasswordChange>, OAuthError> {
    session.get(PASSWORD_CHANGE).await.map_err(unavailable)
}

/// Parks a password change; the session id is rotated first (the old password was verified).
pub async fn set_password_change(
    session: &Session,
    change: &PasswordChange,
) -> Result<(), OAuthError> {
    session.cycle_id().await.map_err(unavailable)?;
    session
        .insert(PASSWORD_CHANGE, change)
        .await
        .map_err(unavailable)
}

/// Drops the pending password change.
pub async fn clear_password_change(session: &Session) -> Result<(), OAuthError> {
    session
        .remove::<PasswordChange>(PASSWORD_CHANGE)
        .await
        .map_err(unavailable)
        .map(|_| ())
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, OAuthError> {
    if let Some(token) = session.get::<String>(CSRF).await.map_err(unavailable)? {
        return Ok(token);
    }
    let token = random_token();
    session.insert(CSRF, &token).await.map_err(unavailable)?;
    Ok(token)
}

/// Synchronizer-token check of a submitted form (S-06), constant-time.
pub async fn csrf_ok(session: &Session, presented: Option<&str>) -> Result<bool, OAuthError> {
    let expected: Option<String> = session.get(CSRF).await.map_err(unavailable)?;
    Ok(match (expected, presented) {
        (Some(expected), Some(presented)) => ct_eq(expected.as_bytes(), presented.as_bytes()),
        _ => false,
    })
}
