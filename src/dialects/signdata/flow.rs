//! The server side of the signdata dialect: whether an application may use it, minting the
//! hand-off for a signed-in user (its `jti` recorded for single use, optionally a code),
//! redeeming codes at `/auth/access_token`, and the provider-side verify (single use of `jti`).
//!
//! Codes and `jti`s live in the ephemeral code store (atomic single use, shared across
//! instances), under keys of their own: a signdata code cannot be redeemed at `/oauth/token`
//! (it carries no PKCE or `redirect_uri` binding) and an OIDC code cannot be redeemed here.

use super::{Claims, Error, Sealed, SignMethod, profile};
use crate::crypto::{random_token, sha256_b64};
use crate::dialects::tokens;
use crate::ephemeral::{CodeRecord, CodeTake, RevocationKind};
use crate::oauth::authorize::SessionUser;
use crate::oauth::tokens::refresh_token_ttl;
use crate::oauth::{OAuthError, Provider};
use crate::store::app_tokens::{self, AppToken};
use crate::store::clients::Client;
use crate::store::grants::{self, Grant};

const CODE_KEY: &str = "gatehouse/signdata/code:";
const JTI_KEY: &str = "gatehouse/signdata/jti:";
/// OAuth scope of the grants behind seed 001 tokens (seed 001 `scope` is a system code, not an
/// OAuth scope; it is only echoed).
const GRANT_SCOPE: &str = "openid";

/// Why an application cannot use the signdata dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// A public application has no secret to key the hand-off from.
    Public,
    /// The secret predates sealing: it must be rotated.
    NotSealed,
    /// The sealed secret does not open (vault key replaced?).
    Unreadable,
}

impl NotReady {
    /// What the error page says.
    pub fn describe(self) -> &'static str {
        match self {
            NotReady::Public => {
                "This application has no client secret and cannot use this sign-in."
            }
            NotReady::NotSealed | NotReady::Unreadable => {
                "This application cannot use this sign-in until an administrator rotates its \
                 client secret."
            }
        }
    }
}

/// The application's secret in plaintext, from its sealed copy.
pub fn app_secret(p: &Provider, client: &Client) -> Result<String, NotReady> {
    if client.is_public() {
        return Err(NotReady::Public);
    }
    let sealed = client.secret_sealed.as_deref().ok_or(NotReady::NotSealed)?;
    p.keys
        .vault()
        .open(&client.id, sealed)
        .ok_or(NotReady::Unreadable)
}

/// Whether `callback` is registered for the application: byte for byte, nothing else (G-01).
pub fn registered_callback(client: &Client, callback: &str) -> bool {
    client.legacy_callback_urls.iter().any(|u| u == callback)
}

/// What the callback gets.
#[derive(Debug, Clone)]
pub struct Minted {
    pub sealed: Sealed,
    pub code: Option<String>,
    pub method: SignMethod,
}

