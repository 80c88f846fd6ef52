//! Signing keys under `keys/`: loaded at start, generated when missing (RS256 2048-bit, ES256,
//! EdDSA), published as a JWKS, followed while the server runs (rotation), plus the HMAC key that
//! hashes client secrets and the vault key that seals them.
//!
//! Files: `<alg>-<signs from>.pem` (PKCS#8, mode 0600), where the number is the unix time from
//! which the key signs (keys generated at first start sign from their creation). Several keys
//! per algorithm coexist; [`schedule`] says which one signs and which are only published.
//! `kid` is the RFC 7638 thumbprint. `client-secret-hmac.key` and `client-secret-vault.key`:
//! 32 random bytes, base64, mode 0600. Every instance of a deployment shares the directory.
//!
//! Modules: `files` (names, PEM, atomic writes), [`schedule`] (pure state machine), `watch`
//! (the swappable [`KeyRing`] and the [`KeyWatcher`] that rescans the directory), `manage`
//! (rotate, prune, list for the CLI), `vault`.

mod files;
mod manage;
pub mod schedule;
mod vault;
mod watch;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

use crate::crypto::{SecretHasher, sha256};
use crate::jwt::Alg;

pub use files::KeyFile;
pub use manage::{Inventory, Rotated, inventory, prune, rotate};
pub use schedule::{KeyState, Slot};
pub use vault::Vault;
pub use watch::{KeyRing, KeyWatcher};

use files::RSA_BITS;

const SECRET_KEY_FILE: &str = "client-secret-hmac.key";
const VAULT_KEY_FILE: &str = "client-secret-vault.key";

/// A parsed private key. Parsing (with its consistency checks) costs more than signing, so it
/// happens once per file, not per token.
enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One key pair: signs with ring directly, verifies through `jsonwebtoken`.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    /// Unix time from which the key signs (the number in its file name).
    pub signs_from: i64,
    signer: Signer,
    pub(crate) decoding: DecodingKey,
    jwk: Value,
}

/// A published key, its state and its file.
struct Published {
    key: Arc<SigningKey>,
    slot: Slot,
    file: String,
}

/// The published keys at one instant (next, active and retiring ones), the active one per
/// algorithm, and the JWKS document rendered once. Immutable: a change of the directory or of
/// the time-based states yields a new `KeySet`, swapped into the [`KeyRing`].
pub struct KeySet {
    keys: Vec<Published>,
    by_kid: HashMap<String, usize>,
    active: HashMap<Alg, usize>,
    jwks: Vec<u8>,
    secret_hasher: Arc<SecretHasher>,
    vault: Arc<Vault>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self
            .keys
            .iter()
            .map(|p| (&p.key.kid, p.key.alg, p.slot.state))
            .collect();
        f.debug_struct("KeySet").field("keys", &kids).finish()
    }
}

/// A key as `gatehouse keys init|list|rotate` report it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: &'static str,
    /// Unix time from which the key signs.
    pub signs_from: i64,
    pub state: KeyState,
    /// Superseded keys: when they stop (or stopped) being published and accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retires_at: Option<i64>,
    /// File name in the keys directory.
    pub file: String,
}

impl KeySet {
    /// Loads every key in `dir`, generating the missing algorithms (and the directory) first;
    /// states are those at `now` with the given retention window (see [`schedule`]).
    pub fn load_or_generate(dir: &Path, now: i64, retention: i64) -> anyhow::Result<Self> {
        KeyWatcher::open(dir, retention, now).map(|(_, set)| set)
    }

