//! `grant_type=refresh_token` (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).

use super::super::client_auth::AuthenticatedClient;
use super::super::error::OAuthError;
use super::super::params::Params;
use super::super::provider::Provider;
use super::super::scope;
use super::super::tokens::{
    AccessGrant, IdTokenInput, TokenResponse, access_token_ttl, mint_access_token_for,
    mint_id_token,
};
use super::{active_user, grant_revoked};
use crate::crypto::{random_token, sha256_b64};
use crate::store::grants;

/// Exchanges a refresh token for new tokens. The presented token is consumed; presenting it
/// again revokes the whole family (P-09). The requested scope may only narrow (P-10).
pub async fn refresh_token(
    p: &Provider,
    ac: &AuthenticatedClient,
    form: &Params,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let client = &ac.client;
    if !client.allows_grant("refresh_token") {
        return Err(OAuthError::unauthorized_client(
            "the client may not use this grant type",
        ));
    }
    let presented = form
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let old_hash = sha256_b64(presented.as_bytes());
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let Some(rt) = grants::find_refresh(&p.db, &old_hash).await? else {
        return Err(invalid());
    };
    // Bound to its client; another client's attempt has no side effect.
    if rt.grant.client_id != client.id {
        return Err(invalid());
    }
    if rt.used_at.is_some() {
        p.revoke_grant(&rt.grant.id, now).await?;
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used; its family is revoked",
        ));
    }
    if rt.grant.revoked_at.is_some()
        || grant_revoked(p, &rt.grant.id).await?
        || rt.expires_at <= now
    {
        return Err(invalid());
    }
    let requested = match form.get("scope") {
        Some(raw) => scope::parse(raw)
            .map_err(|s| OAuthError::invalid_scope(format!("unknown scope {s}")))?,
        None => scope::parse(&rt.scope).map_err(|_| invalid())?,
    };
    if !scope::is_subset(&requested, &rt.scope) {
        return Err(OAuthError::invalid_scope("the scope may only be narrowed"));
    }
    let granted = scope::join(&requested);
    let user = match active_user(p, &rt.grant.user_id).await {
        Ok(user) => user,
        Err(e) => {
            p.revoke_grant(&rt.grant.id, now).await?;
            return Err(e);
        }
    };

    let new_token = random_token();
    // RFC 6749 §6: the new refresh token keeps the scope of the one it replaces.
    let rotated = grants::rotate_refresh(
        &p.db,
        &old_hash,
        &sha256_b64(new_token.as_bytes()),
        &rt.scope,
        now,
        rt.grant.expires_at,
    )
    .await?;
    if !rotated {
        // Lost a race with another use of the same token: that is reuse too.
        p.revoke_grant(&rt.grant.id, now).await?;
        return Err(invalid());
    }
    let offline = scope::has(&rt.grant.scope, "offline_access");
    let ttl = access_token_ttl(p, client);
    let access_token = mint_access_token_for(
        p,
        &AccessGrant {
            subject: &user.id,
            client_id: &client.id,
            scope: &granted,
            auth_time: Some(rt.grant.auth_time),
            sid: rt.grant.sid.as_deref().filter(|_| !offline),
            grant_id: Some(&rt.grant.id),
        },
        ttl,
        now,
    )?;
    let id_token = if scope::has(&granted, "openid") {
        let input = IdTokenInput {
            client,
            scope: &granted,
            nonce: None,
            auth_time: rt.grant.auth_time,
            sid: rt.grant.sid.as_deref(),
            access_token: &access_token,
        };
        Some(mint_id_token(p, &user, &input, now)?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: granted,
        id_token,
        refresh_token: Some(new_token),
    })
}
