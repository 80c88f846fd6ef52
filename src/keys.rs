//! Signing keys under `keys/`: loaded at start, generated when missing (RS256 2048-bit, ES256,
//! EdDSA), published as a JWKS, plus the HMAC key that hashes client secrets and the vault key
//! that seals them.
//!
//! Files: `<alg>-<unix time>.pem` (PKCS#8, mode 0600). Several keys per algorithm may coexist
//! (rotation); all are published and the newest signs. `kid` is the RFC 7638 thumbprint.
//! `client-secret-hmac.key` and `client-secret-vault.key`: 32 random bytes, base64, mode 0600.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::DecodingKey;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

use crate::crypto::{SecretHasher, sha256};
use crate::jwt::Alg;

const SECRET_KEY_FILE: &str = "client-secret-hmac.key";
const VAULT_KEY_FILE: &str = "client-secret-vault.key";
const RSA_BITS: usize = 2048;

/// A parsed private key. Parsing (with its consistency checks) costs more than signing, so it
/// happens once at load, not per token.
enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One key pair: signs with ring directly, verifies through `jsonwebtoken`.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    pub created: i64,
    signer: Signer,
    pub(crate) decoding: DecodingKey,
    jwk: Value,
}

/// Every key we publish, the active one per algorithm, and the pre-rendered JWKS document.
pub struct KeySet {
    keys: Vec<SigningKey>,
    by_kid: HashMap<String, usize>,
    active: HashMap<Alg, usize>,
    jwks: Vec<u8>,
    secret_hasher: SecretHasher,
    vault: Vault,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| (&k.kid, k.alg)).collect();
        f.debug_struct("KeySet").field("keys", &kids).finish()
    }
}

/// A key the directory holds, as reported by `gatehouse keys init`.
#[derive(Debug, serde::Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: &'static str,
}

impl KeySet {
    /// Loads every key in `dir`, generating the missing algorithms (and the directory) first.
    pub fn load_or_generate(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create keys dir {}", dir.display()))?;
        let mut files = pem_files(dir)?;
        for alg in Alg::ALL {
            if !files.iter().any(|(a, _, _)| *a == alg) {
                let path = dir.join(format!(
                    "{}-{}.pem",
                    alg.as_str().to_lowercase(),
                    crate::clock::now()
                ));
                write_private(&path, pem_encode(&generate(alg)?).as_bytes())?;
                tracing::info!(alg = alg.as_str(), path = %path.display(), "generated signing key");
            }
        }
        files = pem_files(dir)?;
        let mut keys = Vec::new();
        for (alg, created, path) in files {
            let pem = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let der = pem_decode(&pem)
                .with_context(|| format!("{} is not a PKCS#8 PEM file", path.display()))?;
            keys.push(
                SigningKey::from_pkcs8(alg, created, &der)
                    .with_context(|| format!("loading {}", path.display()))?,
            );
        }
        let secret_key = load_or_create_secret(&dir.join(SECRET_KEY_FILE))?;
        let vault = load_vault(dir)?;
        Self::from_keys(keys, SecretHasher::new(&secret_key), vault)
    }

    fn from_keys(
        keys: Vec<SigningKey>,
        secret_hasher: SecretHasher,
        vault: Vault,
    ) -> anyhow::Result<Self> {
        let mut by_kid = HashMap::new();
        let mut active: HashMap<Alg, usize> = HashMap::new();
        for (i, key) in keys.iter().enumerate() {
            by_kid.insert(key.kid.clone(), i);
            let newer = active
                .get(&key.alg)
                .is_none_or(|&j| keys[j].created <= key.created);
            if newer {
                active.insert(key.alg, i);
            }
        }
        for alg in Alg::ALL {
            if !active.contains_key(&alg) {
                bail!("no {} signing key", alg.as_str());
            }
        }
        let jwks = serde_json::to_vec(
            &json!({ "keys": keys.iter().map(|k| &k.jwk).collect::<Vec<_>>() }),
        )?;
        Ok(Self {
            keys,
            by_kid,
            active,
            jwks,
            secret_hasher,
            vault,
        })
    }

    /// The key that signs new tokens of `alg`.
    pub fn active(&self, alg: Alg) -> &SigningKey {
        // from_keys guarantees an active key for every algorithm.
        &self.keys[self.active[&alg]]
    }

