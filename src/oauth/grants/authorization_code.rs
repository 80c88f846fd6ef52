//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3).

use super::super::client_auth::AuthenticatedClient;
use super::super::error::OAuthError;
use super::super::params::Params;
use super::super::provider::Provider;
use super::super::tokens::{
    AccessGrant, IdTokenInput, TokenResponse, access_token_ttl, mint_access_token_for,
    mint_id_token, refresh_token_ttl,
};
use super::super::{pkce, scope};
use super::{active_user, grant_revoked};
use crate::crypto::{random_token, sha256_b64};
use crate::ephemeral::{CodeRecord, CodeTake};
use crate::store::grants::{self, Grant};

/// Redeems a code once. A second presentation fails and revokes every token issued from the
/// first (RFC 6749 §4.1.2, P-07).
pub async fn authorization_code(
    p: &Provider,
    ac: &AuthenticatedClient,
    form: &Params,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let client = &ac.client;
    if !client.allows_grant("authorization_code") {
        return Err(OAuthError::unauthorized_client(
            "the client may not use this grant type",
        ));
    }
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let record = match p.ephemeral.code_take(&sha256_b64(code.as_bytes())).await? {
        CodeTake::Fresh(record) => record,
        CodeTake::Replayed { grant_id } => {
            p.revoke_grant(&grant_id, now).await?;
            return Err(OAuthError::invalid_grant(
                "the code was already used; its tokens are revoked",
            ));
        }
        CodeTake::Unknown => {
            return Err(OAuthError::invalid_grant("the code is invalid or expired"));
        }
    };
    check_code(&record, &client.id, form, now)?;
    let user = active_user(p, &record.user_id).await?;

    let grant = Grant {
        id: record.grant_id.clone(),
        client_id: client.id.clone(),
        user_id: user.id.clone(),
        scope: record.scope.clone(),
        sid: Some(record.sid.clone()),
        auth_time: record.auth_time,
        expires_at: now + refresh_token_ttl(p, client),
        revoked_at: None,
    };
    grants::insert(&p.db, &grant, now).await?;
    if grant_revoked(p, &grant.id).await? {
        // A replay of this code landed between the redemption and now; its revocation could not
        // reach the grant row, which did not exist yet: record it now. This redemption still
        // answers (exactly one redemption succeeds), but every token it carries is already
        // refused (RFC 6749 §4.1.2: tokens issued from a replayed code are revoked).
        grants::revoke(&p.db, &grant.id, now).await?;
    }

    let offline = scope::has(&record.scope, "offline_access");
    let ttl = access_token_ttl(p, client);
    let access_token = mint_access_token_for(
        p,
        &AccessGrant {
            subject: &user.id,
            client_id: &client.id,
            scope: &record.scope,
            auth_time: Some(record.auth_time),
            // offline_access tokens outlive the browser session (OIDC Core §11).
            sid: (!offline).then_some(record.sid.as_str()),
            grant_id: Some(&grant.id),
        },
        ttl,
        now,
    )?;
    let refresh_token = if client.allows_grant("refresh_token") {
        let token = random_token();
        grants::insert_refresh(
            &p.db,
            &sha256_b64(token.as_bytes()),
            &grant.id,
            &record.scope,
            now,
            grant.expires_at,
        )
        .await?;
        Some(token)
    } else {
        None
    };
    let id_token = if scope::has(&record.scope, "openid") {
        let input = IdTokenInput {
            client,
            scope: &record.scope,
            nonce: record.nonce.as_deref(),
            auth_time: record.auth_time,
            sid: Some(&record.sid),
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
        scope: record.scope,
        id_token,
        refresh_token,
    })
}

/// The checks that bind a code to its client, redirect URI, lifetime and PKCE challenge.
fn check_code(
    record: &CodeRecord,
    client_id: &str,
    form: &Params,
    now: i64,
) -> Result<(), OAuthError> {
    if record.client_id != client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code is invalid or expired"));
    }
    // RFC 6749 §4.1.3: redirect_uri must be identical to the one of the authorization request.
    if form.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&record.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !pkce::is_valid_verifier(verifier) {
                return Err(OAuthError::invalid_grant("code_verifier is malformed"));
            }
            if !pkce::verify(verifier, challenge) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the challenge",
                ));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "no code_challenge was sent for this code",
            ));
        }
        (None, None) => {}
    }
    Ok(())
}
