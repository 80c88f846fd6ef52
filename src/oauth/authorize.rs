//! The authorization endpoint's logic (RFC 6749 §4.1.1, OIDC Core §3.1.2): an ordered list of
//! `check_*` steps, then the decision login → consent → code.

use serde::{Deserialize, Serialize};

use super::error::{AuthorizeError, ErrorCode, OAuthError};
use super::params::Params;
use super::provider::Provider;
use super::{pkce, scope};
use crate::crypto::{random_token, sha256_b64};
use crate::ephemeral::CodeRecord;
use crate::store::clients::Client;
use crate::store::consents;

/// A request that passed every check, kept in the browser session while the user logs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidAuthorize {
    pub client_id: String,
    pub client_name: String,
    pub first_party: bool,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// When the request arrived.
    pub requested_at: i64,
    /// Set when the user logged in while this request was pending: that login satisfies
    /// `prompt=login` and `max_age` (OIDC Core §3.1.2.1).
    #[serde(default)]
    pub reauthenticated: bool,
}

/// OIDC Core §3.1.2.1 `prompt` values.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// The signed-in user of the browser session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    pub user_id: String,
    pub auth_time: i64,
    /// Session id released as `sid`; stable across cookie-id rotation, revoked at logout.
    pub sid: String,
}

/// What the browser must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Login,
    Consent,
    Issue,
}

/// Runs every check on raw parameters. Failures before the redirect URI is verified are shown
/// on our page; later ones go back to the client (RFC 6749 §4.1.2.1, P-02).
pub async fn validate(
    p: &Provider,
    params: &Params,
    now: i64,
) -> Result<ValidAuthorize, AuthorizeError> {
    let client = check_client(p, params).await?;
    let redirect_uri = check_redirect_uri(&client, params)?;
    let state = params.get("state").map(str::to_owned);
    let back = |error: OAuthError| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
    };
    check_unsupported(params).map_err(back)?;
    check_response_type(&client, params).map_err(back)?;
    let scope = check_scope(&client, params).map_err(back)?;
    let code_challenge = check_pkce(&client, params).map_err(back)?;
    let prompt = check_prompt(params).map_err(back)?;
    let max_age = check_max_age(params).map_err(back)?;
    Ok(ValidAuthorize {
        client_id: client.id.clone(),
        client_name: client.name.clone(),
        first_party: client.first_party,
        redirect_uri: redirect_uri.clone(),
        scope,
        state: state.clone(),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        prompt,
        max_age,
        login_hint: params.get("login_hint").map(str::to_owned),
        requested_at: now,
        reauthenticated: false,
    })
}

async fn check_client(
    p: &Provider,
    params: &Params,
) -> Result<std::sync::Arc<Client>, AuthorizeError> {
    let page = |d: &'static str| AuthorizeError::Page(OAuthError::invalid_request(d));
    let id = params
        .get("client_id")
        .ok_or_else(|| page("client_id is missing"))?;
    match p.client(id).await.map_err(AuthorizeError::Page)? {
        Some(client) if client.enabled => Ok(client),
        _ => Err(page("unknown client")),
    }
}

/// RFC 9700 §4.1.3: exact string comparison with a registered URI, nothing else (P-01).
fn check_redirect_uri(client: &Client, params: &Params) -> Result<String, AuthorizeError> {
    let page = |d: &'static str| AuthorizeError::Page(OAuthError::invalid_request(d));
    let uri = params
        .get("redirect_uri")
        .ok_or_else(|| page("redirect_uri is missing"))?;
    if client.redirect_uris.iter().any(|r| r == uri) {
        Ok(uri.to_owned())
    } else {
        Err(page("redirect_uri is not registered for this client"))
    }
}

/// OIDC Core §6: request objects are not supported.
fn check_unsupported(params: &Params) -> Result<(), OAuthError> {
    if params.get("request").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    Ok(())
}

/// Only the code flow (RFC 9700 §2.1.2: no implicit grant).
fn check_response_type(client: &Client, params: &Params) -> Result<(), OAuthError> {
    match params.get("response_type") {
        None => Err(OAuthError::invalid_request("response_type is missing")),
        Some("code") if client.allows_grant("authorization_code") => Ok(()),
        Some("code") => Err(OAuthError::unauthorized_client(
            "the client may not use the code flow",
        )),
        Some(_) => Err(OAuthError::new(
            ErrorCode::UnsupportedResponseType,
            "only response_type=code is supported",
        )),
    }
}

