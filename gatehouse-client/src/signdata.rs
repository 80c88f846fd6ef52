//! Seed 001's browser hand-off: the callback gets `signdata` (the signed-in user, encrypted)
//! and `sign` (a keyed signature over it). The seed only says "encrypted user info, Base64" and
//! "signature method, default md5"; the construction below is Gatehouse's, documented in
//! Gatehouse's `docs/dialects.md` so a sub-application in any language can verify it:
//!
//! - keys: HKDF-SHA256 (RFC 5869) over the application's client secret (UTF-8) with salt
//!   [`HKDF_SALT`]: 32 bytes with info [`INFO_ENC`] (AES-256-GCM key), 32 bytes with info
//!   [`INFO_MAC`] (HMAC-SHA256 key);
//! - `signdata` = base64url without padding of `nonce(12) ‖ AES-256-GCM(JSON claims)` (tag
//!   appended), additional data = the `client_id`;
//! - `sign` = base64url without padding of HMAC-SHA256(mac key, `signdata` as sent), or, for an
//!   application marked `legacy_md5_sign` only, lowercase hex md5(`signdata` ‖ secret).
//!
//! This module is pure (no I/O, time passed in), always built (also without the `middleware`
//! feature) and depends only on `ring`, `base64`, `serde`, `serde_json`, `subtle`, `md-5` and
//! `thiserror`. Gatehouse itself uses this very code to mint and check the pair (its
//! `dialects::signdata` re-exports it), so both sides cannot drift apart. A sub-application
//! calls [`open`] on its callback:
//!
//! ```
//! # use gatehouse_client::signdata::Error;
//! # fn callback(secret: &str, client_id: &str, signdata: &str, sign: &str) -> Result<(), Error> {
//! // `signdata` and `sign` as received in the callback's query string (already URL-decoded).
//! let now = std::time::SystemTime::now()
//!     .duration_since(std::time::UNIX_EPOCH)
//!     .map_or(0, |d| d.as_secs() as i64);
//! let claims = gatehouse_client::signdata::open(secret, client_id, signdata, sign, now)?;
//! println!("signed in: {} ({})", claims.username, claims.tenant.code);
//! # Ok(()) }
//! ```
//!
//! Single use of the `jti` is the caller's job: remember the ones seen until `exp`, or let
//! Gatehouse's `POST /auth/signdata/verify` consume it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::{hkdf, hmac};
use serde::{Deserialize, Serialize};

/// Longest lifetime of a `signdata` (`exp - iat`), in seconds (G-03).
pub const TTL: i64 = 120;
/// Clock difference tolerated between Gatehouse and the sub-application, in seconds.
pub const CLOCK_SKEW: i64 = 30;
/// Longest `signdata` accepted, in characters (bounded work on hostile input, G-06).
pub const MAX_SIGNDATA: usize = 8192;
/// HKDF salt (fixed, public).
pub const HKDF_SALT: &[u8] = b"gatehouse/signdata/v1";
/// HKDF info of the AES-256-GCM key.
pub const INFO_ENC: &[u8] = b"gatehouse/signdata/v1/aes-256-gcm";
/// HKDF info of the HMAC-SHA256 key.
pub const INFO_MAC: &[u8] = b"gatehouse/signdata/v1/hmac-sha256";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// base64url length of an HMAC-SHA256 value.
const HMAC_B64_LEN: usize = 43;
/// hex length of an md5 value.
const MD5_HEX_LEN: usize = 32;

/// The user's tenant (main organisation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRef {
    /// The tenant's id.
    pub id: String,
    /// The tenant's code (unique, stable).
    pub code: String,
    /// The tenant's display name.
    pub name: String,
}

/// One role of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRef {
    /// The role's id.
    pub id: String,
    /// The role's code (unique within the tenant).
    pub code: String,
    /// The role's display name.
    pub name: String,
}

/// The plaintext of `signdata`. Unknown members are ignored when opening (later versions may
/// add some).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Gatehouse's issuer URL.
    pub iss: String,
    /// The application's `client_id`.
    pub aud: String,
    /// The user's id (same as `id`).
    pub sub: String,
    /// The user's id (seed 001 name).
    pub id: String,
    /// The user's login name.
    pub username: String,
    /// Display name (the username when the account has none).
    pub name: String,
    /// The user's tenant.
    pub tenant: TenantRef,
    /// The user's roles (may be empty).
    pub roles: Vec<RoleRef>,
    /// Seed 001 `scope` of the request, when one was given (the authenticated copy of the
    /// `scope` query parameter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expires at (unix seconds), at most `iat + 120`.
    pub exp: i64,
    /// Unique id; single use at Gatehouse's verify endpoint.
    pub jti: String,
}