    /// A published key by `kid`.
    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.by_kid.get(kid).map(|&i| &self.keys[i])
    }

    /// The JWKS document (public keys only), rendered once.
    pub fn jwks_json(&self) -> &[u8] {
        &self.jwks
    }

    /// The keyed hash used for client secrets.
    pub fn secret_hasher(&self) -> &SecretHasher {
        &self.secret_hasher
    }

    /// The key that seals client secrets (for the dialects keyed from them).
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// `kid` and `alg` of every key.
    pub fn describe(&self) -> Vec<KeyInfo> {
        self.keys
            .iter()
            .map(|k| KeyInfo {
                kid: k.kid.clone(),
                alg: k.alg.as_str(),
            })
            .collect()
    }
}

/// Loads only the client-secret hashing key (the CLI needs nothing else).
pub fn load_secret_hasher(dir: &Path) -> anyhow::Result<SecretHasher> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create keys dir {}", dir.display()))?;
    Ok(SecretHasher::new(&load_or_create_secret(
        &dir.join(SECRET_KEY_FILE),
    )?))
}

/// Loads (or creates) only the vault key (the CLI seals the secrets it creates).
pub fn load_vault(dir: &Path) -> anyhow::Result<Vault> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create keys dir {}", dir.display()))?;
    let path = dir.join(VAULT_KEY_FILE);
    let key = load_or_create_secret(&path)?;
    Vault::new(&key).with_context(|| format!("{} must hold exactly 32 bytes", path.display()))
}

/// AES-256-GCM under a server key, for client secrets that must be recovered in plaintext
/// (seed 001 `signdata`/`sign` are keyed from the application's secret, which is otherwise only
/// stored as a keyed hash). A sealed value is bound to its client id (AAD), so a sealed secret
/// copied onto another client's row does not open.
pub struct Vault {
    key: ring::aead::LessSafeKey,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

/// Domain separation of the vault's AAD.
const VAULT_AAD: &str = "gatehouse client secret v1\0";

impl Vault {
    /// A vault over a 32-byte key.
    pub fn new(key: &[u8]) -> anyhow::Result<Self> {
        if key.len() != 32 {
            bail!("the vault key must be 32 bytes");
        }
        let key = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key)
            .map_err(|_| anyhow::anyhow!("bad vault key"))?;
        Ok(Self {
            key: ring::aead::LessSafeKey::new(key),
        })
    }

    fn aad(client_id: &str) -> ring::aead::Aad<Vec<u8>> {
        ring::aead::Aad::from(format!("{VAULT_AAD}{client_id}").into_bytes())
    }

    /// base64url(nonce(12) ‖ ciphertext ‖ tag) of `secret`, with a fresh random nonce.
    pub fn seal(&self, client_id: &str, secret: &str) -> String {
        let nonce = crate::crypto::random_bytes::<12>();
        let mut buf = secret.as_bytes().to_vec();
        // Sealing only fails for inputs of more than 2^36 bytes.
        if self
            .key
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                Self::aad(client_id),
                &mut buf,
            )
            .is_err()
        {
            buf.clear();
        }
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The secret sealed for `client_id`, or `None` if the value is malformed, was sealed under
    /// another key or for another client.
    pub fn open(&self, client_id: &str, sealed: &str) -> Option<String> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, rest) = raw.split_at(12);
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Self::aad(client_id), &mut buf)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

impl SigningKey {
    fn from_pkcs8(alg: Alg, created: i64, der: &[u8]) -> anyhow::Result<Self> {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let (public, signer, decoding) = match alg {
            Alg::RS256 => {
                let kp =
                    RsaKeyPair::from_pkcs8(der).map_err(|e| anyhow::anyhow!("bad RSA key: {e}"))?;
                if kp.public().modulus_len() * 8 < RSA_BITS {
                    bail!("RSA keys must have at least {RSA_BITS} bits");
                }
                let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(kp.public());
                let (n, e) = (b64(&c.n), b64(&c.e));
                let decoding = DecodingKey::from_rsa_components(&n, &e)?;
                (
                    json!({"kty": "RSA", "n": n, "e": e}),
                    Signer::Rsa(kp),
                    decoding,
                )
            }
            Alg::ES256 => {
                let kp = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &SystemRandom::new(),
                )
                .map_err(|e| anyhow::anyhow!("bad P-256 key: {e}"))?;
                let point = kp.public_key().as_ref(); // 0x04 || x || y
                if point.len() != 65 {
                    bail!("unexpected P-256 public key length");
                }
                let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
                let decoding = DecodingKey::from_ec_components(&x, &y)?;
                (
                    json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
                    Signer::Ec(kp),
                    decoding,
                )
            }
            Alg::EdDSA => {
                let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|e| anyhow::anyhow!("bad Ed25519 key: {e}"))?;
                let x = b64(kp.public_key().as_ref());
                let decoding = DecodingKey::from_ed_components(&x)?;
                (
                    json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
                    Signer::Ed(kp),
                    decoding,
                )
            }
        };
        let kid = thumbprint(&public);
        let mut jwk = public;
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(alg.as_str());
        jwk["use"] = json!("sig");
        Ok(Self {
            kid,
            alg,
            created,
            signer,
            decoding,
            jwk,
        })
    }
}

