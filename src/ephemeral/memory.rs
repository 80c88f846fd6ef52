//! In-process implementation of [`Ephemeral`] for the single-instance embedded default.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};

use async_trait::async_trait;

use super::{CodeRecord, CodeTake, Count, Ephemeral, EphemeralResult, RevocationKind};
use crate::clock;

/// How long a consumed code is remembered, so a late replay still revokes its grant.
const CODE_TOMBSTONE_SECS: i64 = 600;

/// Shards of the session map.
const SESSION_SHARDS: usize = 16;

/// Session id → (body, expires at).
type SessionShard = Mutex<HashMap<String, (Vec<u8>, i64)>>;

/// Bound of live counters (login throttling keys an attacker can multiply). Beyond it a new
/// counter reads as exhausted: refusing logins beats running out of memory.
const MAX_COUNTERS: usize = 1_000_000;

struct CodeEntry {
    record: CodeRecord,
    used: bool,
    keep_until: i64,
}

/// Maps guarded by std locks; no lock is held across an await.
#[derive(Default)]
pub struct MemoryEphemeral {
    /// Sharded: every anonymous visit to the login page adds a session, and one big map would
    /// stall every request behind its lock while it grows (rehashing all entries).
    sessions: [SessionShard; SESSION_SHARDS],
    codes: Mutex<HashMap<String, CodeEntry>>,
    grants: RwLock<HashMap<String, i64>>,
    sids: RwLock<HashMap<String, i64>>,
    jtis: RwLock<HashMap<String, i64>>,
    /// Counter name → (value, expires at).
    counters: Mutex<HashMap<String, (u64, i64)>>,
}

impl MemoryEphemeral {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn revocations(&self, kind: RevocationKind) -> &RwLock<HashMap<String, i64>> {
        match kind {
            RevocationKind::Grant => &self.grants,
            RevocationKind::Session => &self.sids,
            RevocationKind::Token => &self.jtis,
        }
    }

    /// The shard holding session `id` (ids are random: any byte mix spreads them).
    fn shard(&self, id: &str) -> &SessionShard {
        let mix = id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        &self.sessions[mix % SESSION_SHARDS]
    }

    /// Drops everything expired; run periodically.
    pub fn purge(&self, now: i64) {
        for shard in &self.sessions {
            lock(shard).retain(|_, (_, exp)| *exp > now);
        }
        lock(&self.codes).retain(|_, e| e.keep_until > now);
        lock(&self.counters).retain(|_, (_, exp)| *exp > now);
        for kind in [
            RevocationKind::Grant,
            RevocationKind::Session,
            RevocationKind::Token,
        ] {
            write(self.revocations(kind)).retain(|_, until| *until > now);
        }
    }
}

