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

// ---------------------------------------------------------------------------
// Just enough DER to unwrap public keys; ring has no public API for that.

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// 1.2.840.113549.1.1.1
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.2.840.10045.2.1
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7 (prime256v1)
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// 1.3.132.0.34 (secp384r1)
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// 1.3.101.112
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A cursor over DER bytes. Every read is bounds-checked and returns `None`
/// on anything unexpected, so hostile input cannot panic it.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// Reads one element with the given tag and returns its contents.
    fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (&found, rest) = self.0.split_first()?;
        if found != tag {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            // Long form; two length bytes (64 KiB) cover any key we accept.
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 2 {
                return None;
            }
            let (len_bytes, rest) = rest.split_at_checked(count)?;
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            // DER demands the shortest length encoding.
            if len < 0x80 || (count == 2 && len < 0x100) {
                return None;
            }
            (len, rest)
        };
        let (contents, rest) = rest.split_at_checked(len)?;
        self.0 = rest;
        Some(contents)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits a SubjectPublicKeyInfo into (algorithm OID, raw parameters, key bytes).
fn parse_spki(der: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let mut outer = Der(der);
    let mut spki = Der(outer.read(TAG_SEQUENCE)?);
    let mut alg_id = Der(spki.read(TAG_SEQUENCE)?);
    let oid = alg_id.read(TAG_OID)?;
    let params = alg_id.0;
    let bits = spki.read(TAG_BIT_STRING)?;
    if !outer.is_empty() || !spki.is_empty() {
        return None;
    }
    // Keys are whole bytes: the "unused bits" prefix must be zero.
    match bits.split_first() {
        Some((0, key)) => Some((oid, params, key)),
        _ => None,
    }
}

/// Whether `params` is exactly one OID element equal to `oid`.
fn is_oid(params: &[u8], oid: &[u8]) -> bool {
    let mut der = Der(params);
    der.read(TAG_OID) == Some(oid) && der.is_empty()
}

