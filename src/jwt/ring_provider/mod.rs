//! A `jsonwebtoken` [`CryptoProvider`] backed by `ring`.
//!
//! Gatehouse carries exactly one crypto library, `ring` (already pulled in by
//! rustls), instead of also building aws-lc-rs or the RustCrypto stack.
//! `jsonwebtoken` 9 is affected by CVE-2026-25537, and from 10.3 on the crate
//! does no cryptography itself: with `default-features = false` it needs a
//! process-wide [`CryptoProvider`]. This module is that provider.
//!
//! Call [`install`] once at start-up, before any other `jsonwebtoken` call:
//! the crate settles on a provider the first time it needs one, and a process
//! without one panics inside `jsonwebtoken`.
//!
//! Supported algorithms and key material:
//!
//! | algorithms | signing ([`EncodingKey`]) | verification ([`DecodingKey`]) |
//! | --- | --- | --- |
//! | HS256/384/512 | `from_secret` (and the base64 variants) | `from_secret`, `from_jwk` (`oct`) |
//! | ES256, ES384 | `from_ec_der`: PKCS#8 (v1, embedding the public key, as ring and OpenSSL write) of a P-256 / P-384 key | `from_ec_der` (uncompressed point or SubjectPublicKeyInfo), `from_ec_components`, `from_jwk` |
//! | RS256/384/512, PS256/384/512 | `from_rsa_der`: PKCS#1 `RSAPrivateKey` or PKCS#8, 2048–4096 bits | `from_rsa_der` (PKCS#1 `RSAPublicKey` or SubjectPublicKeyInfo), `from_rsa_components`, `from_rsa_raw_components`, `from_jwk`; 2048–8192 bits |
//! | EdDSA (Ed25519) | `from_ed_der`: PKCS#8 v2 (as `ring` generates) or v1 (as OpenSSL writes) | `from_ed_der` (32 raw bytes or SubjectPublicKeyInfo), `from_ed_components`, `from_jwk` |
//!
//! Anything else (another algorithm, a key of the wrong family or curve, key
//! bytes `ring` rejects) yields a `jsonwebtoken` error, never a panic.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result, new_error};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    self as sig, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaEncoding,
    RsaKeyPair, RsaParameters, RsaPublicKeyComponents, VerificationAlgorithm,
};
use ring::{digest, hmac};

/// The `ring`-backed provider. Install it with [`install`].
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: rsa_components_from_private_key,
        rsa_pub_components_from_public_key: rsa_components_from_public_key,
        ec_pub_components_from_private_key: ec_components_from_private_key,
        ed_pub_components_from_private_key: ed_components_from_private_key,
        compute_digest,
    },
};

/// Makes [`RING_PROVIDER`] the process-wide `jsonwebtoken` provider.
///
/// Idempotent: calling it again (or from several threads) is harmless. It
/// cannot replace a provider that is already in place: if another one was
/// installed first, or `jsonwebtoken` was used before this call (which fixes
/// the crate's panicking placeholder), that one stays. So call this first
/// thing in `main`, and at the top of every test that touches JWTs.
pub fn install() {
    // `Err` means a provider is already set; on a repeat call that is ours.
    let _ = RING_PROVIDER.install_default();
}

// ---------------------------------------------------------------------------
// Signing

/// Parsed signing key; parsing once per `encode` keeps errors at key time.
enum SigningKey {
    Hmac(hmac::Key),
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair, &'static dyn RsaEncoding),
    Ed25519(Ed25519KeyPair),
}

struct RingSigner {
    alg: Algorithm,
    key: SigningKey,
    rng: SystemRandom,
}

