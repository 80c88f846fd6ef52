//! Unit tests of the signdata format (G-02, G-03, G-04, G-06).

use super::*;

const SECRET: &str = "k3x9V7cQmN2pL8rT5wY1zA4bD6eF0gH_jK-sU3vW9xZ";
const APP: &str = "0190f5a3c2d47b6e8f9a0b1c2d3e4f50";
const NOW: i64 = 1_750_000_000;

fn claims() -> Claims {
    Claims {
        iss: "https://sso.example".into(),
        aud: APP.into(),
        sub: "u-1".into(),
        id: "u-1".into(),
        username: "alice".into(),
        name: "Alice Example".into(),
        tenant: TenantRef {
            id: "default".into(),
            code: "default".into(),
            name: "Default".into(),
        },
        roles: vec![RoleRef {
            id: "r-1".into(),
            code: "dev".into(),
            name: "Developers".into(),
        }],
        scope: Some("device".into()),
        iat: NOW,
        exp: NOW + TTL,
        jti: "j-1".into(),
    }
}

fn sealed(method: SignMethod) -> Sealed {
    seal(SECRET, &claims(), method).unwrap_or_else(|e| panic!("seal: {e}"))
}

#[test]
fn g03_round_trip_carries_every_claim() {
    let s = sealed(SignMethod::HmacSha256);
    assert_eq!(s.sign.len(), 43);
    assert_eq!(
        open(SECRET, APP, &s.signdata, &s.sign, NOW + 1),
        Ok(claims())
    );
    assert_ne!(
        sealed(SignMethod::HmacSha256).signdata,
        s.signdata,
        "fresh nonce"
    );
}

/// Pinned vector: the same one is printed in docs/dialects.md for implementers.
#[test]
fn g02_documented_test_vector() {
    let nonce = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    let s = seal_with_nonce(SECRET, &claims(), nonce, SignMethod::HmacSha256)
        .unwrap_or_else(|e| panic!("{e}"));
    let md5 = md5_sign(SECRET, &s.signdata);
    let printed = format!("signdata={}\nsign={}\nmd5={md5}", s.signdata, s.sign);
    assert_eq!(
        printed,
        include_str!("test_vector.txt").trim_end(),
        "{printed}"
    );
}

#[test]
fn g02_every_bit_flip_is_rejected() {
    let s = sealed(SignMethod::HmacSha256);
    let raw = URL_SAFE_NO_PAD.decode(&s.signdata).unwrap_or_default();
    let keys = derive(SECRET).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..raw.len() * 8 {
        let mut m = raw.clone();
        m[i / 8] ^= 1 << (i % 8);
        let data = URL_SAFE_NO_PAD.encode(&m);
        // Even re-signed with the right key, the AEAD tag catches the change.
        let sign = hmac_sign(&keys, &data);
        assert_eq!(
            open(SECRET, APP, &data, &sign, NOW),
            Err(Error::Undecryptable),
            "bit {i}"
        );
        // Without re-signing, the signature does.
        assert_eq!(
            open(SECRET, APP, &data, &s.sign, NOW),
            Err(Error::BadSignature)
        );
    }
    let mac = URL_SAFE_NO_PAD.decode(&s.sign).unwrap_or_default();
    for i in 0..mac.len() * 8 {
        let mut m = mac.clone();
        m[i / 8] ^= 1 << (i % 8);
        let sign = URL_SAFE_NO_PAD.encode(&m);
        assert_eq!(
            open(SECRET, APP, &s.signdata, &sign, NOW),
            Err(Error::BadSignature),
            "sign bit {i}"
        );
    }
}

#[test]
fn g03_wrong_app_is_refused() {
    let s = sealed(SignMethod::HmacSha256);
    // Another application's secret: the signature fails.
    assert_eq!(
        open("another-secret", APP, &s.signdata, &s.sign, NOW),
        Err(Error::BadSignature)
    );
    // Same secret presented for another client id: the AAD fails.
    assert_eq!(
        open(SECRET, "other-app", &s.signdata, &s.sign, NOW),
        Err(Error::Undecryptable)
    );
    // Claims naming another audience (sealed under this app's AAD) are refused.
    let mut c = claims();
    c.aud = "other-app".into();
    let other = seal(SECRET, &c, SignMethod::HmacSha256).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        open(SECRET, "other-app", &other.signdata, &other.sign, NOW).map(|c| c.aud),
        Ok("other-app".to_owned())
    );
    assert_eq!(
        open(SECRET, APP, &other.signdata, &other.sign, NOW),
        Err(Error::Undecryptable)
    );
}