/// The version field of a PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey`.
fn pkcs8_version(der: &[u8]) -> Option<u8> {
    let mut seq = Der(Der(der).read(TAG_SEQUENCE)?);
    match seq.read(TAG_INTEGER)? {
        [v] => Some(*v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{Header, Validation, decode, encode, get_current_timestamp};
    use ring::rand::SecureRandom;
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
    use serde::{Deserialize, Serialize};
    use std::sync::OnceLock;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    fn claims(sub: &str) -> Claims {
        Claims {
            sub: sub.to_owned(),
            exp: get_current_timestamp() + 600,
        }
    }

    fn sign(alg: Algorithm, key: &EncodingKey) -> String {
        install();
        encode(&Header::new(alg), &claims("alice"), key).expect("encode")
    }

    fn check(token: &str, alg: Algorithm, key: &DecodingKey) -> Result<Claims> {
        install();
        decode::<Claims>(token, key, &Validation::new(alg)).map(|data| data.claims)
    }

    fn assert_round_trip(alg: Algorithm, enc: &EncodingKey, dec: &DecodingKey) {
        let token = sign(alg, enc);
        let got = check(&token, alg, dec).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(got.sub, "alice");
    }

    fn assert_invalid_signature(result: Result<Claims>) {
        match result {
            Err(e) => assert_eq!(e.kind(), &ErrorKind::InvalidSignature, "{e}"),
            Ok(c) => panic!("accepted forged token: {c:?}"),
        }
    }

    /// Replaces the claims segment, keeping header and signature.
    fn tamper(token: &str) -> String {
        let parts: Vec<&str> = token.split('.').collect();
        let forged =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("mallory")).expect("claims json"));
        format!("{}.{}.{}", parts[0], forged, parts[2])
    }

    /// Feeds ring's RNG to the `rsa` crate, so tests need no extra dependency.
    struct RingRng(SystemRandom);

    impl rsa::rand_core::RngCore for RingRng {
        fn next_u32(&mut self) -> u32 {
            rsa::rand_core::impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            rsa::rand_core::impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            self.0.fill(dest).expect("system RNG");
        }
        fn try_fill_bytes(
            &mut self,
            dest: &mut [u8],
        ) -> std::result::Result<(), rsa::rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rsa::rand_core::CryptoRng for RingRng {}

    struct RsaKeys {
        private: rsa::RsaPrivateKey,
        pkcs8: Vec<u8>,
        pkcs1: Vec<u8>,
    }

    fn rsa_keys() -> &'static [RsaKeys; 2] {
        static KEYS: OnceLock<[RsaKeys; 2]> = OnceLock::new();
        KEYS.get_or_init(|| {
            let make = || {
                let private = rsa::RsaPrivateKey::new(&mut RingRng(SystemRandom::new()), 2048)
                    .expect("rsa keygen");
                let pkcs8 = private.to_pkcs8_der().expect("pkcs8").as_bytes().to_vec();
                let pkcs1 = private.to_pkcs1_der().expect("pkcs1").as_bytes().to_vec();
                RsaKeys {
                    private,
                    pkcs8,
                    pkcs1,
                }
            };
            [make(), make()]
        })
    }

    fn rsa_pkcs1_public(keys: &RsaKeys) -> DecodingKey {
        let der = keys
            .private
            .to_public_key()
            .to_pkcs1_der()
            .expect("pkcs1 public");
        DecodingKey::from_rsa_der(der.as_bytes())
    }

    fn ec_pkcs8(alg: &'static EcdsaSigningAlgorithm) -> Vec<u8> {
        EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new())
            .expect("ec keygen")
            .as_ref()
            .to_vec()
    }

    fn ec_public(alg: &'static EcdsaSigningAlgorithm, pkcs8: &[u8]) -> Vec<u8> {
        ecdsa_key_pair(alg, pkcs8)
            .expect("ec parse")
            .public_key()
            .as_ref()
            .to_vec()
    }

    fn ed_pkcs8() -> Vec<u8> {
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .expect("ed keygen")
            .as_ref()
            .to_vec()
    }

    fn ed_public(pkcs8: &[u8]) -> Vec<u8> {
        ed25519_key_pair(pkcs8)
            .expect("ed parse")
            .public_key()
            .as_ref()
            .to_vec()
    }

    const RSA_ALGS: [Algorithm; 6] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ];

    #[test]
    fn install_is_idempotent() {
        install();
        install();
        assert!(RING_PROVIDER.install_default().is_err());
    }

    #[test]
    fn hmac_round_trip_wrong_secret_and_tamper() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let secret = b"a sufficiently long shared secret for tests";
            let token = sign(alg, &EncodingKey::from_secret(secret));
            assert!(
                check(&token, alg, &DecodingKey::from_secret(secret)).is_ok(),
                "{alg:?}"
            );
            assert_invalid_signature(check(
                &token,
                alg,
                &DecodingKey::from_secret(b"other secret"),
            ));
            assert_invalid_signature(check(
                &tamper(&token),
                alg,
                &DecodingKey::from_secret(secret),
            ));
        }
    }

    #[test]
    fn hs256_wrong_secret_fails() {
        let token = sign(Algorithm::HS256, &EncodingKey::from_secret(b"right"));
        assert_invalid_signature(check(
            &token,
            Algorithm::HS256,
            &DecodingKey::from_secret(b"wrong"),
        ));
    }

    #[test]
    fn empty_hmac_secret_is_refused() {
        install();
        let err = encode(
            &Header::new(Algorithm::HS256),
            &claims("a"),
            &EncodingKey::from_secret(b""),
        );
        assert!(err.is_err());
        let token = sign(Algorithm::HS256, &EncodingKey::from_secret(b"k"));
        assert!(check(&token, Algorithm::HS256, &DecodingKey::from_secret(b"")).is_err());
    }

    #[test]
    fn ecdsa_round_trip_wrong_key_and_tamper() {
        let cases = [
            (Algorithm::ES256, &sig::ECDSA_P256_SHA256_FIXED_SIGNING),
            (Algorithm::ES384, &sig::ECDSA_P384_SHA384_FIXED_SIGNING),
        ];
        for (alg, signing) in cases {
            let pkcs8 = ec_pkcs8(signing);
            let public = DecodingKey::from_ec_der(&ec_public(signing, &pkcs8));
            let token = sign(alg, &EncodingKey::from_ec_der(&pkcs8));
            // Fixed-width r || s, as JWS requires, not ASN.1.
            let sig_len = URL_SAFE_NO_PAD
                .decode(token.rsplit('.').next().expect("sig"))
                .expect("b64")
                .len();
            assert_eq!(sig_len, if alg == Algorithm::ES256 { 64 } else { 96 });
            assert!(check(&token, alg, &public).is_ok(), "{alg:?}");
            let other = DecodingKey::from_ec_der(&ec_public(signing, &ec_pkcs8(signing)));
            assert_invalid_signature(check(&token, alg, &other));
            assert_invalid_signature(check(&tamper(&token), alg, &public));
        }
    }

    #[test]
    fn es256_from_ec_components_and_spki() {
        let signing = &sig::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = ec_pkcs8(signing);
        let point = ec_public(signing, &pkcs8);
        let (x, y) = point[1..].split_at(32);
        let dec =
            DecodingKey::from_ec_components(&URL_SAFE_NO_PAD.encode(x), &URL_SAFE_NO_PAD.encode(y))
                .expect("components");
        assert_round_trip(Algorithm::ES256, &EncodingKey::from_ec_der(&pkcs8), &dec);

        // SubjectPublicKeyInfo prefix for a P-256 key (RFC 5480).
        let mut spki = hex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
        spki.extend_from_slice(&point);
        assert_round_trip(
            Algorithm::ES256,
            &EncodingKey::from_ec_der(&pkcs8),
            &DecodingKey::from_ec_der(&spki),
        );
    }

    #[test]
    fn ec_key_of_the_wrong_curve_is_an_error() {
        install();
        let p384 = ec_pkcs8(&sig::ECDSA_P384_SHA384_FIXED_SIGNING);
        let err = encode(
            &Header::new(Algorithm::ES256),
            &claims("a"),
            &EncodingKey::from_ec_der(&p384),
        )
        .expect_err("P-384 key used for ES256");
        assert_eq!(err.kind(), &ErrorKind::InvalidEcdsaKey);

        let p256 = ec_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING);
        let token = sign(Algorithm::ES256, &EncodingKey::from_ec_der(&p256));
        let p384_public =
            DecodingKey::from_ec_der(&ec_public(&sig::ECDSA_P384_SHA384_FIXED_SIGNING, &p384));
        let err = check(&token, Algorithm::ES256, &p384_public).expect_err("wrong curve");
        assert_eq!(err.kind(), &ErrorKind::InvalidEcdsaKey);
    }

    #[test]
    fn eddsa_round_trip_wrong_key_and_tamper() {
        let pkcs8 = ed_pkcs8();
        let public = ed_public(&pkcs8);
        let enc = EncodingKey::from_ed_der(&pkcs8);
        assert_round_trip(Algorithm::EdDSA, &enc, &DecodingKey::from_ed_der(&public));
        let components =
            DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(&public)).expect("x");
        assert_round_trip(Algorithm::EdDSA, &enc, &components);
        let mut spki = hex("302a300506032b6570032100");
        spki.extend_from_slice(&public);
        assert_round_trip(Algorithm::EdDSA, &enc, &DecodingKey::from_ed_der(&spki));

        let token = sign(Algorithm::EdDSA, &enc);
        let other = DecodingKey::from_ed_der(&ed_public(&ed_pkcs8()));
        assert_invalid_signature(check(&token, Algorithm::EdDSA, &other));
        assert_invalid_signature(check(
            &tamper(&token),
            Algorithm::EdDSA,
            &DecodingKey::from_ed_der(&public),
        ));
    }

    #[test]
    fn eddsa_accepts_pkcs8_v1() {
        let v2 = ed_pkcs8();
        // ring's v2 layout: 16-byte header, 32-byte seed, then the public key.
        let mut v1 = hex("302e020100300506032b657004220420");
        v1.extend_from_slice(&v2[16..48]);
        assert_eq!(pkcs8_version(&v1), Some(0));
        assert_eq!(pkcs8_version(&v2), Some(1));
        let public = DecodingKey::from_ed_der(&ed_public(&v2));
        assert_round_trip(Algorithm::EdDSA, &EncodingKey::from_ed_der(&v1), &public);
    }

    #[test]
    fn eddsa_v2_with_mismatched_public_key_is_rejected() {
        let mut v2 = ed_pkcs8();
        let last = v2.len() - 1;
        v2[last] ^= 1;
        assert!(ed25519_key_pair(&v2).is_err());
    }

    #[test]
    fn rsa_round_trip_all_algorithms_and_key_formats() {
        let [keys, _] = rsa_keys();
        let public = rsa_pkcs1_public(keys);
        let spki = keys
            .private
            .to_public_key()
            .to_public_key_der()
            .expect("spki");
        let spki = DecodingKey::from_rsa_der(spki.as_bytes());
        for alg in RSA_ALGS {
            assert_round_trip(alg, &EncodingKey::from_rsa_der(&keys.pkcs8), &public);
            assert_round_trip(alg, &EncodingKey::from_rsa_der(&keys.pkcs1), &public);
            assert_round_trip(alg, &EncodingKey::from_rsa_der(&keys.pkcs8), &spki);
        }
    }

    #[test]
    fn rsa_wrong_key_and_tamper_fail() {
        let [keys, other] = rsa_keys();
        let public = rsa_pkcs1_public(keys);
        let other_public = rsa_pkcs1_public(other);
        for alg in RSA_ALGS {
            let token = sign(alg, &EncodingKey::from_rsa_der(&keys.pkcs8));
            assert_invalid_signature(check(&token, alg, &other_public));
            assert_invalid_signature(check(&tamper(&token), alg, &public));
        }
    }

    #[test]
    fn rs256_verifies_with_components_from_ring() {
        let [keys, _] = rsa_keys();
        let pair = RsaKeyPair::from_pkcs8(&keys.pkcs8).expect("ring parses rsa pkcs8");
        let parts = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
        let dec = DecodingKey::from_rsa_components(
            &URL_SAFE_NO_PAD.encode(&parts.n),
            &URL_SAFE_NO_PAD.encode(&parts.e),
        )
        .expect("components");
        assert_round_trip(
            Algorithm::RS256,
            &EncodingKey::from_rsa_der(&keys.pkcs8),
            &dec,
        );

        // A JWK that pads n with a zero byte still works.
        let mut padded = vec![0];
        padded.extend_from_slice(&parts.n);
        let dec = DecodingKey::from_rsa_raw_components(&padded, &parts.e);
        assert_round_trip(
            Algorithm::PS256,
            &EncodingKey::from_rsa_der(&keys.pkcs1),
            &dec,
        );
    }

    #[test]
    fn jwk_helpers_use_ring() {
        install();
        let [keys, _] = rsa_keys();
        let enc = EncodingKey::from_rsa_der(&keys.pkcs8);
        let jwk = Jwk::from_encoding_key(&enc, Algorithm::RS256).expect("rsa jwk");
        assert_round_trip(
            Algorithm::RS256,
            &enc,
            &DecodingKey::from_jwk(&jwk).expect("from jwk"),
        );
        let from_public =
            Jwk::from_decoding_key(&rsa_pkcs1_public(keys), Some(Algorithm::RS256)).expect("jwk");
        assert_eq!(jwk.algorithm, from_public.algorithm);
        assert_eq!(
            jwk.thumbprint(ThumbprintHash::SHA256),
            from_public.thumbprint(ThumbprintHash::SHA256)
        );

        let pkcs8 = ec_pkcs8(&sig::ECDSA_P384_SHA384_FIXED_SIGNING);
        let enc = EncodingKey::from_ec_der(&pkcs8);
        let jwk = Jwk::from_encoding_key(&enc, Algorithm::ES384).expect("ec jwk");
        assert_round_trip(
            Algorithm::ES384,
            &enc,
            &DecodingKey::from_jwk(&jwk).expect("from jwk"),
        );

        let jwk =
            Jwk::from_encoding_key(&EncodingKey::from_secret(b"k"), Algorithm::HS256).expect("oct");
        assert_round_trip(
            Algorithm::HS256,
            &EncodingKey::from_secret(b"k"),
            &DecodingKey::from_jwk(&jwk).expect("oct"),
        );
    }

    #[test]
    fn keys_of_another_family_are_refused() {
        install();
        let [keys, _] = rsa_keys();
        let public_der = keys.private.to_public_key().to_pkcs1_der().expect("der");
        // An RSA public key must not double as an HMAC secret.
        assert!(
            (RING_PROVIDER.verifier_factory)(
                &Algorithm::HS256,
                &DecodingKey::from_rsa_der(public_der.as_bytes())
            )
            .is_err()
        );
        assert!(
            (RING_PROVIDER.verifier_factory)(
                &Algorithm::RS256,
                &DecodingKey::from_secret(b"secret")
            )
            .is_err()
        );
        assert!(
            (RING_PROVIDER.signer_factory)(&Algorithm::RS256, &EncodingKey::from_secret(b"secret"))
                .is_err()
        );
        assert!(
            (RING_PROVIDER.signer_factory)(
                &Algorithm::EdDSA,
                &EncodingKey::from_ec_der(&ec_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING))
            )
            .is_err()
        );
    }

    #[test]
    fn garbage_keys_are_errors_not_panics() {
        install();
        let junk: [&[u8]; 6] = [
            b"",
            b"\x30",
            b"\x30\x82\xff\xff",
            b"\x30\x80\x00\x00",
            b"not a key at all",
            &[0x04; 65],
        ];
        for bytes in junk {
            for alg in RSA_ALGS {
                assert!(
                    (RING_PROVIDER.signer_factory)(&alg, &EncodingKey::from_rsa_der(bytes))
                        .is_err()
                );
                assert!(
                    (RING_PROVIDER.verifier_factory)(&alg, &DecodingKey::from_rsa_der(bytes))
                        .is_err()
                );
            }
            for alg in [Algorithm::ES256, Algorithm::ES384] {
                assert!(
                    (RING_PROVIDER.signer_factory)(&alg, &EncodingKey::from_ec_der(bytes)).is_err()
                );
                // A well-formed but bogus point is only caught at verification time.
                if let Ok(v) =
                    (RING_PROVIDER.verifier_factory)(&alg, &DecodingKey::from_ec_der(bytes))
                {
                    assert!(signature::Verifier::verify(&*v, b"msg", &vec![0; 64]).is_err());
                }
            }
            assert!(
                (RING_PROVIDER.signer_factory)(&Algorithm::EdDSA, &EncodingKey::from_ed_der(bytes))
                    .is_err()
            );
            assert!(
                (RING_PROVIDER.verifier_factory)(
                    &Algorithm::EdDSA,
                    &DecodingKey::from_ed_der(bytes)
                )
                .is_err()
            );
        }
        // Every truncation of a real SPKI is rejected without panicking.
        let spki = rsa_keys()[0]
            .private
            .to_public_key()
            .to_public_key_der()
            .expect("spki");
        let spki = spki.as_bytes();
        for len in 0..spki.len() {
            assert!(rsa_components_from_public_key(&spki[..len]).is_err());
        }
        assert!(rsa_components_from_public_key(spki).is_ok());
        // A too-small modulus parses but ring refuses it.
        let small = DecodingKey::from_rsa_raw_components(&[0xc5; 128], &[1, 0, 1]);
        let v = (RING_PROVIDER.verifier_factory)(&Algorithm::RS256, &small).expect("parsed");
        assert!(signature::Verifier::verify(&*v, b"msg", &vec![0; 128]).is_err());
    }

    #[test]
    fn garbage_signatures_are_rejected() {
        install();
        let pkcs8 = ed_pkcs8();
        let v = (RING_PROVIDER.verifier_factory)(
            &Algorithm::EdDSA,
            &DecodingKey::from_ed_der(&ed_public(&pkcs8)),
        )
        .expect("verifier");
        for sig_bytes in [vec![], vec![0; 63], vec![0xff; 64], vec![0; 1000]] {
            assert!(signature::Verifier::verify(&*v, b"msg", &sig_bytes).is_err());
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }
}