impl signature::Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        match &self.key {
            SigningKey::Hmac(key) => Ok(hmac::sign(key, msg).as_ref().to_vec()),
            SigningKey::Ecdsa(key) => key
                .sign(&self.rng, msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| signature::Error::from_source("ring: ECDSA signing failed")),
            SigningKey::Rsa(key, encoding) => {
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(*encoding, &self.rng, msg, &mut out)
                    .map_err(|_| signature::Error::from_source("ring: RSA signing failed"))?;
                Ok(out)
            }
            SigningKey::Ed25519(key) => Ok(key.sign(msg).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    // A key of another family must never be reinterpreted (e.g. RSA DER as an HMAC secret).
    if key.family() != alg.family() {
        return Err(new_error(ErrorKind::InvalidAlgorithm));
    }
    let bytes = key.as_bytes();
    let key = match alg {
        Algorithm::HS256 => SigningKey::Hmac(hmac_key(hmac::HMAC_SHA256, bytes)?),
        Algorithm::HS384 => SigningKey::Hmac(hmac_key(hmac::HMAC_SHA384, bytes)?),
        Algorithm::HS512 => SigningKey::Hmac(hmac_key(hmac::HMAC_SHA512, bytes)?),
        Algorithm::ES256 => SigningKey::Ecdsa(ecdsa_key_pair(
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            bytes,
        )?),
        Algorithm::ES384 => SigningKey::Ecdsa(ecdsa_key_pair(
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            bytes,
        )?),
        Algorithm::RS256 => SigningKey::Rsa(rsa_key_pair(bytes)?, &sig::RSA_PKCS1_SHA256),
        Algorithm::RS384 => SigningKey::Rsa(rsa_key_pair(bytes)?, &sig::RSA_PKCS1_SHA384),
        Algorithm::RS512 => SigningKey::Rsa(rsa_key_pair(bytes)?, &sig::RSA_PKCS1_SHA512),
        Algorithm::PS256 => SigningKey::Rsa(rsa_key_pair(bytes)?, &sig::RSA_PSS_SHA256),
        Algorithm::PS384 => SigningKey::Rsa(rsa_key_pair(bytes)?, &sig::RSA_PSS_SHA384),
        Algorithm::PS512 => SigningKey::Rsa(rsa_key_pair(bytes)?, &sig::RSA_PSS_SHA512),
        Algorithm::EdDSA => SigningKey::Ed25519(ed25519_key_pair(bytes)?),
        // `Algorithm` is non-exhaustive: anything added later is refused, not guessed at.
        _ => return Err(new_error(ErrorKind::UnsupportedAlgorithm)),
    };
    Ok(Box::new(RingSigner {
        alg: *alg,
        key,
        rng: SystemRandom::new(),
    }))
}

fn hmac_key(alg: hmac::Algorithm, secret: &[u8]) -> Result<hmac::Key> {
    // An empty secret makes every MAC forgeable; no legitimate caller has one.
    if secret.is_empty() {
        return Err(new_error(ErrorKind::InvalidKeyFormat));
    }
    Ok(hmac::Key::new(alg, secret))
}

fn ecdsa_key_pair(alg: &'static EcdsaSigningAlgorithm, pkcs8: &[u8]) -> Result<EcdsaKeyPair> {
    EcdsaKeyPair::from_pkcs8(alg, pkcs8, &SystemRandom::new())
        .map_err(|_| new_error(ErrorKind::InvalidEcdsaKey))
}

/// Accepts PKCS#1 `RSAPrivateKey` (what jsonwebtoken's PEM loader hands over)
/// and PKCS#8 (what most tools write).
fn rsa_key_pair(der: &[u8]) -> Result<RsaKeyPair> {
    RsaKeyPair::from_der(der).or_else(|pkcs1| {
        RsaKeyPair::from_pkcs8(der).map_err(|pkcs8| {
            new_error(ErrorKind::InvalidRsaKey(format!(
                "not a PKCS#1 ({pkcs1}) or PKCS#8 ({pkcs8}) RSA private key usable by ring"
            )))
        })
    })
}

/// Accepts PKCS#8 v2 (ring's own, public key checked against the private key)
/// and v1 (OpenSSL's, which has no public key to check).
fn ed25519_key_pair(pkcs8: &[u8]) -> Result<Ed25519KeyPair> {
    match Ed25519KeyPair::from_pkcs8(pkcs8) {
        Ok(pair) => Ok(pair),
        // Only fall back for v1: a v2 document that failed its consistency
        // check must stay rejected.
        Err(_) if pkcs8_version(pkcs8) == Some(0) => {
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                .map_err(|_| new_error(ErrorKind::InvalidEddsaKey))
        }
        Err(_) => Err(new_error(ErrorKind::InvalidEddsaKey)),
    }
}

// ---------------------------------------------------------------------------
// Verification

/// Public key material in the form ring verifies against.
enum VerifyingKey {
    Hmac(hmac::Key),
    /// Raw public key bytes: an uncompressed EC point or 32 Ed25519 bytes.
    Raw(&'static dyn VerificationAlgorithm, Vec<u8>),
    Rsa(&'static RsaParameters, Vec<u8>, Vec<u8>),
}

struct RingVerifier {
    alg: Algorithm,
    key: VerifyingKey,
}

impl signature::Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let ok = match &self.key {
            // ring compares MACs in constant time.
            VerifyingKey::Hmac(key) => hmac::verify(key, msg, signature).is_ok(),
            VerifyingKey::Raw(alg, public) => sig::UnparsedPublicKey::new(*alg, public)
                .verify(msg, signature)
                .is_ok(),
            VerifyingKey::Rsa(params, n, e) => RsaPublicKeyComponents { n, e }
                .verify(params, msg, signature)
                .is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(signature::Error::new())
        }
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    // Blocks algorithm confusion, e.g. an RSA public key used as an HS256 secret.
    if key.family() != alg.family() {
        return Err(new_error(ErrorKind::InvalidAlgorithm));
    }
    let key = match alg {
        Algorithm::HS256 => {
            VerifyingKey::Hmac(hmac_key(hmac::HMAC_SHA256, key.try_get_as_bytes()?)?)
        }
        Algorithm::HS384 => {
            VerifyingKey::Hmac(hmac_key(hmac::HMAC_SHA384, key.try_get_as_bytes()?)?)
        }
        Algorithm::HS512 => {
            VerifyingKey::Hmac(hmac_key(hmac::HMAC_SHA512, key.try_get_as_bytes()?)?)
        }
        Algorithm::ES256 => VerifyingKey::Raw(
            &sig::ECDSA_P256_SHA256_FIXED,
            ec_public_point(key.try_get_as_bytes()?, Curve::P256)?,
        ),
        Algorithm::ES384 => VerifyingKey::Raw(
            &sig::ECDSA_P384_SHA384_FIXED,
            ec_public_point(key.try_get_as_bytes()?, Curve::P384)?,
        ),
        Algorithm::RS256 => rsa_verifying_key(&sig::RSA_PKCS1_2048_8192_SHA256, key)?,
        Algorithm::RS384 => rsa_verifying_key(&sig::RSA_PKCS1_2048_8192_SHA384, key)?,
        Algorithm::RS512 => rsa_verifying_key(&sig::RSA_PKCS1_2048_8192_SHA512, key)?,
        Algorithm::PS256 => rsa_verifying_key(&sig::RSA_PSS_2048_8192_SHA256, key)?,
        Algorithm::PS384 => rsa_verifying_key(&sig::RSA_PSS_2048_8192_SHA384, key)?,
        Algorithm::PS512 => rsa_verifying_key(&sig::RSA_PSS_2048_8192_SHA512, key)?,
        Algorithm::EdDSA => {
            VerifyingKey::Raw(&sig::ED25519, ed25519_public_key(key.try_get_as_bytes()?)?)
        }
        _ => return Err(new_error(ErrorKind::UnsupportedAlgorithm)),
    };
    Ok(Box::new(RingVerifier { alg: *alg, key }))
}

fn rsa_verifying_key(params: &'static RsaParameters, key: &DecodingKey) -> Result<VerifyingKey> {
    let (n, e) = match key.kind() {
        DecodingKeyKind::SecretOrDer(der) => rsa_components_from_public_key(der)?,
        // ring wants minimal big-endian integers; JWKs sometimes carry a zero byte in front.
        DecodingKeyKind::RsaModulusExponent { n, e } => (
            trim_leading_zeros(n).to_vec(),
            trim_leading_zeros(e).to_vec(),
        ),
    };
    Ok(VerifyingKey::Rsa(params, n, e))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

impl Curve {
    /// Length of an uncompressed SEC1 point: 0x04 || x || y.
    fn point_len(self) -> usize {
        match self {
            Curve::P256 => 65,
            Curve::P384 => 97,
        }
    }

    fn oid(self) -> &'static [u8] {
        match self {
            Curve::P256 => OID_P256,
            Curve::P384 => OID_P384,
        }
    }
}

/// An uncompressed point, given raw (jsonwebtoken's own convention, also what
/// `from_ec_components` builds) or wrapped in a SubjectPublicKeyInfo.
fn ec_public_point(bytes: &[u8], curve: Curve) -> Result<Vec<u8>> {
    let point = if bytes.first() == Some(&0x30) {
        let (oid, params, point) = parse_spki(bytes).ok_or(ErrorKind::InvalidEcdsaKey)?;
        if oid != OID_EC_PUBLIC_KEY || !is_oid(params, curve.oid()) {
            return Err(new_error(ErrorKind::InvalidEcdsaKey));
        }
        point
    } else {
        bytes
    };
    // Checked here so a wrong-curve key is a key error, not a bad signature.
    if point.len() != curve.point_len() || point.first() != Some(&0x04) {
        return Err(new_error(ErrorKind::InvalidEcdsaKey));
    }
    Ok(point.to_vec())
}

/// 32 raw bytes (what `from_ed_components` gives) or a SubjectPublicKeyInfo.
fn ed25519_public_key(bytes: &[u8]) -> Result<Vec<u8>> {
    let raw = if bytes.len() == sig::ED25519_PUBLIC_KEY_LEN {
        bytes
    } else {
        match parse_spki(bytes) {
            Some((oid, params, raw)) if oid == OID_ED25519 && params.is_empty() => raw,
            _ => return Err(new_error(ErrorKind::InvalidEddsaKey)),
        }
    };
    if raw.len() != sig::ED25519_PUBLIC_KEY_LEN {
        return Err(new_error(ErrorKind::InvalidEddsaKey));
    }
    Ok(raw.to_vec())
}

fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// JWK helpers (`KeyUtils`), so `Jwk::from_encoding_key` and friends work too.

fn rsa_components_from_private_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let pair = rsa_key_pair(der)?;
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((public.n, public.e))
}

/// PKCS#1 `RSAPublicKey` or a SubjectPublicKeyInfo around one, to (n, e)
/// without leading zeros. ring checks the values themselves when verifying.
fn rsa_components_from_public_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let invalid = || new_error(ErrorKind::InvalidRsaKey("not a DER RSA public key".into()));
    let pkcs1 = match parse_spki(der) {
        Some((oid, params, inner)) => {
            // The parameters must be NULL, though some encoders omit them.
            if oid != OID_RSA_ENCRYPTION || !(params.is_empty() || params == [0x05, 0x00]) {
                return Err(invalid());
            }
            inner
        }
        None => der,
    };
    let mut outer = Der(pkcs1);
    let mut seq = Der(outer.read(TAG_SEQUENCE).ok_or_else(invalid)?);
    let n = seq.read(TAG_INTEGER).ok_or_else(invalid)?;
    let e = seq.read(TAG_INTEGER).ok_or_else(invalid)?;
    // Negative integers are not keys; trailing bytes mean this is not the DER we think.
    let negative = |v: &[u8]| v.first().is_none_or(|b| b & 0x80 != 0);
    if !outer.is_empty() || !seq.is_empty() || negative(n) || negative(e) {
        return Err(invalid());
    }
    Ok((
        trim_leading_zeros(n).to_vec(),
        trim_leading_zeros(e).to_vec(),
    ))
}

