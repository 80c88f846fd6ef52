//! The current user: [`GatehouseUser`], from the session after a browser login or from
//! Gatehouse's UserInfo endpoint for a bearer token the layer has let through.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tower_sessions::Session;

use crate::layer::{Authenticated, reject};
use crate::{Error, Gatehouse, login};

/// The signed-in user, as Gatehouse's UserInfo endpoint describes it (the claims depend on the
/// scopes asked for: `profile` gives `preferred_username` and `name`, `email` the email).
///
/// As an axum extractor it answers 401 itself when nobody is signed in; use
/// `Option<GatehouseUser>` on pages that also serve anonymous visitors. A request that went
/// through [`GatehouseLayer`](crate::GatehouseLayer) with a bearer token is that token's user;
/// otherwise the user comes from the session written by the login routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatehouseUser {
    /// Gatehouse's stable user id (`sub`).
    pub sub: String,
    /// The login name (`preferred_username`).
    #[serde(
        rename = "preferred_username",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub username: Option<String>,
    /// The display name (`name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The email address (`email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether Gatehouse verified the email address (`email_verified`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Every other claim UserInfo returned (`given_name`, `locale`, `phone_number`, ...).
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}

impl GatehouseUser {
    /// The best name to show: the display name, else the login name, else the id.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .filter(|n| !n.is_empty())
            .or(self.username.as_deref())
            .unwrap_or(&self.sub)
    }
}

impl Gatehouse {
    /// The user behind an access token, from Gatehouse's UserInfo endpoint (cached for
    /// [`userinfo_ttl`](crate::GatehouseConfig::userinfo_ttl)).
    pub async fn userinfo(&self, token: &str) -> Result<GatehouseUser, Error> {
        if let Some(u) = self.inner.users.get(&token.to_owned()) {
            return Ok(u);
        }
        let res = self
            .inner
            .http
            .get(self.provider().userinfo_url.clone())
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| Error::Unavailable(format!("userinfo: {e}")))?;
        let status = res.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::LoginRequired);
        }
        if !status.is_success() {
            return Err(Error::Unavailable(format!("userinfo answered {status}")));
        }
        let user: GatehouseUser = res
            .json()
            .await
            .map_err(|e| Error::Unavailable(format!("userinfo: unreadable answer: {e}")))?;
        if user.sub.is_empty() {
            return Err(Error::Unavailable("userinfo: no sub".into()));
        }
        self.inner.users.insert(token.to_owned(), user.clone());
        Ok(user)
    }
}

/// The user of this request, `None` when nobody is signed in.
async fn current(parts: &Parts) -> Result<Option<GatehouseUser>, Response> {
    if let Some(auth) = parts.extensions.get::<Authenticated>()
        && !auth.from_session
    {
        return match auth.gh.userinfo(&auth.token).await {
            Ok(u) => Ok(Some(u)),
            Err(e) => Err(error_response(&e)),
        };
    }
    let Some(session) = parts.extensions.get::<Session>() else {
        return Ok(None);
    };
    match login::session_login(session).await {
        Ok(l) => Ok(l.map(|l| l.user)),
        Err(e) => Err(error_response(&e)),
    }
}

/// The response for an error met while finding the user.
pub(crate) fn error_response(e: &Error) -> Response {
    match e {
        Error::LoginRequired => reject(
            StatusCode::UNAUTHORIZED,
            "login_required",
            "the access token is not valid",
        ),
        Error::Unavailable(m) => {
            tracing::warn!(error = %m, "Gatehouse unavailable");
            reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Gatehouse is unavailable; try again",
            )
        }
        other => {
            tracing::error!(error = %other, "finding the current user failed");
            reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for GatehouseUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        current(parts)
            .await?
            .ok_or_else(|| reject(StatusCode::UNAUTHORIZED, "login_required", "sign in first"))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for GatehouseUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        current(parts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn userinfo_claims_map_to_fields() {
        let u: GatehouseUser = serde_json::from_value(json!({
            "sub": "u1", "preferred_username": "alice", "name": "Alice",
            "email": "a@example.com", "email_verified": true, "locale": "en"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u.username.as_deref(), Some("alice"));
        assert_eq!(u.display_name(), "Alice");
        assert_eq!(u.claims.get("locale"), Some(&json!("en")));
        let back = serde_json::to_value(&u).unwrap_or_default();
        assert_eq!(back["preferred_username"], "alice");
        let bare: GatehouseUser =
            serde_json::from_value(json!({"sub": "u2"})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bare.display_name(), "u2");
    }
}
