//! Token claim sets: RFC 9068 access tokens, OIDC Core §2 ID tokens, and the user claims that
//! scopes release (OIDC Core §5.4), shared by the ID token and userinfo.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::scope;
use crate::store::users::User;

/// `typ` header of access tokens (RFC 9068 §2.1); nothing else is accepted as one.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// RFC 9068 access-token claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user id, or the client id for `client_credentials`.
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Browser session the token was obtained in; logout revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Grant (refresh-token family) the token belongs to; replay detection revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
}

impl AccessClaims {
    /// Whether the token was issued to a user (not a client acting for itself).
    pub fn has_user(&self) -> bool {
        self.gid.is_some()
    }
}

/// OIDC Core §2 ID-token claims; user claims are flattened in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub azp: String,
    #[serde(flatten)]
    pub user: Map<String, Value>,
}

/// The standard claims `granted` releases about `user` (without `sub`).
pub fn user_claims(user: &User, granted: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            out.insert(k.to_owned(), json!(v));
        }
    };
    if scope::has(granted, "profile") {
        put("name", &user.name);
        put("given_name", &user.given_name);
        put("family_name", &user.family_name);
        put("nickname", &user.nickname);
        put("preferred_username", &Some(user.username.clone()));
        put("picture", &user.picture);
        put("locale", &user.locale);
        put("zoneinfo", &user.zoneinfo);
    }
    if scope::has(granted, "email") {
        put("email", &user.email);
    }
    if scope::has(granted, "phone") {
        put("phone_number", &user.phone);
    }
    if scope::has(granted, "profile") {
        out.insert("updated_at".into(), json!(user.updated_at));
    }
    if scope::has(granted, "email") && user.email.is_some() {
        out.insert("email_verified".into(), json!(user.email_verified != 0));
    }
    if scope::has(granted, "phone") && user.phone.is_some() {
        out.insert(
            "phone_number_verified".into(),
            json!(user.phone_verified != 0),
        );
    }
    if scope::has(granted, "address")
        && let Some(addr) = user.address.as_ref().filter(|a| !a.is_empty())
    {
        out.insert("address".into(), json!({ "formatted": addr }));
    }
    out
}

/// All claim names we may release, for discovery.
pub const SUPPORTED_CLAIMS: [&str; 22] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "sid",
    "azp",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "preferred_username",
    "picture",
    "locale",
    "zoneinfo",
    "updated_at",
    "email",
    "email_verified",
    "phone_number",
];
