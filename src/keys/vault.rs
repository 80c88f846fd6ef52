//! The vault: AES-256-GCM under the server key `client-secret-vault.key`, for client secrets
//! that must be recovered in plaintext.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
            anyhow::bail!("the vault key must be 32 bytes");
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
}
