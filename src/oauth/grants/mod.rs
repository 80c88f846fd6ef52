//! The grant types of the token endpoint (RFC 6749 §4.1.3, §6, §4.4).

mod authorization_code;
mod client_credentials;
mod refresh_token;

pub use authorization_code::authorization_code;
pub use client_credentials::client_credentials;
pub use refresh_token::refresh_token;

use super::error::OAuthError;
use super::provider::Provider;
use crate::ephemeral::RevocationKind;
use crate::store::users::{self, User};

/// The user behind a grant, if they still exist and may use tokens (active, trial not over).
async fn active_user(p: &Provider, user_id: &str) -> Result<User, OAuthError> {
    match users::find(&p.db, user_id).await? {
        Some(user) if user.may_sign_in(crate::clock::now()) => Ok(user),
        _ => Err(OAuthError::invalid_grant("the user is not active")),
    }
}

/// Whether a grant was revoked in the live store (covers a replay racing the first redemption).
async fn grant_revoked(p: &Provider, grant_id: &str) -> Result<bool, OAuthError> {
    Ok(p.ephemeral
        .is_revoked(&[(RevocationKind::Grant, grant_id)])
        .await?)
}
