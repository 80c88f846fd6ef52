//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3: `client_secret_basic`, `client_secret_post`, or `none` for public clients).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::OAuthError;
use super::params::Params;
use super::provider::Provider;
use crate::store::clients::Client;

/// How the client authenticated; `None` is a public client identified by `client_id` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Basic,
    Post,
    None,
}

/// A client whose identity was proven (or, for public clients, asserted) on this request.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub client: Arc<Client>,
    pub method: AuthMethod,
}

/// Decodes `Authorization: Basic …` into (client_id, secret), each form-urlencoded (§2.3.1).
fn parse_basic(header: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client("malformed Basic credentials");
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))
        .ok_or_else(bad)?;
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok((unescape(id), unescape(secret)))
}

/// Authenticates the client of a back-channel request. Every failure is `invalid_client`
/// (401) without saying which part was wrong.
pub async fn authenticate(
    provider: &Provider,
    authorization: Option<&str>,
    form: &Params,
) -> Result<AuthenticatedClient, OAuthError> {
    let form_id = form.get("client_id");
    let form_secret = form.get("client_secret");
    let (client_id, secret, method) = match authorization {
        Some(header) if header.len() > 4096 => {
            return Err(OAuthError::invalid_client("credentials too long"));
        }
        Some(header) => {
            if form_secret.is_some() {
                // RFC 6749 §2.3: one authentication method per request.
                return Err(OAuthError::invalid_request(
                    "more than one client authentication method",
                ));
            }
            let (id, secret) = parse_basic(header)?;
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_client(
                    "client_id does not match the credentials",
                ));
            }
            (id, Some(secret), AuthMethod::Basic)
        }
        None => match (form_id, form_secret) {
            (Some(id), Some(secret)) => (id.to_owned(), Some(secret.to_owned()), AuthMethod::Post),
            (Some(id), None) => (id.to_owned(), None, AuthMethod::None),
            _ => return Err(OAuthError::invalid_client("client authentication required")),
        },
    };
    let unknown = || OAuthError::invalid_client("client authentication failed");
    let client = provider.client(&client_id).await?.ok_or_else(unknown)?;
    if !client.enabled {
        return Err(unknown());
    }
    match (&client.secret_hash, secret) {
        // Constant-time comparison of keyed hashes.
        (Some(stored), Some(secret)) if provider.keys.secret_hasher().verify(&secret, stored) => {}
        (None, None) => {}
        _ => return Err(unknown()),
    }
    Ok(AuthenticatedClient { client, method })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_urldecoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20app:s%3Acret"));
        let (id, secret) = parse_basic(&header).unwrap_or_default();
        assert_eq!((id.as_str(), secret.as_str()), ("my app", "s:cret"));
        assert!(parse_basic("Basic !!!").is_err());
        assert!(parse_basic("Bearer x").is_err());
    }
}
