//! Tests of the ring provider: round trips, key formats, rejections, hostile input.

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
    let components = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(&public)).expect("x");
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
        (RING_PROVIDER.verifier_factory)(&Algorithm::RS256, &DecodingKey::from_secret(b"secret"))
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
                (RING_PROVIDER.signer_factory)(&alg, &EncodingKey::from_rsa_der(bytes)).is_err()
            );
            assert!(
                (RING_PROVIDER.verifier_factory)(&alg, &DecodingKey::from_rsa_der(bytes)).is_err()
            );
        }
        for alg in [Algorithm::ES256, Algorithm::ES384] {
            assert!(
                (RING_PROVIDER.signer_factory)(&alg, &EncodingKey::from_ec_der(bytes)).is_err()
            );
            // A well-formed but bogus point is only caught at verification time.
            if let Ok(v) = (RING_PROVIDER.verifier_factory)(&alg, &DecodingKey::from_ec_der(bytes))
            {
                assert!(signature::Verifier::verify(&*v, b"msg", &vec![0; 64]).is_err());
            }
        }
        assert!(
            (RING_PROVIDER.signer_factory)(&Algorithm::EdDSA, &EncodingKey::from_ed_der(bytes))
                .is_err()
        );
        assert!(
            (RING_PROVIDER.verifier_factory)(&Algorithm::EdDSA, &DecodingKey::from_ed_der(bytes))
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