fn check_scope(client: &Client, params: &Params) -> Result<String, OAuthError> {
    let mut scopes = scope::parse(params.get("scope").unwrap_or(""))
        .map_err(|s| OAuthError::invalid_scope(format!("unknown scope {s}")))?;
    if !client.allows_grant("refresh_token") {
        // offline_access only makes sense with refresh tokens (OIDC Core §11).
        scopes.retain(|s| *s != "offline_access");
    }
    Ok(scope::join(&scopes))
}

/// RFC 7636 + RFC 9700 §2.1.1: S256 only; mandatory for public clients.
fn check_pkce(client: &Client, params: &Params) -> Result<Option<String>, OAuthError> {
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, None) if client.is_public() => {
            Err(OAuthError::invalid_request("PKCE (S256) is required"))
        }
        (None, None) => Ok(None),
        (None, Some(_)) => Err(OAuthError::invalid_request("code_challenge is missing")),
        (Some(_), None) => Err(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        )),
        (Some(_), Some(m)) if m != "S256" => Err(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        )),
        (Some(c), Some(_)) if !pkce::is_valid_challenge(c) => Err(OAuthError::invalid_request(
            "code_challenge must be 43 base64url characters",
        )),
        (Some(c), Some(_)) => Ok(Some(c.to_owned())),
    }
}

fn check_prompt(params: &Params) -> Result<Prompt, OAuthError> {
    let mut prompt = Prompt::default();
    for value in params
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|v| !v.is_empty())
    {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => {}
            _ => return Err(OAuthError::invalid_request("unsupported prompt value")),
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompt)
}

fn check_max_age(params: &Params) -> Result<Option<i64>, OAuthError> {
    params
        .get("max_age")
        .map(|v| {
            v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                OAuthError::invalid_request("max_age must be a non-negative integer")
            })
        })
        .transpose()
}

/// A request with a repeated parameter (RFC 6749 §3.1). Repeating `client_id` or
/// `redirect_uri` makes the target ambiguous: our page. Anything else goes back to the client.
pub async fn duplicated(p: &Provider, first: &Params, name: &str) -> AuthorizeError {
    let error = OAuthError::invalid_request(format!("parameter {name} is repeated"));
    if name == "client_id" || name == "redirect_uri" {
        return AuthorizeError::Page(error);
    }
    let client = match check_client(p, first).await {
        Ok(c) => c,
        Err(e) => return e,
    };
    match check_redirect_uri(&client, first) {
        Ok(redirect_uri) => AuthorizeError::Redirect {
            redirect_uri,
            state: first.get("state").map(str::to_owned),
            error,
        },
        Err(e) => e,
    }
}

/// Decides the next step. `consented` says whether the user already approved this scope for a
/// client that needs consent.
pub fn next_step(
    req: &ValidAuthorize,
    user: Option<&SessionUser>,
    consented: bool,
    now: i64,
) -> Result<Next, OAuthError> {
    let fresh_enough = |u: &SessionUser| {
        let login_ok = !req.prompt.login || req.reauthenticated;
        let age_ok = req.reauthenticated || req.max_age.is_none_or(|max| now - u.auth_time <= max);
        login_ok && age_ok
    };
    match user {
        Some(u) if fresh_enough(u) => {}
        _ if req.prompt.none => {
            return Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "the user is not signed in",
            ));
        }
        _ => return Ok(Next::Login),
    }
    let needs_consent = req.prompt.consent || (!req.first_party && !consented);
    if needs_consent {
        if req.prompt.none {
            return Err(OAuthError::new(
                ErrorCode::ConsentRequired,
                "the user has not approved this client",
            ));
        }
        return Ok(Next::Consent);
    }
    Ok(Next::Issue)
}

/// Whether the user's remembered consent covers the request.
pub async fn has_consent(
    p: &Provider,
    req: &ValidAuthorize,
    user_id: &str,
) -> Result<bool, OAuthError> {
    if req.first_party {
        return Ok(true);
    }
    let requested: Vec<&str> = req.scope.split(' ').filter(|s| !s.is_empty()).collect();
    Ok(
        match consents::find(&p.db, user_id, &req.client_id).await? {
            Some(granted) => scope::is_subset(&requested, &granted),
            None => false,
        },
    )
}