/// How `sign` was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMethod {
    /// base64url(HMAC-SHA256(mac key, signdata)): the default.
    HmacSha256,
    /// hex(md5(signdata ‖ secret)): legacy applications only.
    LegacyMd5,
}

/// Why a `signdata`/`sign` pair was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Too long, empty, not strict base64url, too short, or a `sign` of no known shape.
    #[error("signdata or sign is malformed")]
    Malformed,
    /// `sign` does not match `signdata` under this secret.
    #[error("the signature does not match")]
    BadSignature,
    /// An md5 `sign` was presented to [`open`] (see [`open_allowing_md5`]).
    #[error("md5 signatures are accepted only for applications marked legacy")]
    Md5Refused,
    /// The AES-GCM tag does not verify (other key, other `client_id`, altered bytes).
    #[error("signdata does not decrypt with this application's key")]
    Undecryptable,
    /// The claims do not (de)serialise, or `exp < iat`, or `jti`/`sub` is empty.
    #[error("the signdata payload is not valid")]
    BadClaims,
    /// `aud` is not this `client_id`.
    #[error("signdata was issued to another application")]
    WrongAudience,
    /// `now` is past `exp` plus [`CLOCK_SKEW`].
    #[error("signdata expired")]
    Expired,
    /// `iat` is after `now` plus [`CLOCK_SKEW`].
    #[error("signdata is not valid yet")]
    NotYetValid,
    /// `exp - iat` exceeds [`TTL`].
    #[error("signdata lives longer than allowed")]
    LifetimeTooLong,
    /// ring failed (random source, key setup); not the caller's fault.
    #[error("key derivation or encryption failed")]
    Internal,
}

/// The pair the callback receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The encrypted claims (base64url, no padding).
    pub signdata: String,
    /// The signature over `signdata`.
    pub sign: String,
}

/// HKDF output length.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// The two keys derived from a client secret.
struct Keys {
    enc: LessSafeKey,
    mac: hmac::Key,
}

fn derive(secret: &str) -> Result<Keys, Error> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(secret.as_bytes());
    let expand = |info: &[u8]| -> Result<[u8; 32], Error> {
        let mut out = [0u8; 32];
        prk.expand(&[info], Len(32))
            .and_then(|okm| okm.fill(&mut out))
            .map_err(|_| Error::Internal)?;
        Ok(out)
    };
    let enc = UnboundKey::new(&AES_256_GCM, &expand(INFO_ENC)?).map_err(|_| Error::Internal)?;
    Ok(Keys {
        enc: LessSafeKey::new(enc),
        mac: hmac::Key::new(hmac::HMAC_SHA256, &expand(INFO_MAC)?),
    })
}

/// Encrypts and signs `claims` for the application whose secret is `secret`, with a fresh
/// random nonce.
pub fn seal(secret: &str, claims: &Claims, method: SignMethod) -> Result<Sealed, Error> {
    use ring::rand::SecureRandom;
    let mut nonce = [0u8; NONCE_LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| Error::Internal)?;
    seal_with_nonce(secret, claims, nonce, method)
}

/// [`seal`] with a given nonce (test vectors); never reuse a nonce with the same secret.
pub fn seal_with_nonce(
    secret: &str,
    claims: &Claims,
    nonce: [u8; NONCE_LEN],
    method: SignMethod,
) -> Result<Sealed, Error> {
    let keys = derive(secret)?;
    let mut buf = serde_json::to_vec(claims).map_err(|_| Error::BadClaims)?;
    keys.enc
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(claims.aud.as_bytes()),
            &mut buf,
        )
        .map_err(|_| Error::Internal)?;
    let mut raw = nonce.to_vec();
    raw.extend_from_slice(&buf);
    let signdata = URL_SAFE_NO_PAD.encode(raw);
    let sign = match method {
        SignMethod::HmacSha256 => hmac_sign(&keys, &signdata),
        SignMethod::LegacyMd5 => md5_sign(secret, &signdata),
    };
    Ok(Sealed { signdata, sign })
}

