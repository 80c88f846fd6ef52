//! Argon2id password hashes (OWASP parameters), verified on the blocking pool with bounded
//! concurrency, and a dummy verification for unknown users so timing reveals nothing (L-02).

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Longest password accepted; longer ones are refused before any hashing (R-03, L-07).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// OWASP Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1.
const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// Hashing failed (bad parameters, or the blocking pool went away).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

/// Result of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched a real stored hash.
    pub ok: bool,
    /// The stored hash uses weaker or other parameters: store a fresh Argon2id hash.
    pub needs_rehash: bool,
}

/// Shared hashing service. Each hash holds 19 MiB, so concurrency is bounded.
#[derive(Clone, Debug)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<String>,
}

fn argon2() -> Result<Argon2<'static>, PasswordError> {
    let params =
        Params::new(M_COST, T_COST, P_COST, None).map_err(|e| PasswordError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError(e.to_string()))
}

fn verify_blocking(password: &str, stored: &str, dummy: &str) -> Verified {
    let Ok(argon) = argon2() else {
        return Verified {
            ok: false,
            needs_rehash: false,
        };
    };
    match PasswordHash::new(stored) {
        Ok(parsed) => {
            let ok = argon.verify_password(password.as_bytes(), &parsed).is_ok();
            let needs_rehash = ok && !is_current(&parsed);
            Verified { ok, needs_rehash }
        }
        Err(_) => {
            // Unparsable stored hash: spend the same time as a real check, then fail (L-02).
            if let Ok(parsed) = PasswordHash::new(dummy) {
                let _ = argon.verify_password(password.as_bytes(), &parsed);
            }
            Verified {
                ok: false,
                needs_rehash: false,
            }
        }
    }
}

fn is_current(hash: &PasswordHash<'_>) -> bool {
    let param = |name: &str| hash.params.get_decimal(name);
    hash.algorithm.as_str() == "argon2id"
        && param("m") == Some(M_COST)
        && param("t") == Some(T_COST)
        && param("p") == Some(P_COST)
}

impl Passwords {
    /// A service allowing `max_concurrent` hashes at once.
    pub fn new(max_concurrent: usize) -> Result<Self, PasswordError> {
        let dummy = hash_blocking(&crate::crypto::random_token())?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash: Arc::new(dummy),
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError(e.to_string()))?;
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(|e| PasswordError(e.to_string()))?
    }

    /// Verifies `password` against `stored`; with no stored hash (unknown user, no password set)
    /// it verifies against a dummy hash and fails, taking the same time.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verified, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError(e.to_string()))?;
        let dummy = Arc::clone(&self.dummy_hash);
        tokio::task::spawn_blocking(move || match stored {
            Some(stored) => verify_blocking(&password, &stored, &dummy),
            None => {
                let _ = verify_blocking(&password, &dummy, &dummy);
                Verified {
                    ok: false,
                    needs_rehash: false,
                }
            }
        })
        .await
        .map_err(|e| PasswordError(e.to_string()))
    }
}

/// Hashes synchronously; for the CLI.
pub fn hash_now(password: &str) -> Result<String, PasswordError> {
    hash_blocking(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn l06_hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let pw = Passwords::new(2).expect("service");
        let hash = pw.hash("correct horse".into()).await.expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let ok = pw
            .verify("correct horse".into(), Some(hash.clone()))
            .await
            .expect("verify");
        assert_eq!(
            ok,
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        let bad = pw
            .verify("correct horsE".into(), Some(hash))
            .await
            .expect("verify");
        assert!(!bad.ok);
    }

    #[tokio::test]
    async fn unknown_users_and_garbage_hashes_fail() {
        let pw = Passwords::new(2).expect("service");
        assert!(!pw.verify("x".into(), None).await.expect("verify").ok);
        assert!(
            !pw.verify("x".into(), Some("garbage".into()))
                .await
                .expect("verify")
                .ok
        );
    }

    #[tokio::test]
    async fn weaker_parameters_ask_for_a_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).expect("params"),
        )
        .hash_password(b"pw", &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
        let pw = Passwords::new(1).expect("service");
        assert_eq!(
            pw.verify("pw".into(), Some(weak)).await.expect("verify"),
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
    }
}
