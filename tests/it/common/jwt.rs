//! JWT inspection and hand-built attack tokens (P-13): `alg:none`, HMAC keyed with public material,
//! a valid signature by a key we made up under a real `kid`, a tampered payload with the original signature.

use serde_json::{Value, json};

use super::{b64url, b64url_decode};

/// Header and payload of a compact JWS (no verification).
pub fn decode(jwt: &str) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWS: {jwt}");
    let header = serde_json::from_slice(&b64url_decode(parts[0])).expect("JWS header is JSON");
    let payload = serde_json::from_slice(&b64url_decode(parts[1])).expect("JWS payload is JSON");
    (header, payload)
}

pub fn is_jws(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| {
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|v| v.is_object())
        })
}

fn encode_part(v: &Value) -> String {
    b64url(serde_json::to_vec(v).expect("serialize").as_slice())
}

/// `{"alg": <alg>}` + the original payload + an empty signature.
pub fn alg_none(jwt: &str, alg: &str) -> String {
    let (mut header, payload) = decode(jwt);
    header["alg"] = json!(alg);
    format!("{}.{}.", encode_part(&header), encode_part(&payload))
}

/// HS256 over the original payload keyed with `key` (e.g. public key material from /jwks).
pub fn hs256_with_key(jwt: &str, key: &[u8]) -> String {
    let (mut header, payload) = decode(jwt);
    header["alg"] = json!("HS256");
    let input = format!("{}.{}", encode_part(&header), encode_part(&payload));
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let sig = ring::hmac::sign(&k, input.as_bytes());
    format!("{input}.{}", b64url(sig.as_ref()))
}

/// A correctly formed ES256 signature by a freshly generated key, under the header's original `kid`
/// (or `kid` when given): the server must check the signature against its own key only.
pub fn es256_foreign_key(jwt: &str, kid: Option<&str>) -> String {
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .expect("generate P-256");
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .expect("P-256 key");
    let (mut header, payload) = decode(jwt);
    header["alg"] = json!("ES256");
    if let Some(k) = kid {
        header["kid"] = json!(k);
    }
    let input = format!("{}.{}", encode_part(&header), encode_part(&payload));
    let sig = key.sign(&rng, input.as_bytes()).expect("sign");
    format!("{input}.{}", b64url(sig.as_ref()))
}

/// Same header and signature, payload changed by `f`.
pub fn tamper(jwt: &str, f: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = jwt.split('.').collect();
    let (_, mut payload) = decode(jwt);
    f(&mut payload);
    format!("{}.{}.{}", parts[0], encode_part(&payload), parts[2])
}

/// The canonical list of forged variants of a genuine token, with a label each.
pub fn forgeries(jwt: &str, jwks: &Value) -> Vec<(String, String)> {
    let mut out = vec![
        ("alg:none".to_string(), alg_none(jwt, "none")),
        ("alg:None".to_string(), alg_none(jwt, "None")),
        ("alg:NONE".to_string(), alg_none(jwt, "NONE")),
        ("alg:none with original signature".to_string(), {
            let none = alg_none(jwt, "none");
            format!("{none}{}", jwt.rsplit('.').next().expect("signature"))
        }),
        (
            "ES256 by a foreign key under the real kid".to_string(),
            es256_foreign_key(jwt, None),
        ),
        (
            "ES256 by a foreign key, unknown kid".to_string(),
            es256_foreign_key(jwt, Some("no-such-kid")),
        ),
        (
            "payload changed, signature kept".to_string(),
            tamper(jwt, |p| p["sub"] = json!("someone-else")),
        ),
        (
            "expired (exp in the past, signature kept)".to_string(),
            tamper(jwt, |p| p["exp"] = json!(1)),
        ),
        ("signature stripped".to_string(), {
            let mut parts: Vec<&str> = jwt.split('.').collect();
            parts[2] = "";
            parts.join(".")
        }),
    ];
    // HS256 keyed with every piece of public key material we publish (RS/HS confusion).
    for k in jwks["keys"].as_array().into_iter().flatten() {
        for field in ["n", "x"] {
            if let Some(v) = k[field].as_str() {
                out.push((
                    format!("HS256 keyed with the published {} `{field}`", k["kty"]),
                    hs256_with_key(jwt, &b64url_decode(v)),
                ));
            }
        }
        out.push((
            format!("HS256 keyed with the {} JWK JSON", k["kty"]),
            hs256_with_key(jwt, k.to_string().as_bytes()),
        ));
    }
    out
}