/// Mints `signdata` + `sign` (and a code when `want_code`) for the signed-in `user` at
/// `client`, delivered to `callback`. Refused unless the user may sign in now (G-05).
pub async fn mint(
    p: &Provider,
    client: &Client,
    user: &SessionUser,
    callback: &str,
    scope: Option<&str>,
    want_code: bool,
    now: i64,
) -> Result<Minted, OAuthError> {
    let secret = app_secret(p, client).map_err(|e| {
        tracing::warn!(client_id = %client.id, reason = ?e, "signdata refused: no usable secret");
        OAuthError::invalid_request(e.describe())
    })?;
    let account = profile::load(&p.db, &user.user_id, None)
        .await?
        .filter(|a| a.user.may_sign_in(now))
        .ok_or_else(|| {
            OAuthError::new(
                crate::oauth::ErrorCode::AccessDenied,
                "The account may not sign in.",
            )
        })?;
    let jti = random_token();
    let claims: Claims = account.claims(&p.issuer, &client.id, scope, now, jti.clone());
    let record = CodeRecord {
        grant_id: jti.clone(),
        client_id: client.id.clone(),
        user_id: user.user_id.clone(),
        redirect_uri: callback.to_owned(),
        scope: scope.unwrap_or_default().to_owned(),
        nonce: None,
        code_challenge: None,
        auth_time: user.auth_time,
        sid: user.sid.clone(),
        expires_at: claims.exp,
    };
    p.ephemeral.code_insert(&key(JTI_KEY, &jti), record).await?;
    let method = if md5_for(p, client, now) {
        tracing::warn!(client_id = %client.id, "signdata signed with md5 (legacy_md5_sign): weak");
        SignMethod::LegacyMd5
    } else {
        SignMethod::HmacSha256
    };
    let sealed = super::seal(&secret, &claims, method).map_err(OAuthError::server_error)?;
    let code = if want_code {
        Some(issue_code(p, &client.id, user, callback, now).await?)
    } else {
        None
    };
    Ok(Minted {
        sealed,
        code,
        method,
    })
}

fn key(prefix: &str, value: &str) -> String {
    sha256_b64(format!("{prefix}{value}").as_bytes())
}

/// A single-use code for `client_id`, redeemable at `/auth/access_token` within the code
/// lifetime. `user.sid` may be empty (no browser session: API-key login).
pub async fn issue_code(
    p: &Provider,
    client_id: &str,
    user: &SessionUser,
    redirect_uri: &str,
    now: i64,
) -> Result<String, OAuthError> {
    let code = random_token();
    let record = CodeRecord {
        grant_id: uuid::Uuid::now_v7().to_string(),
        client_id: client_id.to_owned(),
        user_id: user.user_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: GRANT_SCOPE.to_owned(),
        nonce: None,
        code_challenge: None,
        auth_time: user.auth_time,
        sid: user.sid.clone(),
        expires_at: now + p.lifetimes.code,
    };
    p.ephemeral
        .code_insert(&key(CODE_KEY, &code), record)
        .await?;
    Ok(code)
}

/// The answer of `/auth/access_token`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Redeemed {
    /// An app token (`crate::dialects::tokens`).
    pub access_token: String,
    /// An OAuth refresh token of the same grant, for `POST /oauth/token
    /// grant_type=refresh_token` (`null` unless the application has the `refresh_token` grant).
    pub refresh_token: Option<String>,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
}

/// Redeems a code once, for the authenticated `client`. A second presentation fails and
/// revokes the grant of the first (RFC 6749 §4.1.2). Failures are `invalid_grant`.
pub async fn redeem(
    p: &Provider,
    client: &Client,
    code: &str,
    now: i64,
) -> Result<Redeemed, OAuthError> {
    let record = match p.ephemeral.code_take(&key(CODE_KEY, code)).await? {
        CodeTake::Fresh(r) => r,
        CodeTake::Replayed { grant_id } => {
            p.revoke_grant(&grant_id, now).await?;
            return Err(OAuthError::invalid_grant(
                "the code was already used; its tokens are revoked",
            ));
        }
        CodeTake::Unknown => return Err(OAuthError::invalid_grant("the code is invalid")),
    };
    if record.client_id != client.id || record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code is invalid or expired"));
    }
    match crate::store::users::find(&p.db, &record.user_id).await? {
        Some(u) if u.may_sign_in(now) => {}
        _ => return Err(OAuthError::invalid_grant("the user is not active")),
    }
    let refresh = client.allows_grant("refresh_token");
    let sid = (!record.sid.is_empty()).then(|| record.sid.clone());
    // One grant per redemption, named by the code: a replay revokes exactly it.
    let grant = Grant {
        id: record.grant_id.clone(),
        client_id: client.id.clone(),
        user_id: record.user_id.clone(),
        scope: GRANT_SCOPE.to_owned(),
        sid,
        auth_time: record.auth_time,
        expires_at: now
            + if refresh {
                refresh_token_ttl(p, client).max(p.lifetimes.app_token)
            } else {
                p.lifetimes.app_token
            },
        revoked_at: None,
    };
    grants::insert(&p.db, &grant, now).await?;
    let revoked = p
        .ephemeral
        .is_revoked(&[(RevocationKind::Grant, grant.id.as_str())])
        .await?;
    if revoked {
        // A replay of this code landed between the redemption and now.
        grants::revoke(&p.db, &grant.id, now).await?;
        return Err(OAuthError::invalid_grant("the code was already used"));
    }
    let access_token = random_token();
    let app_token = AppToken {
        grant_id: grant.id.clone(),
        client_id: client.id.clone(),
        user_id: record.user_id.clone(),
        sid: record.sid.clone(),
        created_at: now,
        expires_at: now + p.lifetimes.app_token,
    };
    app_tokens::insert(&p.db, &tokens::hash(&access_token), &app_token).await?;
    let refresh_token = if refresh {
        let token = random_token();
        grants::insert_refresh(
            &p.db,
            &sha256_b64(token.as_bytes()),
            &grant.id,
            GRANT_SCOPE,
            now,
            grant.expires_at,
        )
        .await?;
        Some(token)
    } else {
        None
    };
    Ok(Redeemed {
        access_token,
        refresh_token,
        expires_in: p.lifetimes.app_token,
    })
}

