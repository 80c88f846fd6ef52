//! The UserInfo endpoint's logic (OIDC Core §5.3).

use serde_json::{Map, Value, json};

use super::claims::user_claims;
use super::error::{ErrorCode, OAuthError};
use super::provider::Provider;
use super::scope;
use crate::store::users;

/// Claims about the token's user, limited to the token's scope. The token must be a user's
/// access token carrying `openid`.
pub async fn userinfo(
    p: &Provider,
    token: &str,
    now: i64,
) -> Result<Map<String, Value>, OAuthError> {
    let claims = p.verify_access_token(token, now).await?;
    if !claims.has_user() {
        return Err(OAuthError::invalid_token(
            "the token does not represent a user",
        ));
    }
    if !scope::has(&claims.scope, "openid") {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the openid scope is required",
        ));
    }
    let user = match users::find(&p.db, &claims.sub).await? {
        Some(user) if user.may_sign_in(now) => user,
        _ => return Err(OAuthError::invalid_token("the user is not active")),
    };
    let mut out = user_claims(&user, &claims.scope);
    out.insert("sub".into(), json!(user.id));
    Ok(out)
}