impl SigningKey {
    /// The JWS signature of `signing_input` (`base64url(header).base64url(payload)`).
    pub(crate) fn sign(&self, signing_input: &[u8]) -> Option<Vec<u8>> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public().modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &rng, signing_input, &mut sig)
                    .ok()?;
                Some(sig)
            }
            Signer::Ec(kp) => kp
                .sign(&rng, signing_input)
                .ok()
                .map(|s| s.as_ref().to_vec()),
            Signer::Ed(kp) => Some(kp.sign(signing_input).as_ref().to_vec()),
        }
    }
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
/// serde_json's default map is a BTreeMap, so `to_string` already sorts the keys.
fn thumbprint(public: &Value) -> String {
    URL_SAFE_NO_PAD.encode(sha256(public.to_string().as_bytes()))
}

fn generate(alg: Alg) -> anyhow::Result<Vec<u8>> {
    let rng = SystemRandom::new();
    Ok(match alg {
        Alg::ES256 => {
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| anyhow::anyhow!("P-256 key generation failed"))?
                .as_ref()
                .to_vec()
        }
        Alg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| anyhow::anyhow!("Ed25519 key generation failed"))?
            .as_ref()
            .to_vec(),
        Alg::RS256 => {
            // ring cannot generate RSA keys; the `rsa` crate (already in the tree via
            // openidconnect) generates, ring signs.
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut RingRng(rng), RSA_BITS)?;
            key.to_pkcs8_der()?.as_bytes().to_vec()
        }
    })
}

/// `rand_core` adapter over ring's CSPRNG, for the `rsa` crate.
struct RingRng(SystemRandom);

impl rsa::rand_core::RngCore for RingRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if self.0.fill(dest).is_err() {
            panic!("the operating system's random number generator failed");
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rsa::rand_core::CryptoRng for RingRng {}

/// `(alg, created, path)` of every `<alg>-<created>.pem` in `dir`.
fn pem_files(dir: &Path) -> anyhow::Result<Vec<(Alg, i64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".pem"))
        else {
            continue;
        };
        let Some((alg, created)) = stem.split_once('-') else {
            continue;
        };
        let alg = Alg::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(alg));
        if let (Some(alg), Ok(created)) = (alg, created.parse::<i64>()) {
            out.push((alg, created, path));
        }
    }
    out.sort_by_key(|(alg, created, _)| (alg.as_str(), *created));
    Ok(out)
}

fn pem_encode(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

fn pem_decode(pem: &str) -> anyhow::Result<Vec<u8>> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")
        .and_then(|rest| rest.trim_end().strip_suffix("-----END PRIVATE KEY-----"))
        .context("expected a -----BEGIN PRIVATE KEY----- block")?;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    Ok(STANDARD.decode(compact)?)
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.exists() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let key = STANDARD
            .decode(text.trim())
            .with_context(|| format!("{} is not base64", path.display()))?;
        if key.len() < 32 {
            bail!("{} must hold at least 32 bytes", path.display());
        }
        return Ok(key);
    }
    let key = crate::crypto::random_bytes::<32>().to_vec();
    write_private(path, format!("{}\n", STANDARD.encode(&key)).as_bytes())?;
    Ok(key)
}

/// Writes a secret file readable by its owner only, refusing to overwrite.
fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(data)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_round_trip_is_bound_to_client_and_key() {
        let vault = Vault::new(&[3u8; 32]).unwrap_or_else(|e| panic!("{e}"));
        let sealed = vault.seal("app-1", "s3cret");
        assert_ne!(
            sealed,
            vault.seal("app-1", "s3cret"),
            "fresh nonce each time"
        );
        assert_eq!(vault.open("app-1", &sealed).as_deref(), Some("s3cret"));
        assert_eq!(vault.open("app-2", &sealed), None);
        let other = Vault::new(&[4u8; 32]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(other.open("app-1", &sealed), None);
        assert_eq!(vault.open("app-1", "garbage"), None);
        assert!(Vault::new(&[0u8; 31]).is_err());
    }

    #[test]
    fn pem_round_trip() {
        let der = vec![1u8, 2, 3, 200, 255, 0, 17];
        assert_eq!(pem_decode(&pem_encode(&der)).unwrap_or_default(), der);
        assert!(pem_decode("garbage").is_err());
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1 example key and its thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let public = json!({"kty": "RSA", "n": n, "e": "AQAB"});
        assert_eq!(
            thumbprint(&public),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
