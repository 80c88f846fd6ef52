//! The protocol context every OAuth service function works with: storage, keys, lifetimes and
//! the two hot-path caches (clients, verified access tokens).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use super::claims::{ACCESS_TOKEN_TYP, AccessClaims};
use super::error::OAuthError;
use crate::config::Config;
use crate::ephemeral::{Broadcaster, CacheEvent, Ephemeral, RevocationKind};
use crate::jwt::{self, Alg, Expect};
use crate::keys::{KeyRing, KeySet, schedule};
use crate::store::clients::Client;
use crate::store::{self, Db};

/// Token and code lifetimes, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub access_token: i64,
    pub refresh_token: i64,
    pub id_token: i64,
    pub code: i64,
    pub session: i64,
    /// Opaque sub-application tokens (dialects).
    pub app_token: i64,
    /// Seed 001's md5 `sign` is honoured before this time only (G-02 retirement date).
    pub legacy_md5_until: Option<i64>,
}

impl Lifetimes {
    /// The lifetimes from the configuration.
    pub fn from_config(c: &Config) -> Self {
        Self {
            access_token: c.access_token_ttl,
            refresh_token: c.refresh_token_ttl,
            id_token: c.id_token_ttl,
            code: c.code_ttl,
            session: c.session_ttl,
            app_token: c.app_token_ttl,
            legacy_md5_until: c.legacy_md5_until,
        }
    }

    /// Whether an application flagged `legacy_md5_sign` may still get md5 signatures at `now`.
    pub fn md5_allowed(&self, now: i64) -> bool {
        self.legacy_md5_until.is_some_and(|until| now < until)
    }

    /// How long a grant or session revocation must be remembered: until every token that could
    /// still carry it has expired.
    pub fn revocation_horizon(&self) -> i64 {
        self.access_token.max(self.app_token)
    }

    /// How long a superseded signing key stays published and accepted after its successor
    /// started signing: the longest lifetime of anything it can have signed, plus the
    /// clock-skew margin. Signed are access tokens (an application may only shorten the
    /// server's lifetime, to no less than `MIN_TTL`), ID tokens (applications may lengthen
    /// theirs: `longest_client_id_token` is the longest registered) and the seed 002 `tk`.
    /// Refresh tokens, codes and sub-application tokens are opaque random values: not signed.
    pub fn key_retention(&self, longest_client_id_token: Option<i64>) -> i64 {
        let longest = [
            self.access_token,
            crate::directory::applications::MIN_TTL,
            self.id_token,
            longest_client_id_token.unwrap_or(0),
            crate::dialects::tk::TK_TTL,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        schedule::retention(longest)
    }
}

/// [`Lifetimes::key_retention`] with the longest per-application ID token lifetime of `db`.
pub async fn key_retention(db: &Db, lifetimes: &Lifetimes) -> store::StoreResult<i64> {
    let longest = store::clients::longest_id_token_ttl(db).await?;
    Ok(lifetimes.key_retention(longest))
}

/// How long a client registration is served from memory before it is read again. Registration
/// changes made by another process (the CLI), or announcements lost while Redis was unreachable,
/// are therefore visible within this bound.
const CLIENT_CACHE_SECS: i64 = 5;
/// Upper bound of the verified-token cache; it is simply emptied when full.
const TOKEN_CACHE_MAX: usize = 100_000;

/// Storage, keys, issuer and lifetimes, shared by every request.
pub struct Provider {
    pub issuer: String,
    pub db: Db,
    /// The signing keys; request handlers take a snapshot (`keys.current()`), the key watcher
    /// swaps in a new set when the shared keys directory or the schedule changes.
    pub keys: KeyRing,
    pub ephemeral: Arc<dyn Ephemeral>,
    pub lifetimes: Lifetimes,
    clients: RwLock<HashMap<String, (Arc<Client>, i64)>>,
    verified: RwLock<HashMap<String, Arc<AccessClaims>>>,
    /// Tells the other instances about client registration changes (silent without Redis).
    pub events: Broadcaster,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl Provider {
    /// Assembles the provider.
    pub fn new(
        issuer: String,
        db: Db,
        keys: KeySet,
        ephemeral: Arc<dyn Ephemeral>,
        lifetimes: Lifetimes,
    ) -> Self {
        Self {
            issuer,
            db,
            keys: KeyRing::new(keys),
            ephemeral,
            lifetimes,
            clients: RwLock::default(),
            verified: RwLock::default(),
            events: Broadcaster::default(),
        }
    }

    /// A client registration, from memory when fresh enough.
    pub async fn client(&self, id: &str) -> Result<Option<Arc<Client>>, OAuthError> {
        let now = crate::clock::now();
        if id.len() > 256 {
            return Ok(None);
        }
        if let Some((client, fetched)) = self
            .clients
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            && now - fetched < CLIENT_CACHE_SECS
        {
            return Ok(Some(Arc::clone(client)));
        }
        let Some(client) = store::clients::find(&self.db, id).await? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        self.clients
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), (Arc::clone(&client), now));
        Ok(Some(client))
    }

    /// Drops a cached client registration, so that a change made in this process (secret
    /// rotation, disabling, new redirect URIs) applies to the next request, here and (with
    /// Redis) on the other instances.
    pub fn forget_client(&self, id: &str) {
        self.forget_cached_client(id);
        self.events.announce(CacheEvent::Client(id.to_owned()));
    }

