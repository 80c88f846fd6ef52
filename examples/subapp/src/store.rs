//! An in-memory session store (sessions are lost on restart; use a shared store such as Redis
//! or SQL when running more than one instance).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tower_sessions::SessionStore;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;

/// Upper bound on stored sessions; expired ones are swept when it is reached.
const MAX_SESSIONS: usize = 100_000;

/// Sessions in a map, behind a mutex (held only for map operations, never across an await).
#[derive(Clone, Debug, Default)]
pub struct MemoryStore(Arc<Mutex<HashMap<Id, Record>>>);

impl MemoryStore {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Id, Record>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut map = self.map();
        if map.len() >= MAX_SESSIONS {
            let now = OffsetDateTime::now_utc();
            map.retain(|_, r| r.expiry_date > now);
        }
        if map.len() >= MAX_SESSIONS {
            return Err(session_store::Error::Backend("too many sessions".into()));
        }
        while map.contains_key(&record.id) {
            // A colliding id must never hand over someone else's session.
            record.id = Id::default();
        }
        map.insert(record.id, record.clone());
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.map().insert(record.id, record.clone());
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = OffsetDateTime::now_utc();
        Ok(self.map().get(id).filter(|r| r.expiry_date > now).cloned())
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.map().remove(id);
        Ok(())
    }
}