// A poisoned lock only means another thread panicked mid-update of a plain map; the map is
// still usable, so recover it instead of propagating the panic to every request.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}
fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl Ephemeral for MemoryEphemeral {
    async fn session_load(&self, id: &str) -> EphemeralResult<Option<Vec<u8>>> {
        let now = clock::now();
        Ok(lock(self.shard(id))
            .get(id)
            .filter(|(_, exp)| *exp > now)
            .map(|(body, _)| body.clone()))
    }

    async fn session_store(
        &self,
        id: &str,
        body: Vec<u8>,
        expires_at: i64,
        only_if_absent: bool,
    ) -> EphemeralResult<bool> {
        let mut sessions = lock(self.shard(id));
        if only_if_absent && sessions.contains_key(id) {
            return Ok(false);
        }
        sessions.insert(id.to_owned(), (body, expires_at));
        Ok(true)
    }

    async fn session_delete(&self, id: &str) -> EphemeralResult<()> {
        lock(self.shard(id)).remove(id);
        Ok(())
    }

    async fn code_insert(&self, code_hash: &str, record: CodeRecord) -> EphemeralResult<()> {
        let keep_until = record.expires_at + CODE_TOMBSTONE_SECS;
        lock(&self.codes).insert(
            code_hash.to_owned(),
            CodeEntry {
                record,
                used: false,
                keep_until,
            },
        );
        Ok(())
    }

    async fn code_take(&self, code_hash: &str) -> EphemeralResult<CodeTake> {
        let mut codes = lock(&self.codes);
        Ok(match codes.get_mut(code_hash) {
            None => CodeTake::Unknown,
            Some(entry) if entry.used => CodeTake::Replayed {
                grant_id: entry.record.grant_id.clone(),
            },
            Some(entry) => {
                entry.used = true;
                CodeTake::Fresh(entry.record.clone())
            }
        })
    }

    async fn revoke(&self, kind: RevocationKind, value: &str, until: i64) -> EphemeralResult<()> {
        let mut map = write(self.revocations(kind));
        let entry = map.entry(value.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
        Ok(())
    }

    async fn is_revoked(&self, checks: &[(RevocationKind, &str)]) -> EphemeralResult<bool> {
        Ok(checks
            .iter()
            .any(|(kind, value)| read(self.revocations(*kind)).contains_key(*value)))
    }

    async fn counters_hit(&self, keys: &[&str], window_secs: i64) -> EphemeralResult<Vec<Count>> {
        let now = clock::now();
        let mut counters = lock(&self.counters);
        if counters.len() >= MAX_COUNTERS {
            counters.retain(|_, (_, exp)| *exp > now);
        }
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let live = counters.get(*key).is_some_and(|(_, exp)| *exp > now);
            if !live && counters.len() >= MAX_COUNTERS {
                out.push(Count {
                    value: u64::MAX,
                    ttl: window_secs,
                });
                continue;
            }
            let entry = counters
                .entry((*key).to_owned())
                .or_insert((0, now + window_secs));
            if !live {
                *entry = (0, now + window_secs);
            }
            entry.0 = entry.0.saturating_add(1);
            out.push(Count {
                value: entry.0,
                ttl: entry.1 - now,
            });
        }
        Ok(out)
    }

    async fn counters_release(&self, keys: &[&str]) -> EphemeralResult<()> {
        let mut counters = lock(&self.counters);
        for key in keys {
            if let Some(entry) = counters.get_mut(*key) {
                entry.0 = entry.0.saturating_sub(1);
            }
        }
        Ok(())
    }

    async fn counters_clear(&self, keys: &[&str]) -> EphemeralResult<()> {
        let mut counters = lock(&self.counters);
        for key in keys {
            counters.remove(*key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(grant: &str) -> CodeRecord {
        CodeRecord {
            grant_id: grant.into(),
            client_id: "c".into(),
            user_id: "u".into(),
            redirect_uri: "https://app.example/cb".into(),
            scope: "openid".into(),
            nonce: None,
            code_challenge: None,
            auth_time: 0,
            sid: "s".into(),
            expires_at: clock::now() + 60,
        }
    }

    #[tokio::test]
    async fn a_code_is_fresh_once_then_replayed() {
        let store = MemoryEphemeral::new();
        store.code_insert("h", record("g1")).await.ok();
        assert!(matches!(store.code_take("h").await, Ok(CodeTake::Fresh(_))));
        assert!(
            matches!(store.code_take("h").await, Ok(CodeTake::Replayed { grant_id }) if grant_id == "g1")
        );
        assert!(matches!(
            store.code_take("other").await,
            Ok(CodeTake::Unknown)
        ));
    }

    #[tokio::test]
    async fn counters_count_within_their_window_then_restart() {
        /// Hits a and b; their values.
        async fn hit(store: &MemoryEphemeral) -> Vec<u64> {
            let counts = store.counters_hit(&["a", "b"], 60).await;
            counts.unwrap_or_default().iter().map(|c| c.value).collect()
        }
        let store = MemoryEphemeral::new();
        assert_eq!(hit(&store).await, [1, 1]);
        assert_eq!(hit(&store).await, [2, 2]);
        store.counters_release(&["a", "a", "a"]).await.ok();
        assert_eq!(hit(&store).await, [1, 3], "never below zero");
        store.counters_clear(&["b"]).await.ok();
        assert_eq!(hit(&store).await, [2, 1]);
        let ttls = store.counters_hit(&["a"], 60).await.unwrap_or_default();
        assert!((59..=60).contains(&ttls[0].ttl), "{ttls:?}");
        store.purge(clock::now() + 61);
        assert_eq!(hit(&store).await, [1, 1], "a new window after expiry");
    }

    #[tokio::test]
    async fn revocations_expire_on_purge() {
        let store = MemoryEphemeral::new();
        store
            .revoke(RevocationKind::Session, "sid1", 100)
            .await
            .ok();
        assert!(
            store
                .is_revoked(&[(RevocationKind::Session, "sid1")])
                .await
                .unwrap_or(false)
        );
        assert!(
            !store
                .is_revoked(&[(RevocationKind::Grant, "sid1")])
                .await
                .unwrap_or(true)
        );
        store.purge(101);
        assert!(
            !store
                .is_revoked(&[(RevocationKind::Session, "sid1")])
                .await
                .unwrap_or(true)
        );
    }
}
