//! Argon2id password hashes (OWASP parameters), verified on the blocking pool with bounded
//! concurrency, and a dummy verification for unknown users so timing reveals nothing (L-02).
//!
//! Imported hashes are verified as they are: bcrypt (`$2a$`, `$2b$`, `$2y$`) and Argon2 PHC
//! strings (`$argon2id$`, `$argon2i$`) with other parameters. After a successful login such a
//! hash reports `needs_rehash`, and the caller stores a fresh Argon2id hash of the password.
//! Foreign parameters are bounded ([`check_importable`]) so an imported hash cannot make a
//! login allocate gigabytes or run for minutes.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Longest password accepted; longer ones are refused before any hashing (R-03, L-07).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Shortest password a person may choose, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Why a new password and its repetition (from a form) are not acceptable, as the message to
/// show; `None` when they are.
pub fn new_password_problem(new: &str, repeated: &str) -> Option<&'static str> {
    if new.chars().count() < MIN_PASSWORD_CHARS {
        Some("The new password must have at least 8 characters.")
    } else if new.len() > MAX_PASSWORD_BYTES {
        Some("The new password is too long.")
    } else if new != repeated {
        Some("The two passwords do not match.")
    } else {
        None
    }
}

/// OWASP Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1.
const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// Largest Argon2 memory cost (KiB) of an imported hash: 256 MiB.
const MAX_FOREIGN_M_COST: u32 = 256 * 1024;
/// Largest Argon2 time cost of an imported hash.
const MAX_FOREIGN_T_COST: u32 = 16;
/// Largest Argon2 parallelism of an imported hash.
const MAX_FOREIGN_P_COST: u32 = 16;
/// bcrypt costs accepted (2^cost rounds): 4 is the format's minimum, 16 takes seconds.
const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=16;

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

/// What a stored hash is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// Argon2id with our parameters: nothing to do.
    Current,
    /// Argon2id or Argon2i with other (bounded) parameters.
    Argon2Other,
    /// bcrypt `$2a$`, `$2b$` or `$2y$` (bounded cost).
    Bcrypt,
}

/// Why a hash cannot be stored or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnsupportedHash(&'static str);

/// Classifies a stored or imported hash: bcrypt `$2a$`/`$2b$`/`$2y$` with a cost in 4..=16, or an
/// Argon2id/Argon2i PHC string with m ≤ 256 MiB, t ≤ 16, p ≤ 16. Anything else (plain text, MD5,
/// `$2x$`, Argon2d, absurd parameters) is refused.
pub fn check_importable(hash: &str) -> Result<HashKind, UnsupportedHash> {
    if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        let parts: bcrypt::HashParts = hash
            .parse()
            .map_err(|_| UnsupportedHash("malformed bcrypt hash"))?;
        if !BCRYPT_COSTS.contains(&parts.get_cost()) {
            return Err(UnsupportedHash("bcrypt cost must be between 4 and 16"));
        }
        return Ok(HashKind::Bcrypt);
    }
    if hash.starts_with("$argon2id$") || hash.starts_with("$argon2i$") {
        let parsed =
            PasswordHash::new(hash).map_err(|_| UnsupportedHash("malformed Argon2 PHC string"))?;
        if parsed.hash.is_none() || parsed.salt.is_none() {
            return Err(UnsupportedHash("the Argon2 PHC string has no salt or hash"));
        }
        let params =
            Params::try_from(&parsed).map_err(|_| UnsupportedHash("invalid Argon2 parameters"))?;
        if params.m_cost() > MAX_FOREIGN_M_COST
            || params.t_cost() > MAX_FOREIGN_T_COST
            || params.p_cost() > MAX_FOREIGN_P_COST
        {
            return Err(UnsupportedHash(
                "Argon2 parameters too large (m ≤ 262144, t ≤ 16, p ≤ 16)",
            ));
        }
        return Ok(if is_current(&parsed) {
            HashKind::Current
        } else {
            HashKind::Argon2Other
        });
    }
    Err(UnsupportedHash(
        "only bcrypt ($2a$, $2b$, $2y$) and Argon2 PHC ($argon2id$, $argon2i$) hashes are accepted",
    ))
}

const FAILED: Verified = Verified {
    ok: false,
    needs_rehash: false,
};

/// Runs the dummy Argon2id verification: the cost of a real check, always failing.
fn dummy_verify(argon: &Argon2<'_>, password: &str, dummy: &str) {
    if let Ok(parsed) = PasswordHash::new(dummy) {
        let _ = argon.verify_password(password.as_bytes(), &parsed);
    }
}