/// Issues a single-use code and returns the callback URL carrying it.
pub async fn issue_code(
    p: &Provider,
    req: &ValidAuthorize,
    user: &SessionUser,
    now: i64,
) -> Result<String, OAuthError> {
    let code = random_token();
    let record = CodeRecord {
        grant_id: uuid::Uuid::now_v7().to_string(),
        client_id: req.client_id.clone(),
        user_id: user.user_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        scope: req.scope.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        auth_time: user.auth_time,
        sid: user.sid.clone(),
        expires_at: now + p.lifetimes.code,
    };
    p.ephemeral
        .code_insert(&sha256_b64(code.as_bytes()), record)
        .await?;
    Ok(callback_url(
        &req.redirect_uri,
        &[
            ("code", Some(&code)),
            ("state", req.state.as_deref()),
            ("iss", Some(&p.issuer)),
        ],
    ))
}

/// The callback URL for an error (RFC 6749 §4.1.2.1) with `iss` (RFC 9207).
pub fn error_url(
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
    issuer: &str,
) -> String {
    callback_url(
        redirect_uri,
        &[
            ("error", Some(error.code.as_str())),
            ("error_description", Some(&error.description)),
            ("state", state),
            ("iss", Some(issuer)),
        ],
    )
}

/// Appends parameters to a registered redirect URI, keeping its own query (RFC 6749 §3.1.2).
pub fn callback_url(redirect_uri: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        // Registered URIs are validated as absolute URLs at registration.
        Err(_) => return redirect_uri.to_owned(),
    };
    if pairs.iter().any(|(_, v)| v.is_some()) {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                query.append_pair(k, v);
            }
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(prompt: Prompt, max_age: Option<i64>, first_party: bool) -> ValidAuthorize {
        ValidAuthorize {
            client_id: "c".into(),
            client_name: "C".into(),
            first_party,
            redirect_uri: "https://app.example/cb".into(),
            scope: "openid".into(),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt,
            max_age,
            login_hint: None,
            requested_at: 100,
            reauthenticated: false,
        }
    }

    fn user(auth_time: i64) -> SessionUser {
        SessionUser {
            user_id: "u".into(),
            auth_time,
            sid: "s".into(),
        }
    }

    #[test]
    fn p19_prompt_and_max_age_decide_login() {
        let none = Prompt {
            none: true,
            ..Prompt::default()
        };
        let login = Prompt {
            login: true,
            ..Prompt::default()
        };
        assert_eq!(
            next_step(&req(Prompt::default(), None, true), None, false, 100).ok(),
            Some(Next::Login)
        );
        assert_eq!(
            next_step(&req(none, None, true), None, false, 100)
                .err()
                .map(|e| e.code),
            Some(ErrorCode::LoginRequired)
        );
        assert_eq!(
            next_step(
                &req(Prompt::default(), None, true),
                Some(&user(50)),
                false,
                100
            )
            .ok(),
            Some(Next::Issue)
        );
        assert_eq!(
            next_step(&req(login, None, true), Some(&user(50)), false, 100).ok(),
            Some(Next::Login)
        );
        let mut fresh = req(login, None, true);
        fresh.reauthenticated = true;
        assert_eq!(
            next_step(&fresh, Some(&user(100)), false, 101).ok(),
            Some(Next::Issue)
        );
        assert_eq!(
            next_step(
                &req(Prompt::default(), Some(1), true),
                Some(&user(97)),
                false,
                100
            )
            .ok(),
            Some(Next::Login)
        );
    }

    #[test]
    fn third_party_clients_need_consent_once() {
        assert_eq!(
            next_step(
                &req(Prompt::default(), None, false),
                Some(&user(90)),
                false,
                100
            )
            .ok(),
            Some(Next::Consent)
        );
        assert_eq!(
            next_step(
                &req(Prompt::default(), None, false),
                Some(&user(90)),
                true,
                100
            )
            .ok(),
            Some(Next::Issue)
        );
        let consent = Prompt {
            consent: true,
            ..Prompt::default()
        };
        assert_eq!(
            next_step(&req(consent, None, true), Some(&user(90)), true, 100).ok(),
            Some(Next::Consent)
        );
    }

    #[test]
    fn callback_keeps_registered_query_and_escapes() {
        let url = callback_url(
            "https://app.example/cb?x=1",
            &[("code", Some("a b")), ("state", None)],
        );
        assert_eq!(url, "https://app.example/cb?x=1&code=a+b");
    }
}
