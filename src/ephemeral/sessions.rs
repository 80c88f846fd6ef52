//! tower-sessions `SessionStore` over [`Ephemeral`], so browser sessions live wherever codes and
//! revocations live (in process, or Redis when scaled out).

use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::Ephemeral;

/// Whether a session record is anonymous (nobody signed in).
type IsAnonymous = fn(&Record) -> bool;

/// Adapter handed to `SessionManagerLayer`.
#[derive(Clone)]
pub struct SessionBackend {
    inner: Arc<dyn Ephemeral>,
    /// Anonymous sessions are kept at most this many seconds past their last save.
    anonymous: Option<(i64, IsAnonymous)>,
}

impl SessionBackend {
    /// Wraps the shared ephemeral store.
    pub fn new(inner: Arc<dyn Ephemeral>) -> Self {
        Self {
            inner,
            anonymous: None,
        }
    }

    /// Caps the life of sessions `is_anonymous` says nobody is signed in to at `seconds`: a
    /// flood of visits to the login page then expires in minutes, not in a session lifetime.
    pub fn anonymous_life(mut self, seconds: i64, is_anonymous: IsAnonymous) -> Self {
        self.anonymous = Some((seconds, is_anonymous));
        self
    }

    async fn put(&self, record: &Record, only_if_absent: bool) -> session_store::Result<bool> {
        let body =
            serde_json::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let mut expires_at = record.expiry_date.unix_timestamp();
        if let Some((seconds, is_anonymous)) = self.anonymous
            && is_anonymous(record)
        {
            expires_at = expires_at.min(crate::clock::now() + seconds);
        }
        self.inner
            .session_store(&record.id.to_string(), body, expires_at, only_if_absent)
            .await
            .map_err(|e| session_store::Error::Backend(e.to_string()))
    }
}

impl std::fmt::Debug for SessionBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionBackend")
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Never overwrite an existing session on an id collision (S-02).
        while !self.put(record, true).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.put(record, false).await.map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let body = self
            .inner
            .session_load(&id.to_string())
            .await
            .map_err(|e| session_store::Error::Backend(e.to_string()))?;
        body.map(|b| serde_json::from_slice(&b))
            .transpose()
            .map_err(|e| session_store::Error::Decode(e.to_string()))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.inner
            .session_delete(&id.to_string())
            .await
            .map_err(|e| session_store::Error::Backend(e.to_string()))
    }
}