    /// The set of the published `keys` (retired ones are dropped), given in file order.
    fn assemble(
        keys: Vec<(Arc<SigningKey>, Slot, String)>,
        secret_hasher: Arc<SecretHasher>,
        vault: Arc<Vault>,
    ) -> anyhow::Result<Self> {
        let mut published = Vec::new();
        let mut by_kid = HashMap::new();
        let mut active = HashMap::new();
        let mut jwks = Vec::new();
        for (key, slot, file) in keys {
            if !slot.state.published() {
                continue;
            }
            let i = published.len();
            if slot.state == KeyState::Active {
                active.insert(key.alg, i);
            }
            // The same key under two names (a copied file) is published once.
            if !by_kid.contains_key(&key.kid) {
                by_kid.insert(key.kid.clone(), i);
                jwks.push(key.jwk.clone());
            }
            published.push(Published { key, slot, file });
        }
        for alg in Alg::ALL {
            if !active.contains_key(&alg) {
                bail!("no {} signing key", alg.as_str());
            }
        }
        let jwks = serde_json::to_vec(&json!({ "keys": jwks }))?;
        Ok(Self {
            keys: published,
            by_kid,
            active,
            jwks,
            secret_hasher,
            vault,
        })
    }

    /// The key that signs new tokens of `alg`.
    pub fn active(&self, alg: Alg) -> &SigningKey {
        // assemble guarantees an active key for every algorithm.
        &self.keys[self.active[&alg]].key
    }

    /// A published key by `kid` (next, active or retiring).
    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.by_kid.get(kid).map(|&i| &*self.keys[i].key)
    }

    /// Whether `kid` is published.
    pub fn contains(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// The `kid` of every published key.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.by_kid.keys().map(String::as_str)
    }

    /// The JWKS document (public keys only), rendered once per set.
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

    /// Every published key with its state.
    pub fn describe(&self) -> Vec<KeyInfo> {
        self.keys
            .iter()
            .map(|p| KeyInfo::new(&p.key, p.slot, &p.file))
            .collect()
    }
}

impl KeyInfo {
    fn new(key: &SigningKey, slot: Slot, file: &str) -> Self {
        Self {
            kid: key.kid.clone(),
            alg: key.alg.as_str(),
            signs_from: key.signs_from,
            state: slot.state,
            retires_at: slot.retires_at,
            file: file.to_owned(),
        }
    }
}

/// Loads only the client-secret hashing key (the CLI needs nothing else).
pub fn load_secret_hasher(dir: &Path) -> anyhow::Result<SecretHasher> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create keys dir {}", dir.display()))?;
    Ok(SecretHasher::new(&files::load_or_create_secret(
        &dir.join(SECRET_KEY_FILE),
    )?))
}

/// Loads (or creates) only the vault key (the CLI seals the secrets it creates).
pub fn load_vault(dir: &Path) -> anyhow::Result<Vault> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create keys dir {}", dir.display()))?;
    let path = dir.join(VAULT_KEY_FILE);
    let key = files::load_or_create_secret(&path)?;
    Vault::new(&key).with_context(|| format!("{} must hold exactly 32 bytes", path.display()))
}

/// Generates a key for every algorithm without any file, signing from `now`.
fn generate_missing(dir: &Path, now: i64) -> anyhow::Result<()> {
    let present = files::key_files(dir).with_context(|| format!("reading {}", dir.display()))?;
    for alg in Alg::ALL {
        if !present.iter().any(|f| f.alg == alg) {
            let file = files::write_key(dir, alg, now, &files::generate(alg)?)?;
            tracing::info!(alg = alg.as_str(), file = %file.name, "generated signing key");
        }
    }
    Ok(())
}

impl SigningKey {
    /// Reads and parses the key in `file`.
    fn read(dir: &Path, file: &KeyFile) -> anyhow::Result<Self> {
        let path = files::path_of(dir, file);
        let der = files::read_pkcs8(&path)?;
        Self::from_pkcs8(file.alg, file.signs_from, &der)
            .with_context(|| format!("loading {}", path.display()))
    }
}

impl SigningKey {
    pub(crate) fn from_pkcs8(alg: Alg, signs_from: i64, der: &[u8]) -> anyhow::Result<Self> {
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
            signs_from,
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

#[cfg(test)]
mod tests {
    use super::*;

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
