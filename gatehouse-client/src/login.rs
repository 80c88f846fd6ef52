//! Browser login by redirect (OpenID Connect authorization code flow with PKCE, `state` and
//! `nonce`), the callback, RP-initiated logout, and what the session keeps between requests.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use openidconnect::core::{CoreIdToken, CoreResponseType};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, CsrfToken, LogoutRequest,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::{CALLBACK_PATH, Error, Gatehouse, GatehouseUser, LOGIN_PATH, LOGOUT_PATH};

/// Session key of a login in progress.
const PENDING_KEY: &str = "gatehouse.pending";
/// Session key of the signed-in user and their tokens.
const LOGIN_KEY: &str = "gatehouse.login";
/// An access token this close to its expiry is refreshed first (clock skew, request time).
const EXPIRY_MARGIN_SECS: u64 = 15;

/// What the session keeps between `/login` and the callback.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    return_to: String,
}

/// What the session keeps after a login. Stored server-side; the cookie holds only the id.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Login {
    pub(crate) user: GatehouseUser,
    access_token: String,
    /// Unix seconds; `None` when Gatehouse did not say.
    expires_at: Option<u64>,
    refresh_token: Option<String>,
    /// Kept for the logout request's `id_token_hint`.
    id_token: String,
}

/// Fresh tokens from a refresh, shared by concurrent requests of one session.
#[derive(Clone)]
pub(crate) struct Refreshed {
    access_token: String,
    expires_at: Option<u64>,
    refresh_token: Option<String>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The signed-in user's login, if any.
pub(crate) async fn session_login(session: &Session) -> Result<Option<Login>, Error> {
    Ok(session.get::<Login>(LOGIN_KEY).await?)
}

/// The session's access token, refreshed when it is about to expire. A login whose token is
/// dead (expired without a usable refresh token) is removed from the session.
pub(crate) async fn session_token(
    gh: &Gatehouse,
    session: &Session,
) -> Result<Option<String>, Error> {
    let Some(mut login) = session_login(session).await? else {
        return Ok(None);
    };
    let fresh = login
        .expires_at
        .is_none_or(|exp| exp > now() + EXPIRY_MARGIN_SECS);
    if fresh {
        return Ok(Some(login.access_token));
    }
    match gh.refresh(login.refresh_token.as_deref()).await {
        Ok(t) => {
            login.access_token = t.access_token;
            login.expires_at = t.expires_at;
            if t.refresh_token.is_some() {
                login.refresh_token = t.refresh_token;
            }
            session.insert(LOGIN_KEY, &login).await?;
            Ok(Some(login.access_token))
        }
        Err(Error::LoginRequired) => {
            forget_login(session).await?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Drops the login from the session (its token was refused by Gatehouse).
pub(crate) async fn forget_login(session: &Session) -> Result<(), Error> {
    session.remove::<Login>(LOGIN_KEY).await?;
    Ok(())
}

/// The login, callback and logout routes (state: the client handle).
pub(crate) fn routes() -> Router<Gatehouse> {
    Router::new()
        .route(LOGIN_PATH, get(login))
        .route(CALLBACK_PATH, get(callback))
        .route(LOGOUT_PATH, post(logout))
}

/// `?return_to=/path` of `/login`.
#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
}

/// A local path to return to; anything else (another origin, `//host`, `/\host`) becomes `/`.
fn safe_return(path: Option<&str>) -> String {
    match path {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn text(status: StatusCode, msg: &'static str) -> Response {
    (status, msg).into_response()
}

/// Sends the browser to Gatehouse with a fresh `state`, `nonce` and PKCE challenge.
async fn login(
    State(gh): State<Gatehouse>,
    session: Session,
    Query(q): Query<LoginQuery>,
) -> Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let provider = gh.provider();
    let mut req = provider.oidc.authorize_url(
        AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for s in &gh.inner.config.scopes {
        req = req.add_scope(Scope::new(s.clone()));
    }
    let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
    let pending = Pending {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        return_to: safe_return(q.return_to.as_deref()),
    };
    if let Err(e) = session.insert(PENDING_KEY, &pending).await {
        tracing::error!(error = %e, "storing the pending login failed");
        return text(StatusCode::INTERNAL_SERVER_ERROR, "session store failed");
    }
    Redirect::to(url.as_str()).into_response()
}

/// The authorization response (RFC 6749 §4.1.2, RFC 9207 `iss`).
#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// Constant-time comparison (the state is a secret bound to this browser).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Checks `state` (and `iss`), redeems the code, verifies the ID token, stores the user.
async fn callback(
    State(gh): State<Gatehouse>,
    session: Session,
    Query(q): Query<CallbackQuery>,
) -> Response {
    // Single use: the pending login is taken whatever happens next.
    let pending = match session.remove::<Pending>(PENDING_KEY).await {
        Ok(Some(p)) => p,
        Ok(None) => return text(StatusCode::BAD_REQUEST, "no login in progress"),
        Err(e) => {
            tracing::error!(error = %e, "reading the pending login failed");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "session store failed");
        }
    };
    if !q.state.as_deref().is_some_and(|s| same(s, &pending.state)) {
        return text(StatusCode::BAD_REQUEST, "state does not match");
    }
    if q.iss.as_deref().is_some_and(|iss| iss != gh.issuer()) {
        return text(StatusCode::BAD_REQUEST, "issuer does not match");
    }
    if let Some(err) = q.error {
        tracing::info!(error = %err, "login refused by Gatehouse");
        return text(StatusCode::UNAUTHORIZED, "login was not completed");
    }
    let Some(code) = q.code else {
        return text(StatusCode::BAD_REQUEST, "no code");
    };
    let login = match gh.finish_login(code, &pending).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "login failed");
            return text(StatusCode::BAD_GATEWAY, "login failed");
        }
    };
    // A new session id after login: a fixated id is worth nothing.
    let stored = async {
        session.cycle_id().await?;
        session.insert(LOGIN_KEY, &login).await
    };
    if let Err(e) = stored.await {
        tracing::error!(error = %e, "storing the login failed");
        return text(StatusCode::INTERNAL_SERVER_ERROR, "session store failed");
    }
    tracing::info!(sub = %login.user.sub, "signed in");
    Redirect::to(&pending.return_to).into_response()
}

/// Ends the local session, then Gatehouse's (RP-initiated logout with `id_token_hint`, so no
/// confirmation page) when discovery announced an `end_session_endpoint`.
async fn logout(State(gh): State<Gatehouse>, session: Session) -> Response {
    let login = session.remove::<Login>(LOGIN_KEY).await.ok().flatten();
    if let Err(e) = session.flush().await {
        tracing::warn!(error = %e, "deleting the session failed");
    }
    let local = gh.inner.config.post_logout_path.clone();
    let (Some(endpoint), Some(login)) = (gh.provider().end_session.clone(), login) else {
        return Redirect::to(&local).into_response();
    };
    gh.inner.users.remove(&login.access_token);
    let mut req = LogoutRequest::from(endpoint)
        .set_client_id(ClientId::new(gh.inner.config.client_id.clone()));
    if let Ok(id_token) = CoreIdToken::from_str(&login.id_token) {
        req = req.set_id_token_hint(&id_token);
    }
    if let Ok(uri) = PostLogoutRedirectUrl::new(gh.inner.config.post_logout_redirect_uri()) {
        req = req.set_post_logout_redirect_uri(uri);
    }
    Redirect::to(req.http_get_url().as_str()).into_response()
}

impl Gatehouse {
    /// Redeems the code (with the PKCE verifier), verifies the ID token (signature, issuer,
    /// audience, expiry, nonce, `at_hash`) and reads the user from UserInfo.
    async fn finish_login(&self, code: String, pending: &Pending) -> Result<Login, Error> {
        let provider = self.provider();
        let token = provider
            .oidc
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| Error::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&self.inner.http)
            .await
            .map_err(|e| Error::Login(format!("code exchange: {e}")))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| Error::Login("no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let mut provider = provider;
        let first = id_token
            .claims(&provider.oidc.id_token_verifier(), &nonce)
            .is_ok();
        // A signature that does not verify may be a key Gatehouse rotated in since discovery.
        if !first && self.rediscover().await {
            provider = self.provider();
        }
        let verifier = provider.oidc.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &nonce)
            .map_err(|e| Error::Login(format!("ID token: {e}")))?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|e| Error::Login(format!("ID token: {e}")))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| Error::Login(format!("ID token: {e}")))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                .map_err(|e| Error::Login(format!("at_hash: {e}")))?;
            if &actual != expected {
                return Err(Error::Login("at_hash does not match".into()));
            }
        }
        let access_token = token.access_token().secret().clone();
        let user = self.userinfo(&access_token).await?;
        if user.sub != claims.subject().as_str() {
            return Err(Error::Login("UserInfo is about another user".into()));
        }
        Ok(Login {
            user,
            access_token,
            expires_at: token.expires_in().map(|d| now() + d.as_secs()),
            refresh_token: token.refresh_token().map(|t| t.secret().clone()),
            id_token: id_token.to_string(),
        })
    }

    /// New tokens for a refresh token. Serialised, and remembered for a minute under the old
    /// refresh token, so that concurrent requests of one session redeem it once (Gatehouse may
    /// treat a second use as theft and revoke the grant).
    async fn refresh(&self, refresh_token: Option<&str>) -> Result<Refreshed, Error> {
        let Some(old) = refresh_token else {
            return Err(Error::LoginRequired);
        };
        let _one_at_a_time = self.inner.refresh_lock.lock().await;
        if let Some(t) = self.inner.refreshed.get(&old.to_owned()) {
            return Ok(t);
        }
        let rt = RefreshToken::new(old.to_owned());
        let res = self
            .provider()
            .oidc
            .exchange_refresh_token(&rt)
            .map_err(|e| Error::Config(e.to_string()))?
            .request_async(&self.inner.http)
            .await;
        let token = match res {
            Ok(t) => t,
            Err(RequestTokenError::ServerResponse(e)) => {
                tracing::info!(error = %e, "refresh refused; the user must sign in again");
                return Err(Error::LoginRequired);
            }
            Err(e) => return Err(Error::Unavailable(format!("refresh: {e}"))),
        };
        let fresh = Refreshed {
            access_token: token.access_token().secret().clone(),
            expires_at: token.expires_in().map(|d| now() + d.as_secs()),
            refresh_token: token.refresh_token().map(|t| t.secret().clone()),
        };
        self.inner.refreshed.insert(old.to_owned(), fresh.clone());
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_local() {
        assert_eq!(safe_return(Some("/reports?x=1")), "/reports?x=1");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "x",
            "/a\nb",
        ] {
            assert_eq!(safe_return(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return(None), "/");
    }

    #[test]
    fn state_comparison() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
