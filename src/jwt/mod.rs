//! JSON Web Tokens: signing and verification with an explicit algorithm allow-list (RFC 8725).
//! The `jsonwebtoken` crate does the JWS work; its cryptography is provided by `ring`.

pub mod ring_provider;

use jsonwebtoken::{Algorithm, Header, Validation};
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
    #[error("signing failed: {0}")]
    Signing(jsonwebtoken::errors::Error),
}

/// Tokens longer than this are refused before any parsing.
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

/// Signs `claims` with the active key of `alg`.
pub fn sign<T: Serialize>(
    keys: &KeySet,
    alg: Alg,
    typ: &str,
    claims: &T,
) -> Result<String, JwtError> {
    let key = keys.active(alg);
    let mut header = Header::new(alg.jose());
    header.typ = Some(typ.to_owned());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).map_err(JwtError::Signing)
}

/// Verifies a compact JWS issued by us: key chosen by `kid` from our own set only (never from
/// `jku`/`jwk`/`x5u` headers), algorithm pinned to that key and to `expect.algs` (P-13).
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