/// Why the provider-side verify refused a pair.
#[derive(Debug)]
pub enum VerifyError {
    /// The application cannot use the dialect.
    NotReady(NotReady),
    /// The pair does not open for this application.
    Invalid(Error),
    /// Valid, but already presented once (G-03).
    Replayed,
    /// Store failure.
    Store(OAuthError),
}

impl From<OAuthError> for VerifyError {
    fn from(e: OAuthError) -> Self {
        VerifyError::Store(e)
    }
}

/// Whether `client` gets seed 001's md5 `sign`: flagged legacy, and before the deployment's
/// retirement date (`GATEHOUSE_LEGACY_MD5_UNTIL`); otherwise HMAC-SHA256, with a log line
/// when the flag outlived the date.
fn md5_for(p: &Provider, client: &Client, now: i64) -> bool {
    if !client.legacy_md5_sign {
        return false;
    }
    let allowed = p.lifetimes.md5_allowed(now);
    if !allowed {
        tracing::warn!(client_id = %client.id, "legacy_md5_sign ignored: md5 is retired (GATEHOUSE_LEGACY_MD5_UNTIL)");
    }
    allowed
}

/// Opens a pair for the authenticated `client` and consumes its `jti`: the second
/// presentation of the same `signdata` is refused, on every instance.
pub async fn verify(
    p: &Provider,
    client: &Client,
    signdata: &str,
    sign: &str,
    now: i64,
) -> Result<Claims, VerifyError> {
    let secret = app_secret(p, client).map_err(VerifyError::NotReady)?;
    let claims = if md5_for(p, client, now) {
        let (claims, method) = super::open_allowing_md5(&secret, &client.id, signdata, sign, now)
            .map_err(VerifyError::Invalid)?;
        if method == SignMethod::LegacyMd5 {
            tracing::warn!(client_id = %client.id, "signdata verified with md5 (legacy_md5_sign)");
        }
        claims
    } else {
        super::open(&secret, &client.id, signdata, sign, now).map_err(VerifyError::Invalid)?
    };
    let taken = p
        .ephemeral
        .code_take(&key(JTI_KEY, &claims.jti))
        .await
        .map_err(OAuthError::from)?;
    match taken {
        CodeTake::Fresh(r) if r.client_id == client.id => Ok(claims),
        CodeTake::Fresh(_) | CodeTake::Unknown => Err(VerifyError::Invalid(Error::BadClaims)),
        CodeTake::Replayed { .. } => Err(VerifyError::Replayed),
    }
}
