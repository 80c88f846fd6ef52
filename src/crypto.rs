//! Small cryptographic helpers over `ring`: random tokens, digests, keyed hashes, comparisons.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};
use subtle::ConstantTimeEq;

/// `n` random bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SystemRandom only fails when the OS has no entropy source; there is nothing sane to do then.
    if SystemRandom::new().fill(&mut buf).is_err() {
        panic!("the operating system's random number generator failed");
    }
    buf
}

/// A 256-bit random token, base64url without padding (43 characters).
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// base64url(SHA-256(data)) — how codes, refresh tokens and API keys are stored.
pub fn sha256_b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, data))
}

/// Raw SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// Keyed hash of a high-entropy secret (client secrets): a leaked table alone cannot be used to
/// check guesses. A password hash is not needed for ≥256-bit generated secrets (ASVS V6.5.2).
#[derive(Clone)]
pub struct SecretHasher {
    key: hmac::Key,
}

impl SecretHasher {
    /// A hasher keyed with `key` (32 random bytes kept in the keys directory).
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// base64url(HMAC-SHA256(key, secret)).
    pub fn hash(&self, secret: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, secret.as_bytes()))
    }

    /// Constant-time check of `secret` against a stored hash.
    pub fn verify(&self, secret: &str, stored: &str) -> bool {
        ct_eq(self.hash(secret).as_bytes(), stored.as_bytes())
    }
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(..)")
    }
}

/// Constant-time equality; lengths are not secret here (all compared values have fixed length).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
    }

    #[test]
    fn keyed_hash_verifies_only_the_right_secret() {
        let h = SecretHasher::new(&[7u8; 32]);
        let stored = h.hash("s3cret");
        assert!(h.verify("s3cret", &stored));
        assert!(!h.verify("s3creT", &stored));
        assert!(!SecretHasher::new(&[8u8; 32]).verify("s3cret", &stored));
    }
}
