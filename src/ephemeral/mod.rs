//! Short-lived shared state: browser sessions, authorization codes, live revocations and the
//! counters of login throttling.
//! One trait, so a Redis implementation can replace the in-process one without touching handlers.

mod events;
mod memory;
mod redis;
mod sessions;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use events::{Broadcaster, CacheEvent, CacheEvents, Invalidation};
pub use memory::MemoryEphemeral;
pub use redis::{RedisEphemeral, target as redis_target};
pub use sessions::SessionBackend;

/// The ephemeral store could not answer (e.g. Redis down); callers fail closed with 503.
#[derive(Debug, thiserror::Error)]
#[error("ephemeral store unavailable: {0}")]
pub struct EphemeralError(pub String);

/// Result alias of the ephemeral layer.
pub type EphemeralResult<T> = Result<T, EphemeralError>;

/// What an authorization code stands for; stored under the SHA-256 of the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub sid: String,
    pub expires_at: i64,
}

/// Outcome of redeeming a code.
#[derive(Debug)]
pub enum CodeTake {
    /// First use: the record, now consumed.
    Fresh(CodeRecord),
    /// Used before: the caller must refuse it and revoke the grant (RFC 6749 §4.1.2).
    Replayed { grant_id: String },
    /// Never issued, or long gone.
    Unknown,
}

/// What a revocation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationKind {
    /// A grant: every access and refresh token issued from one authorization.
    Grant,
    /// A browser session (`sid` claim): ended by logout.
    Session,
    /// One access token (`jti` claim).
    Token,
}

impl RevocationKind {
    /// Name used in the durable `revocations` table.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Grant => "grant",
            RevocationKind::Session => "sid",
            RevocationKind::Token => "jti",
        }
    }

    /// Inverse of [`RevocationKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "grant" => Some(RevocationKind::Grant),
            "sid" => Some(RevocationKind::Session),
            "jti" => Some(RevocationKind::Token),
            _ => None,
        }
    }
}

/// A counter's value after [`Ephemeral::counters_hit`], and how long its window still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub value: u64,
    /// Seconds until the counter disappears (its window ends).
    pub ttl: i64,
}

/// Sessions, codes, revocations and counters. Every operation is atomic on its own.
#[async_trait]
pub trait Ephemeral: Send + Sync + 'static {
    /// Loads a session body.
    async fn session_load(&self, id: &str) -> EphemeralResult<Option<Vec<u8>>>;
    /// Stores a session body; with `only_if_absent`, fails (returns false) when the id exists.
    async fn session_store(
        &self,
        id: &str,
        body: Vec<u8>,
        expires_at: i64,
        only_if_absent: bool,
    ) -> EphemeralResult<bool>;
    /// Deletes a session.
    async fn session_delete(&self, id: &str) -> EphemeralResult<()>;
    /// Stores a fresh authorization code.
    async fn code_insert(&self, code_hash: &str, record: CodeRecord) -> EphemeralResult<()>;
    /// Consumes a code: exactly one caller ever gets `Fresh` for a given code.
    async fn code_take(&self, code_hash: &str) -> EphemeralResult<CodeTake>;
    /// Records a revocation until `until` (unix seconds).
    async fn revoke(&self, kind: RevocationKind, value: &str, until: i64) -> EphemeralResult<()>;
    /// Whether any of the given ids is revoked.
    async fn is_revoked(&self, checks: &[(RevocationKind, &str)]) -> EphemeralResult<bool>;
    /// Adds one to each counter, creating a missing one with `window_secs` to live (a fixed
    /// window: later hits do not extend it), and returns the new values, all in one atomic step.
    async fn counters_hit(&self, keys: &[&str], window_secs: i64) -> EphemeralResult<Vec<Count>>;
    /// Takes one back from each counter still alive, never going below zero.
    async fn counters_release(&self, keys: &[&str]) -> EphemeralResult<()>;
    /// Forgets the counters.
    async fn counters_clear(&self, keys: &[&str]) -> EphemeralResult<()>;
}