fn verify_blocking(password: &str, stored: &str, dummy: &str) -> Verified {
    let Ok(argon) = argon2() else {
        return FAILED;
    };
    match check_importable(stored) {
        Ok(HashKind::Current) => match PasswordHash::new(stored) {
            Ok(parsed) => Verified {
                ok: argon.verify_password(password.as_bytes(), &parsed).is_ok(),
                needs_rehash: false,
            },
            Err(_) => FAILED,
        },
        Ok(HashKind::Argon2Other) => {
            // The hash's own algorithm, version and parameters are used for the check. A
            // foreign hash is at least as slow as ours (L-02): the dummy check sets the floor.
            let ok = PasswordHash::new(stored)
                .map(|parsed| argon.verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false);
            dummy_verify(&argon, password, dummy);
            Verified {
                ok,
                needs_rehash: ok,
            }
        }
        Ok(HashKind::Bcrypt) => {
            // Truncating verify: passwords longer than 72 bytes were truncated by whoever made
            // the hash, so they must be here too.
            let ok = bcrypt::verify(password.as_bytes(), stored).unwrap_or(false);
            dummy_verify(&argon, password, dummy);
            Verified {
                ok,
                needs_rehash: ok,
            }
        }
        Err(_) => {
            // Unparsable or unsupported stored hash: spend the same time as a real check, then
            // fail (L-02).
            dummy_verify(&argon, password, dummy);
            FAILED
        }
    }
}

fn is_current(hash: &PasswordHash<'_>) -> bool {
    let param = |name: &str| hash.params.get_decimal(name);
    hash.algorithm.as_str() == "argon2id"
        && hash.version == Some(Version::V0x13 as u32)
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
                FAILED
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

    /// Known vectors from other implementations (python bcrypt `$2b$`, node `$2a$`).
    const PY_2B: &str = "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie";
    const NODE_2A: &str = "$2a$04$n4Uy0eSnMfvnESYL.bLwuuj0U/ETSsoTpRT9GVk5bektyVVa5xnIi";
    const VECTOR_PW: &str = "correctbatteryhorsestapler";

    #[tokio::test]
    async fn l06_imported_bcrypt_hashes_verify_and_ask_for_a_rehash() {
        let pw = Passwords::new(2).expect("service");
        let parts = bcrypt::hash_with_result("s3cret-pw", 4).expect("bcrypt");
        let two_y = parts.format_for_version(bcrypt::Version::TwoY);
        assert!(two_y.starts_with("$2y$04$"), "{two_y}");
        for (password, hash) in [
            (VECTOR_PW, PY_2B.to_owned()),
            (VECTOR_PW, NODE_2A.to_owned()),
            ("s3cret-pw", two_y),
        ] {
            assert_eq!(check_importable(&hash), Ok(HashKind::Bcrypt), "{hash}");
            let good = pw
                .verify(password.into(), Some(hash.clone()))
                .await
                .expect("verify");
            assert_eq!(
                good,
                Verified {
                    ok: true,
                    needs_rehash: true
                },
                "{hash}"
            );
            let bad = pw
                .verify(format!("{password}x"), Some(hash.clone()))
                .await
                .expect("verify");
            assert_eq!(bad, FAILED, "{hash}");
        }
    }

    #[tokio::test]
    async fn argon2i_and_old_versions_are_accepted_and_upgraded() {
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(4096, 3, 1, None).expect("params"),
        )
        .hash_password(b"pw-argon2i", &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
        assert_eq!(check_importable(&argon2i), Ok(HashKind::Argon2Other));
        let v10 = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x10,
            Params::new(M_COST, T_COST, P_COST, None).expect("params"),
        )
        .hash_password(b"pw-v10", &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
        assert_eq!(check_importable(&v10), Ok(HashKind::Argon2Other));
        let pw = Passwords::new(1).expect("service");
        for (password, hash) in [("pw-argon2i", argon2i), ("pw-v10", v10)] {
            let v = pw
                .verify(password.into(), Some(hash.clone()))
                .await
                .expect("verify");
            assert_eq!(
                v,
                Verified {
                    ok: true,
                    needs_rehash: true
                },
                "{hash}"
            );
            assert!(
                !pw.verify("nope".into(), Some(hash))
                    .await
                    .expect("verify")
                    .ok
            );
        }
        let fresh = hash_now("pw").expect("hash");
        assert_eq!(check_importable(&fresh), Ok(HashKind::Current));
    }

    #[test]
    fn only_bounded_bcrypt_and_argon2_hashes_are_importable() {
        let refused = [
            "",
            "plaintext",
            "5f4dcc3b5aa765d61d8327deb882cf99",
            // $2x$ is the buggy pre-2011 variant
            "$2x$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
            // truncated
            "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6Qb",
            // cost 31: hours per login
            "$2b$31$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
            // 4 GiB of memory per login
            "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
            "$argon2id$v=19$m=19456,t=100,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
            "$argon2d$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ",
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
        ];
        for h in refused {
            assert!(check_importable(h).is_err(), "{h}");
        }
        assert_eq!(check_importable(PY_2B), Ok(HashKind::Bcrypt));
    }

    #[tokio::test]
    async fn l02_unsupported_stored_hashes_fail_after_the_dummy_work() {
        let pw = Passwords::new(1).expect("service");
        let costly = "$2b$31$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie";
        let started = std::time::Instant::now();
        assert_eq!(
            pw.verify(VECTOR_PW.into(), Some(costly.into()))
                .await
                .expect("verify"),
            FAILED
        );
        // cost 31 would take days: it was refused, only the dummy Argon2id ran
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
