//! Rules of applications (OAuth clients): redirect and callback URIs, grant types, token
//! lifetimes and display fields. The CLI (`gatehouse client add`) and the admin API share them.

use crate::error::{ApiError, ApiResult};
use crate::jwt::Alg;
use crate::keys::KeySet;
use crate::store::clients::{self, AppFields};

use super::validate;

/// Grant types an application may be registered for.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// Most URIs in one list of an application.
pub const MAX_URIS: usize = 20;

/// Shortest token lifetime an application may ask for, in seconds.
pub const MIN_TTL: i64 = 60;
/// Longest refresh token (grant) lifetime, in seconds (one year).
pub const MAX_REFRESH_TTL: i64 = 365 * 24 * 3600;
/// Longest ID token lifetime, in seconds (one day).
pub const MAX_ID_TTL: i64 = 24 * 3600;

fn is_loopback(url: &url::Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// Registered redirect URIs must be absolute, without fragment (RFC 6749 §3.1.2), and https
/// unless they point at loopback (RFC 8252 §7.3) — checked once here so matching can stay a
/// plain `==`. Private-use schemes of native apps (RFC 8252 §7.1, containing a dot) are allowed.
pub fn redirect_uri(uri: &str) -> Result<(), String> {
    if uri.len() > 512 {
        return Err(format!("{uri:?}: at most 512 bytes"));
    }
    let url = url::Url::parse(uri).map_err(|_| format!("{uri:?} is not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "{uri:?}: redirect URIs must not contain a fragment"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!(
            "{uri:?}: use https (http is allowed only for loopback)"
        )),
        s if s.contains('.') => Ok(()),
        s => Err(format!("{uri:?}: scheme {s:?} is not allowed")),
    }
}

/// Callback URLs of the legacy dialects: absolute https, or http on loopback; no fragment.
pub fn legacy_callback_url(uri: &str) -> Result<(), String> {
    if uri.len() > 512 {
        return Err(format!("{uri:?}: at most 512 bytes"));
    }
    let url = url::Url::parse(uri).map_err(|_| format!("{uri:?} is not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "{uri:?}: callback URLs must not contain a fragment"
        ));
    }
    match url.scheme() {
        "https" if url.host_str().is_some() => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        _ => Err(format!(
            "{uri:?}: use https (http is allowed only for loopback)"
        )),
    }
}

fn uri_list(field: &str, list: &[String], rule: fn(&str) -> Result<(), String>) -> ApiResult<()> {
    if list.len() > MAX_URIS {
        return Err(ApiError::invalid(
            field,
            &format!("at most {MAX_URIS} URIs"),
        ));
    }
    for (i, u) in list.iter().enumerate() {
        rule(u).map_err(|e| ApiError::invalid(field, &e))?;
        if list[..i].contains(u) {
            return Err(ApiError::invalid(field, &format!("{u:?} is listed twice")));
        }
    }
    Ok(())
}

fn ttl(field: &str, v: Option<i64>, max: i64) -> ApiResult<()> {
    match v {
        Some(s) if !(MIN_TTL..=max).contains(&s) => Err(ApiError::invalid(
            field,
            &format!("between {MIN_TTL} and {max} seconds, or null for the server's default"),
        )),
        _ => Ok(()),
    }
}

/// Checks the fields shown to people: name, description, logo and home page.
pub fn check_display(f: &AppFields) -> ApiResult<()> {
    validate::required_text("name", &f.name, 64)?;
    validate::text("description", &f.description, 200)?;
    validate::text("logo", &f.logo, 200)?;
    validate::url("logo", &f.logo)?;
    validate::url("home_url", &f.home_url)
}

