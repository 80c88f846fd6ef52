//! Token introspection (RFC 7662) and revocation (RFC 7009).

use serde_json::{Value, json};

use super::client_auth::AuthenticatedClient;
use super::error::OAuthError;
use super::params::Params;
use super::provider::Provider;
use crate::crypto::sha256_b64;
use crate::ephemeral::RevocationKind;
use crate::jwt::{self, Alg, Expect};
use crate::store::grants;

use super::claims::{ACCESS_TOKEN_TYP, AccessClaims};

/// JWTs have two dots; our refresh tokens are 43 base64url characters.
fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// RFC 7662 §2.2. Unknown, expired or revoked tokens are `{"active": false}`; a store outage is
/// an error, never a guess. Refresh tokens are only described to the client they belong to.
pub async fn introspect(
    p: &Provider,
    ac: &AuthenticatedClient,
    form: &Params,
    now: i64,
) -> Result<Value, OAuthError> {
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let inactive = json!({ "active": false });
    if looks_like_jwt(token) {
        return Ok(match p.verify_access_token(token, now).await {
            Ok(c) => {
                let mut out = json!({
                    "active": true, "iss": c.iss, "sub": c.sub, "aud": c.aud, "client_id": c.client_id,
                    "scope": c.scope, "jti": c.jti, "iat": c.iat, "exp": c.exp, "token_type": "Bearer",
                });
                if let Some(sid) = &c.sid {
                    out["sid"] = json!(sid);
                }
                if let Some(auth_time) = c.auth_time {
                    out["auth_time"] = json!(auth_time);
                }
                out
            }
            Err(e) if e.code == super::error::ErrorCode::InvalidToken => inactive,
            Err(e) => return Err(e),
        });
    }
    let Some(rt) = grants::find_refresh(&p.db, &sha256_b64(token.as_bytes())).await? else {
        return Ok(inactive);
    };
    let revoked = rt.grant.revoked_at.is_some()
        || p.ephemeral
            .is_revoked(&[(RevocationKind::Grant, rt.grant.id.as_str())])
            .await?;
    if rt.grant.client_id != ac.client.id || rt.used_at.is_some() || revoked || rt.expires_at <= now
    {
        return Ok(inactive);
    }
    Ok(json!({
        "active": true, "iss": p.issuer, "sub": rt.grant.user_id, "client_id": rt.grant.client_id,
        "scope": rt.scope, "iat": rt.created_at, "exp": rt.expires_at, "token_type": "refresh_token",
    }))
}

/// RFC 7009 §2.1. Revoking a refresh token revokes its whole grant; an access token is revoked
/// by its `jti`. Tokens that are invalid or belong to another client are ignored (still 200).
pub async fn revoke(
    p: &Provider,
    ac: &AuthenticatedClient,
    form: &Params,
    now: i64,
) -> Result<(), OAuthError> {
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    if looks_like_jwt(token) {
        let expect = Expect {
            algs: &Alg::ALL,
            typ: Some(ACCESS_TOKEN_TYP),
            issuer: &p.issuer,
            audience: None,
            allow_expired: true,
        };
        if let Ok(claims) = jwt::verify::<AccessClaims>(&p.keys.current(), token, &expect)
            && claims.client_id == ac.client.id
            && claims.exp > now
        {
            p.revoke(RevocationKind::Token, &claims.jti, claims.exp)
                .await?;
        }
        return Ok(());
    }
    if let Some(rt) = grants::find_refresh(&p.db, &sha256_b64(token.as_bytes())).await?
        && rt.grant.client_id == ac.client.id
    {
        p.revoke_grant(&rt.grant.id, now).await?;
    }
    Ok(())
}