    /// Drops a cached client registration without announcing it (another instance did).
    pub fn forget_cached_client(&self, id: &str) {
        self.clients
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Drops every cached client registration (after events may have been missed).
    pub fn forget_all_clients(&self) {
        self.clients
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Verifies an access token we issued: signature (cached per token string), type `at+jwt`,
    /// issuer, expiry, and that neither the token, its grant nor its session was revoked.
    /// Any failure is `invalid_token`; a store outage is `temporarily_unavailable` (fail closed).
    pub async fn verify_access_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Arc<AccessClaims>, OAuthError> {
        let cached = self
            .verified
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned();
        let claims = match cached {
            Some(claims) => claims,
            None => {
                let expect = Expect {
                    algs: &Alg::ALL,
                    typ: Some(ACCESS_TOKEN_TYP),
                    issuer: &self.issuer,
                    audience: None,
                    allow_expired: false,
                };
                let keys = self.keys.current();
                let claims: AccessClaims = jwt::verify(&keys, token, &expect).map_err(|e| {
                    OAuthError::invalid_token("the access token is invalid").with_detail(e)
                })?;
                let claims = Arc::new(claims);
                let mut cache = self
                    .verified
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                if cache.len() >= TOKEN_CACHE_MAX {
                    cache.clear();
                }
                // Not cached when the key set changed meanwhile: install_keys may have just
                // emptied the cache because the signing key left the set.
                if Arc::ptr_eq(&keys, &self.keys.current()) {
                    cache.insert(token.to_owned(), Arc::clone(&claims));
                }
                claims
            }
        };
        if claims.exp <= now {
            return Err(OAuthError::invalid_token("the access token expired"));
        }
        let mut checks = vec![(RevocationKind::Token, claims.jti.as_str())];
        if let Some(gid) = &claims.gid {
            checks.push((RevocationKind::Grant, gid.as_str()));
        }
        if let Some(sid) = &claims.sid {
            checks.push((RevocationKind::Session, sid.as_str()));
        }
        if self.ephemeral.is_revoked(&checks).await? {
            return Err(OAuthError::invalid_token("the access token was revoked"));
        }
        Ok(claims)
    }

    /// Revokes ids durably (database) and live (ephemeral store), until `until`.
    pub async fn revoke(
        &self,
        kind: RevocationKind,
        value: &str,
        until: i64,
    ) -> Result<(), OAuthError> {
        store::revocations::insert(&self.db, kind.as_str(), value, until).await?;
        self.ephemeral.revoke(kind, value, until).await?;
        Ok(())
    }

    /// Revokes a grant: its refresh tokens stop working and its access tokens are refused.
    pub async fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<(), OAuthError> {
        store::grants::revoke(&self.db, grant_id, now).await?;
        self.revoke(
            RevocationKind::Grant,
            grant_id,
            now + self.lifetimes.revocation_horizon(),
        )
        .await
    }

    /// Ends a browser session everywhere: its access tokens are refused and its grants that are
    /// not `offline_access` are revoked.
    pub async fn end_session(&self, sid: &str, now: i64) -> Result<(), OAuthError> {
        let until = now + self.lifetimes.revocation_horizon();
        self.revoke(RevocationKind::Session, sid, until).await?;
        for grant_id in store::grants::revoke_session_grants(&self.db, sid, now).await? {
            self.revoke(RevocationKind::Grant, &grant_id, until).await?;
        }
        Ok(())
    }

    /// Revokes everything a user holds: every grant (refresh tokens stop working, access tokens
    /// are refused) and, through `users.not_before`, every browser session signed in before now.
    /// Returns how many grants were revoked.
    pub async fn revoke_user(&self, user_id: &str, now: i64) -> Result<usize, OAuthError> {
        let grants = store::grants::revoke_user_grants(&self.db, user_id, now).await?;
        for (grant_id, client_id, expires_at) in &grants {
            // Access tokens live at most their lifetime past the grant's last refresh.
            let ttl = self
                .client(client_id)
                .await?
                .and_then(|c| c.ttl.access_token)
                .unwrap_or(self.lifetimes.access_token)
                .max(self.lifetimes.revocation_horizon());
            if expires_at + ttl > now {
                self.revoke(RevocationKind::Grant, grant_id, now + ttl)
                    .await?;
            }
        }
        store::users::set_not_before(&self.db, user_id, now).await?;
        Ok(grants.len())
    }

    /// Copies durable revocations into the ephemeral store (at start).
    pub async fn warm_revocations(&self, now: i64) -> anyhow::Result<usize> {
        let rows = store::revocations::list_active(&self.db, now).await?;
        let n = rows.len();
        for (kind, value, until) in rows {
            if let Some(kind) = RevocationKind::parse(&kind) {
                self.ephemeral.revoke(kind, &value, until).await?;
            }
        }
        Ok(n)
    }

    /// Installs a new key set. When a key left the set (retired, or its file deleted, e.g. after
    /// a compromise), tokens it signed must be refused at once: the verified-token cache, which
    /// would otherwise accept them until they expire, is emptied.
    pub fn install_keys(&self, keys: KeySet) {
        // Replaced before the cache is emptied: see verify_access_token.
        let old = self.keys.replace(keys);
        let current = self.keys.current();
        if old.kids().any(|kid| !current.contains(kid)) {
            self.verified
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    /// Forgets cached verifications that have expired.
    pub fn purge_caches(&self, now: i64) {
        self.verified
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, c| c.exp > now);
        self.clients
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (_, fetched)| now - *fetched < CLIENT_CACHE_SECS);
    }
}

impl OAuthError {
    /// Adds a log-only detail.
    pub fn with_detail(mut self, detail: impl std::fmt::Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }
}