fn hmac_sign(keys: &Keys, signdata: &str) -> String {
    URL_SAFE_NO_PAD.encode(hmac::sign(&keys.mac, signdata.as_bytes()))
}

/// Lowercase hex md5(signdata ‖ secret). The secret comes last: `md5(secret ‖ data)` would be
/// open to length extension (G-02). Still weak; legacy applications only.
pub fn md5_sign(secret: &str, signdata: &str) -> String {
    use md5::Digest;
    let mut h = md5::Md5::new();
    h.update(signdata.as_bytes());
    h.update(secret.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Opens a pair signed with HMAC-SHA256, for application `client_id` whose secret is `secret`,
/// at `now` (unix seconds): signature (constant time), decryption (bound to `client_id`),
/// audience, `iat`/`exp` within [`CLOCK_SKEW`], lifetime at most [`TTL`]. An md5 `sign` is
/// refused ([`Error::Md5Refused`]); see [`open_allowing_md5`]. Single use of `jti` is the
/// caller's job (Gatehouse's verify endpoint does it).
pub fn open(
    secret: &str,
    client_id: &str,
    signdata: &str,
    sign: &str,
    now: i64,
) -> Result<Claims, Error> {
    open_inner(secret, client_id, signdata, sign, now, false).map(|(c, _)| c)
}

/// Like [`open`] but also accepts the legacy md5 `sign`; the method used is returned so the
/// caller can flag it. Use only for applications marked `legacy_md5_sign`.
pub fn open_allowing_md5(
    secret: &str,
    client_id: &str,
    signdata: &str,
    sign: &str,
    now: i64,
) -> Result<(Claims, SignMethod), Error> {
    open_inner(secret, client_id, signdata, sign, now, true)
}

fn open_inner(
    secret: &str,
    client_id: &str,
    signdata: &str,
    sign: &str,
    now: i64,
    allow_md5: bool,
) -> Result<(Claims, SignMethod), Error> {
    if signdata.len() > MAX_SIGNDATA || signdata.is_empty() {
        return Err(Error::Malformed);
    }
    let keys = derive(secret)?;
    let method = match sign.len() {
        HMAC_B64_LEN => {
            let presented = URL_SAFE_NO_PAD.decode(sign).map_err(|_| Error::Malformed)?;
            hmac::verify(&keys.mac, signdata.as_bytes(), &presented)
                .map_err(|_| Error::BadSignature)?;
            SignMethod::HmacSha256
        }
        MD5_HEX_LEN
            if sign
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            if !allow_md5 {
                return Err(Error::Md5Refused);
            }
            let expected = md5_sign(secret, signdata);
            // Both are 32 ASCII characters here; compared without early exit.
            if !bool::from(subtle::ConstantTimeEq::ct_eq(
                expected.as_bytes(),
                sign.as_bytes(),
            )) {
                return Err(Error::BadSignature);
            }
            SignMethod::LegacyMd5
        }
        _ => return Err(Error::Malformed),
    };
    // Strict base64url: no padding, no stray bits, no other alphabet (G-04).
    let raw = URL_SAFE_NO_PAD
        .decode(signdata)
        .map_err(|_| Error::Malformed)?;
    if raw.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::Malformed);
    }
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Malformed)?;
    let mut buf = sealed.to_vec();
    let plain = keys
        .enc
        .open_in_place(nonce, Aad::from(client_id.as_bytes()), &mut buf)
        .map_err(|_| Error::Undecryptable)?;
    let claims: Claims = serde_json::from_slice(plain).map_err(|_| Error::BadClaims)?;
    check_claims(&claims, client_id, now)?;
    Ok((claims, method))
}

fn check_claims(c: &Claims, client_id: &str, now: i64) -> Result<(), Error> {
    if c.aud != client_id {
        return Err(Error::WrongAudience);
    }
    if c.exp < c.iat || c.jti.is_empty() || c.sub.is_empty() {
        return Err(Error::BadClaims);
    }
    if c.exp - c.iat > TTL {
        return Err(Error::LifetimeTooLong);
    }
    if c.iat > now + CLOCK_SKEW {
        return Err(Error::NotYetValid);
    }
    if now > c.exp + CLOCK_SKEW {
        return Err(Error::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
