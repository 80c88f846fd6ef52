//! `/.well-known/openid-configuration`, `/.well-known/oauth-authorization-server` and `/jwks`:
//! documents rendered once (the JWKS once per key set) and served from memory.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::jwt::Alg;
use crate::oauth::{claims::SUPPORTED_CLAIMS, scope};
use crate::state::AppState;

/// OIDC Discovery 1.0 §3 / RFC 8414 §2 metadata for `issuer`.
pub fn document(issuer: &str) -> Value {
    let algs: Vec<&str> = Alg::ALL.iter().map(|a| a.as_str()).collect();
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "userinfo_endpoint": format!("{issuer}/oauth/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "end_session_endpoint": format!("{issuer}/oauth/logout"),
        "scopes_supported": scope::SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": SUPPORTED_CLAIMS,
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    })
}

fn json_bytes(body: Vec<u8>, cache_control: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

/// The discovery document.
pub async fn configuration(State(app): State<AppState>) -> Response {
    json_bytes(app.discovery.clone(), "public, max-age=300")
}

/// The public signing keys: next, active and retiring ones. Its `max-age` is shorter than the
/// default publish lead of a rotation, so caches learn a new key before it signs.
pub async fn jwks(State(app): State<AppState>) -> Response {
    json_bytes(
        app.provider.keys.current().jwks_json().to_vec(),
        crate::keys::schedule::JWKS_CACHE_CONTROL,
    )
}
