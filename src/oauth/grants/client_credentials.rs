//! `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client acting for itself.

use super::super::client_auth::AuthenticatedClient;
use super::super::error::OAuthError;
use super::super::params::Params;
use super::super::provider::Provider;
use super::super::tokens::{AccessGrant, TokenResponse, access_token_ttl, mint_access_token_for};

/// Issues an access token whose subject is the client. No refresh or ID token (RFC 6749 §4.4.3).
pub async fn client_credentials(
    p: &Provider,
    ac: &AuthenticatedClient,
    form: &Params,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let client = &ac.client;
    if client.is_public() || !client.allows_grant("client_credentials") {
        return Err(OAuthError::unauthorized_client(
            "the client may not use this grant type",
        ));
    }
    // User scopes (openid, profile, …) mean nothing without a user; API scopes come with the
    // permission catalogue, so for now only an empty scope is grantable.
    if let Some(requested) = form.get("scope") {
        return Err(OAuthError::invalid_scope(format!(
            "scope {requested:?} is not available to client_credentials"
        )));
    }
    let grant = AccessGrant {
        subject: &client.id,
        client_id: &client.id,
        scope: "",
        auth_time: None,
        sid: None,
        grant_id: None,
    };
    let ttl = access_token_ttl(p, client);
    let access_token = mint_access_token_for(p, &grant, ttl, now)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: String::new(),
        id_token: None,
        refresh_token: None,
    })
}