#[test]
fn g03_freshness() {
    let s = sealed(SignMethod::HmacSha256);
    let open_at = |now| open(SECRET, APP, &s.signdata, &s.sign, now);
    assert!(open_at(NOW + TTL + CLOCK_SKEW).is_ok());
    assert_eq!(open_at(NOW + TTL + CLOCK_SKEW + 1), Err(Error::Expired));
    assert_eq!(open_at(NOW - CLOCK_SKEW - 1), Err(Error::NotYetValid));
    let mut long = claims();
    long.exp = long.iat + TTL + 1;
    let l = seal(SECRET, &long, SignMethod::HmacSha256).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        open(SECRET, APP, &l.signdata, &l.sign, NOW),
        Err(Error::LifetimeTooLong)
    );
    let mut empty = claims();
    empty.jti.clear();
    let e = seal(SECRET, &empty, SignMethod::HmacSha256).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        open(SECRET, APP, &e.signdata, &e.sign, NOW),
        Err(Error::BadClaims)
    );
}

#[test]
fn g02_md5_only_when_asked() {
    let s = sealed(SignMethod::LegacyMd5);
    assert_eq!(s.sign.len(), 32);
    assert_eq!(s.sign, md5_sign(SECRET, &s.signdata));
    assert_eq!(
        open(SECRET, APP, &s.signdata, &s.sign, NOW),
        Err(Error::Md5Refused)
    );
    assert_eq!(
        open_allowing_md5(SECRET, APP, &s.signdata, &s.sign, NOW),
        Ok((claims(), SignMethod::LegacyMd5))
    );
    let h = sealed(SignMethod::HmacSha256);
    assert_eq!(
        open_allowing_md5(SECRET, APP, &h.signdata, &h.sign, NOW),
        Ok((claims(), SignMethod::HmacSha256))
    );
    let mut bad = s.sign.clone().into_bytes();
    bad[0] = if bad[0] == b'0' { b'1' } else { b'0' };
    let bad = String::from_utf8(bad).unwrap_or_default();
    assert_eq!(
        open_allowing_md5(SECRET, APP, &s.signdata, &bad, NOW),
        Err(Error::BadSignature)
    );
    assert_eq!(
        open_allowing_md5("other", APP, &s.signdata, &s.sign, NOW),
        Err(Error::BadSignature)
    );
    // Upper-case hex is not the documented form.
    if s.sign.bytes().any(|b| b.is_ascii_alphabetic()) {
        assert_eq!(
            open_allowing_md5(SECRET, APP, &s.signdata, &s.sign.to_uppercase(), NOW),
            Err(Error::Malformed)
        );
    }
}

#[test]
fn g04_g06_strict_decoding_and_bounds() {
    let s = sealed(SignMethod::HmacSha256);
    let keys = derive(SECRET).unwrap_or_else(|e| panic!("{e}"));
    // Padding or the standard alphabet: refused even when correctly signed.
    for data in [
        format!("{}=", s.signdata),
        s.signdata.replace('-', "+").replace('_', "/"),
    ] {
        if data == s.signdata {
            continue;
        }
        let sign = hmac_sign(&keys, &data);
        assert_eq!(
            open(SECRET, APP, &data, &sign, NOW),
            Err(Error::Malformed),
            "{data}"
        );
    }
    let huge = "A".repeat(MAX_SIGNDATA + 1);
    assert_eq!(
        open(SECRET, APP, &huge, &hmac_sign(&keys, &huge), NOW),
        Err(Error::Malformed)
    );
    for (data, sign) in [
        ("", s.sign.as_str()),
        (s.signdata.as_str(), ""),
        (s.signdata.as_str(), "md5"),
        ("AAAA", "not-a-signature"),
    ] {
        assert!(open(SECRET, APP, data, sign, NOW).is_err());
    }
    // Too short to hold a nonce and a tag, but correctly signed.
    let short = URL_SAFE_NO_PAD.encode([0u8; 20]);
    assert_eq!(
        open(SECRET, APP, &short, &hmac_sign(&keys, &short), NOW),
        Err(Error::Malformed)
    );
}

#[test]
fn g06_arbitrary_input_never_panics() {
    // A small deterministic fuzz pass (the cargo-fuzz target is not set up in this crate).
    let s = sealed(SignMethod::HmacSha256);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 96) as usize;
        let data: String = (0..len)
            .map(|i| (b' ' + ((x >> (i % 56)) as u8 % 95)) as char)
            .collect();
        let cut = (x as usize) % (s.signdata.len() + 1);
        let _ = open(SECRET, APP, &data, &s.sign, NOW);
        let _ = open_allowing_md5(SECRET, APP, &s.signdata[..cut], &data, NOW);
    }
}
