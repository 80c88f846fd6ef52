//! JSON Web Tokens: signing and verification with an explicit algorithm allow-list (RFC 8725).
//! Signing uses ring keys parsed once at load; verification goes through `jsonwebtoken`, whose
//! cryptography is provided by `ring` too (one crypto library).

pub mod ring_provider;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::keys::KeySet;

/// The signature algorithms Gatehouse signs with and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum Alg {
    RS256,
    ES256,
    EdDSA,
}

impl Alg {
    /// Every supported algorithm, in JWKS order.
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// Parses a JOSE name; anything else (including `none`) is refused.
    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub(crate) fn jose(self) -> Algorithm {
        match self {
            Alg::RS256 => Algorithm::RS256,
            Alg::ES256 => Algorithm::ES256,
            Alg::EdDSA => Algorithm::EdDSA,
        }
    }
}

/// Why a token was refused. Deliberately coarse: callers answer `invalid_token` either way.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    #[error("wrong token type")]
    WrongType,
    #[error("invalid token: {0}")]
    Invalid(jsonwebtoken::errors::Error),
    #[error("claims could not be encoded: {0}")]
    Encoding(serde_json::Error),
    #[error("signing failed")]
    SigningFailed,
}

/// Tokens longer than this are refused before any parsing (R-03, R-04).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What a verification demands besides the signature.
pub struct Expect<'a> {
    /// Allowed `alg` values; the header's `alg` must be one of them and match the key.
    pub algs: &'a [Alg],
    /// Required `typ` header (`at+jwt` for access tokens), or `None` to refuse `at+jwt`
    /// (e.g. ID tokens must not be accepted where access tokens are expected and vice versa).
    pub typ: Option<&'a str>,
    /// Required `iss`.
    pub issuer: &'a str,
    /// Required audience, if any.
    pub audience: Option<&'a str>,
    /// Whether an expired token is still acceptable (id_token_hint at logout).
    pub allow_expired: bool,
}

/// Signs `claims` with the active key of `alg` in `keys` (RFC 7515 compact serialization).
/// Signing uses the key parsed when its file was first seen; `jsonwebtoken` would re-parse the
/// private key for every token. Callers pass a snapshot of the provider's key ring.
pub fn sign<T: Serialize>(
    keys: &KeySet,
    alg: Alg,
    typ: &str,
    claims: &T,
) -> Result<String, JwtError> {
    #[derive(Serialize)]
    struct JoseHeader<'a> {
        typ: &'a str,
        alg: &'a str,
        kid: &'a str,
    }
    let key = keys.active(alg);
    let header = JoseHeader {
        typ,
        alg: alg.as_str(),
        kid: &key.kid,
    };
    let header = serde_json::to_vec(&header).map_err(JwtError::Encoding)?;
    let payload = serde_json::to_vec(claims).map_err(JwtError::Encoding)?;
    let mut token = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 400);
    URL_SAFE_NO_PAD.encode_string(&header, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.sign(token.as_bytes()).ok_or(JwtError::SigningFailed)?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
    Ok(token)
}

/// Verifies a compact JWS issued by us: key chosen by `kid` from our own set only (never from
/// `jku`/`jwk`/`x5u` headers), algorithm pinned to that key and to `expect.algs` (P-13). Keys
/// published ahead of signing and superseded keys not yet retired verify; retired ones do not.
pub fn verify<T: DeserializeOwned>(
    keys: &KeySet,
    token: &str,
    expect: &Expect<'_>,
) -> Result<T, JwtError> {
    if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
        return Err(JwtError::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
    let key = keys.find(kid).ok_or(JwtError::UnknownKey)?;
    if header.alg != key.alg.jose() || !expect.algs.contains(&key.alg) {
        return Err(JwtError::AlgorithmNotAllowed);
    }
    let typ_ok = match (expect.typ, header.typ.as_deref()) {
        (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
        (Some(_), None) => false,
        (None, Some(got)) => !got.eq_ignore_ascii_case("at+jwt"),
        (None, None) => true,
    };
    if !typ_ok {
        return Err(JwtError::WrongType);
    }
    let mut validation = Validation::new(key.alg.jose());
    validation.set_issuer(&[expect.issuer]);
    match expect.audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    validation.leeway = 30;
    validation.validate_exp = !expect.allow_expired;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    jsonwebtoken::decode::<T>(token, &key.decoding, &validation)
        .map(|data| data.claims)
        .map_err(JwtError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Claims {
        iss: String,
        sub: String,
        exp: i64,
    }

    fn keys() -> KeySet {
        ring_provider::install();
        let dir = std::env::temp_dir().join(format!("gh-jwt-{}", crate::crypto::random_token()));
        let keys = KeySet::load_or_generate(&dir, crate::clock::now(), 3600).expect("keys");
        let _ = std::fs::remove_dir_all(dir);
        keys
    }

    #[test]
    fn p13_signed_tokens_verify_only_under_their_rules() {
        let keys = keys();
        let claims = Claims {
            iss: "https://op.example".into(),
            sub: "u1".into(),
            exp: crate::clock::now() + 60,
        };
        for alg in Alg::ALL {
            let token = sign(&keys, alg, "at+jwt", &claims).expect("sign");
            let ok = Expect {
                algs: &[alg],
                typ: Some("at+jwt"),
                issuer: "https://op.example",
                audience: None,
                allow_expired: false,
            };
            assert_eq!(
                verify::<Claims>(&keys, &token, &ok).expect("verify"),
                claims
            );
            let other_alg: Vec<Alg> = Alg::ALL.into_iter().filter(|a| *a != alg).collect();
            assert!(
                verify::<Claims>(
                    &keys,
                    &token,
                    &Expect {
                        algs: &other_alg,
                        ..ok
                    }
                )
                .is_err()
            );
            assert!(
                verify::<Claims>(&keys, &token, &Expect { typ: None, ..ok }).is_err(),
                "at+jwt where an ID token is expected"
            );
            assert!(
                verify::<Claims>(
                    &keys,
                    &token,
                    &Expect {
                        issuer: "https://evil.example",
                        ..ok
                    }
                )
                .is_err()
            );
            // alg:none with the same payload and kid.
            let mut parts = token.split('.');
            let (_, payload) = (parts.next(), parts.next().unwrap_or_default());
            let none_header = URL_SAFE_NO_PAD.encode(format!(
                r#"{{"alg":"none","typ":"at+jwt","kid":"{}"}}"#,
                keys.active(alg).kid
            ));
            assert!(verify::<Claims>(&keys, &format!("{none_header}.{payload}."), &ok).is_err());
        }
    }
}
