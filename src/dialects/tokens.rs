//! Tokens a sub-application may present, and the principal (user + application) each resolves
//! to: OIDC access tokens we signed, and opaque app tokens (seed 002 `token`, seed 001
//! `access_token`). Both are refused once their grant, browser session or user is revoked.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::crypto::{random_token, sha256_b64};
use crate::ephemeral::RevocationKind;
use crate::oauth::{OAuthError, Provider};
use crate::store::app_tokens::{self, AppToken};
use crate::store::grants::{self, Grant};

/// Upper bound of the app-token cache; it is simply emptied when full.
const CACHE_MAX: usize = 100_000;

/// What kind of token resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A JWT access token of the OIDC flows.
    Access,
    /// An opaque app token of a dialect.
    App,
}

/// The user and application a token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub client_id: String,
    /// Browser session the token was obtained in, if any.
    pub sid: Option<String>,
    pub grant_id: Option<String>,
    pub expires_at: i64,
    pub kind: TokenKind,
}

/// Verified app tokens by hash (the store is read once per token).
#[derive(Debug, Default)]
pub struct AppTokenCache {
    map: RwLock<HashMap<String, Arc<AppToken>>>,
}

impl AppTokenCache {
    fn get(&self, hash: &str) -> Option<Arc<AppToken>> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(hash)
            .cloned()
    }

    fn put(&self, hash: String, token: Arc<AppToken>) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= CACHE_MAX {
            map.clear();
        }
        map.insert(hash, token);
    }

    /// Forgets one token (deleted by logout).
    pub fn forget(&self, hash: &str) {
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(hash);
    }

    /// Forgets expired tokens.
    pub fn purge(&self, now: i64) {
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, t| t.expires_at > now);
    }
}

/// Issues an app token for `user_id` at `client_id`, in its own grant tied to the browser
/// session `sid` (so logging out of that session ends it).
pub async fn issue(
    provider: &Provider,
    user_id: &str,
    client_id: &str,
    sid: &str,
    auth_time: i64,
    now: i64,
) -> Result<(String, AppToken), OAuthError> {
    let grant_id = uuid::Uuid::now_v7().to_string();
    issue_in_grant(provider, &grant_id, user_id, client_id, sid, auth_time, now).await
}

/// [`issue`] into a grant whose id was chosen beforehand (by the hand-off that leads to it), so
/// that a replay of that hand-off can revoke exactly this token (RFC 6749 §4.1.2 by analogy).
pub async fn issue_in_grant(
    provider: &Provider,
    grant_id: &str,
    user_id: &str,
    client_id: &str,
    sid: &str,
    auth_time: i64,
    now: i64,
) -> Result<(String, AppToken), OAuthError> {
    let expires_at = now + provider.lifetimes.app_token;
    let grant = Grant {
        id: grant_id.to_owned(),
        client_id: client_id.to_owned(),
        user_id: user_id.to_owned(),
        scope: "openid".into(),
        sid: (!sid.is_empty()).then(|| sid.to_owned()),
        auth_time,
        expires_at,
        revoked_at: None,
    };
    grants::insert(&provider.db, &grant, now).await?;
    let token = random_token();
    let record = AppToken {
        grant_id: grant.id,
        client_id: client_id.to_owned(),
        user_id: user_id.to_owned(),
        sid: sid.to_owned(),
        created_at: now,
        expires_at,
    };
    app_tokens::insert(&provider.db, &hash(&token), &record).await?;
    Ok((token, record))
}

/// The storage key of an app token.
pub fn hash(token: &str) -> String {
    sha256_b64(token.as_bytes())
}

/// Whether `token` has the shape of a JWS (three dot-separated parts).
fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// The principal of a live token, `None` for anything else (unknown, expired, revoked, forged,
/// a token without a user). A store outage is an error, never a principal (fail closed).
pub async fn resolve(
    provider: &Provider,
    cache: &AppTokenCache,
    token: &str,
    now: i64,
) -> Result<Option<Principal>, OAuthError> {
    if token.is_empty() || token.len() > 8192 {
        return Ok(None);
    }
    if looks_like_jwt(token) {
        return match provider.verify_access_token(token, now).await {
            Ok(claims) if claims.has_user() => Ok(Some(Principal {
                user_id: claims.sub.clone(),
                client_id: claims.client_id.clone(),
                sid: claims.sid.clone(),
                grant_id: claims.gid.clone(),
                expires_at: claims.exp,
                kind: TokenKind::Access,
            })),
            Ok(_) => Ok(None),
            Err(e) if e.code == crate::oauth::error::ErrorCode::InvalidToken => Ok(None),
            Err(e) => Err(e),
        };
    }
    let key = hash(token);
    let record = match cache.get(&key) {
        Some(r) => r,
        None => {
            let Some(r) = app_tokens::find(&provider.db, &key).await? else {
                return Ok(None);
            };
            let r = Arc::new(r);
            cache.put(key, Arc::clone(&r));
            r
        }
    };
    if record.expires_at <= now {
        return Ok(None);
    }
    let mut checks = vec![(RevocationKind::Grant, record.grant_id.as_str())];
    if !record.sid.is_empty() {
        checks.push((RevocationKind::Session, record.sid.as_str()));
    }
    if provider.ephemeral.is_revoked(&checks).await? {
        return Ok(None);
    }
    Ok(Some(Principal {
        user_id: record.user_id.clone(),
        client_id: record.client_id.clone(),
        sid: (!record.sid.is_empty()).then(|| record.sid.clone()),
        grant_id: Some(record.grant_id.clone()),
        expires_at: record.expires_at,
        kind: TokenKind::App,
    }))
}

/// Ends an app token explicitly (logout with it): deleted and its grant revoked.
pub async fn end(
    provider: &Provider,
    cache: &AppTokenCache,
    token: &str,
    now: i64,
) -> Result<Option<AppToken>, OAuthError> {
    let key = hash(token);
    let Some(record) = app_tokens::find(&provider.db, &key).await? else {
        return Ok(None);
    };
    provider.revoke_grant(&record.grant_id, now).await?;
    app_tokens::delete(&provider.db, &key).await?;
    cache.forget(&key);
    Ok(Some(record))
}
