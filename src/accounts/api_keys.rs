//! API keys: `ghk_` + 256 random bits (base64url). The key is shown once; the store keeps its
//! SHA-256 and the first 12 characters as a recognisable prefix.

use crate::crypto::{random_token, sha256_b64};

/// A freshly generated key.
pub struct GeneratedKey {
    /// The key itself: give it to the user, then forget it.
    pub key: String,
    pub prefix: String,
    pub hash: String,
}

/// Makes a new key.
pub fn generate() -> GeneratedKey {
    let key = format!("ghk_{}", random_token());
    let prefix = key.chars().take(12).collect();
    let hash = sha256_b64(key.as_bytes());
    GeneratedKey { key, prefix, hash }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with("ghk_") && a.key.len() >= 4 + 43);
        assert!(a.key.starts_with(&a.prefix));
        assert_eq!(a.hash, sha256_b64(a.key.as_bytes()));
    }
}