fn ec_components_from_private_key(
    pkcs8: &[u8],
    alg: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let (signing, curve, coord_len) = match alg {
        Algorithm::ES256 => (
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            EllipticCurve::P256,
            32,
        ),
        Algorithm::ES384 => (
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            EllipticCurve::P384,
            48,
        ),
        _ => return Err(new_error(ErrorKind::InvalidEcdsaKey)),
    };
    let pair = ecdsa_key_pair(signing, pkcs8)?;
    match pair.public_key().as_ref().split_first() {
        Some((0x04, xy)) if xy.len() == 2 * coord_len => {
            let (x, y) = xy.split_at(coord_len);
            Ok((curve, x.to_vec(), y.to_vec()))
        }
        _ => Err(new_error(ErrorKind::InvalidEcdsaKey)),
    }
}

fn ed_components_from_private_key(pkcs8: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>> {
    match curve {
        EllipticCurve::Ed25519 => Ok(ed25519_key_pair(pkcs8)?.public_key().as_ref().to_vec()),
        _ => Err(new_error(ErrorKind::InvalidEddsaKey)),
    }
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(new_error(ErrorKind::UnsupportedAlgorithm)),
    };
    Ok(digest::digest(alg, data).as_ref().to_vec())
}

mod der;
use der::{
    Der, OID_EC_PUBLIC_KEY, OID_ED25519, OID_P256, OID_P384, OID_RSA_ENCRYPTION, TAG_INTEGER,
    TAG_SEQUENCE, is_oid, parse_spki, pkcs8_version,
};
#[cfg(test)]
mod tests;