/// Checks an application's fields. `public`: the application has no secret.
/// `max_access_ttl`: the server's access token lifetime, which an application may only shorten
/// (revocations of grants and sessions are kept for that long).
pub fn check(f: &AppFields, public: bool, max_access_ttl: i64) -> ApiResult<()> {
    check_display(f)?;
    if f.grant_types.is_empty() {
        return Err(ApiError::invalid("grant_types", "at least one grant type"));
    }
    for (i, g) in f.grant_types.iter().enumerate() {
        if !GRANT_TYPES.contains(&g.as_str()) {
            return Err(ApiError::invalid(
                "grant_types",
                &format!("unknown grant type {g:?} (use {})", GRANT_TYPES.join(", ")),
            ));
        }
        if f.grant_types[..i].contains(g) {
            return Err(ApiError::invalid(
                "grant_types",
                &format!("{g:?} is listed twice"),
            ));
        }
    }
    let has = |g: &str| f.grant_types.iter().any(|x| x == g);
    if public && has("client_credentials") {
        return Err(ApiError::invalid(
            "grant_types",
            "a public application cannot use client_credentials",
        ));
    }
    if has("authorization_code") && f.redirect_uris.is_empty() {
        return Err(ApiError::invalid(
            "redirect_uris",
            "required for the authorization_code grant",
        ));
    }
    uri_list("redirect_uris", &f.redirect_uris, redirect_uri)?;
    uri_list(
        "post_logout_redirect_uris",
        &f.post_logout_redirect_uris,
        redirect_uri,
    )?;
    uri_list(
        "legacy_callback_urls",
        &f.legacy_callback_urls,
        legacy_callback_url,
    )?;
    if Alg::parse(&f.id_token_alg).is_none() {
        return Err(ApiError::invalid("id_token_alg", "RS256, ES256 or EdDSA"));
    }
    ttl(
        "access_token_ttl",
        f.ttl.access_token,
        max_access_ttl.max(MIN_TTL),
    )?;
    ttl("refresh_token_ttl", f.ttl.refresh_token, MAX_REFRESH_TTL)?;
    ttl("id_token_ttl", f.ttl.id_token, MAX_ID_TTL)?;
    if public && f.legacy_md5_sign {
        return Err(ApiError::invalid(
            "legacy_md5_sign",
            "a public application has no secret to sign with",
        ));
    }
    Ok(())
}

/// The keyed hash (authenticates the client) and the vault-sealed copy (keys the signdata
/// dialect) of a new secret of application `id`.
pub fn stored_secret(keys: &KeySet, id: &str, secret: &str) -> (String, String) {
    (
        keys.secret_hasher().hash(secret),
        keys.vault().seal(id, secret),
    )
}

/// Logs weak legacy settings when they are turned on (`old`: before an update).
pub fn warn_weak(id: &str, old: Option<&AppFields>, f: &AppFields) {
    if f.legacy_md5_sign && !old.is_some_and(|o| o.legacy_md5_sign) {
        tracing::warn!(client_id = id, "{}", clients::MD5_WARNING);
    }
    if f.api_key_in_query && !old.is_some_and(|o| o.api_key_in_query) {
        tracing::warn!(client_id = id, "{}", clients::API_KEY_QUERY_WARNING);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_registration_rules() {
        assert!(redirect_uri("https://app.example/cb").is_ok());
        assert!(redirect_uri("http://127.0.0.1:9000/cb").is_ok());
        assert!(redirect_uri("com.example.app:/cb").is_ok());
        assert!(redirect_uri("http://app.example/cb").is_err());
        assert!(redirect_uri("https://app.example/cb#x").is_err());
        assert!(redirect_uri("javascript:alert(1)").is_err());
        assert!(redirect_uri("/relative").is_err());
    }

    #[test]
    fn legacy_callbacks() {
        assert!(legacy_callback_url("https://a.example/s/auth/callback").is_ok());
        assert!(legacy_callback_url("http://localhost:8081/cb").is_ok());
        assert!(legacy_callback_url("http://a.example/cb").is_err());
        assert!(legacy_callback_url("com.example.app:/cb").is_err());
        assert!(legacy_callback_url("https://a.example/cb#f").is_err());
    }
}
